// IdxDataset: two IDX files read (and validated) by read_idx, checked against each other.
#include "duet/data/idx_dataset.h"

#include <cmath>

#include "duet/data/idx.h"

namespace duet::data {
namespace {

TensorDataset read_pair(const std::string& images_path,
                                    const std::string& labels_path, const IdxDatasetOptions& o) {
  const char* fn = o.caller ? o.caller : "IdxDataset";
  DUET_CHECK(std::isfinite(o.mean), fn, ": mean = ", o.mean, " (expected a finite value)");
  DUET_CHECK(std::isfinite(o.std) && o.std > 0, fn, ": std = ", o.std, " (expected > 0)");
  // pixel / 255, then (x - mean) / std, in one pass: raw * scale + shift.
  const double scale = 1.0 / (255.0 * o.std), shift = -o.mean / o.std;
  Tensor images =
      read_idx(images_path, {.dtype = float32, .scale = scale, .shift = shift, .expected_rank = 3});
  Tensor labels = read_idx(labels_path, {.dtype = int64, .expected_rank = 1});
  DUET_CHECK(images.size(0) == labels.size(0), fn, ": '", images_path, "' holds ", images.size(0),
             " images but '", labels_path, "' holds ", labels.size(0),
             " labels (expected the same count)");
  return {images.reshape({images.size(0), 1, images.size(1), images.size(2)}), labels};
}

}  // namespace

IdxDataset::IdxDataset(const std::string& images_path, const std::string& labels_path,
                       const IdxDatasetOptions& options)
    : TensorDataset(read_pair(images_path, labels_path, options)) {}

}  // namespace duet::data

// IdxDataset: images and labels from two IDX files (the MNIST format), validated and held in
// memory (60,000 28x28 images are 188 MB as float32), as a TensorDataset.
//
//   duet::data::IdxDataset ds("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
//                             {.mean = 0.2860, .std = 0.3530});
//   ds.size();      // 60000
//   ds.images();    // (60000, 1, 28, 28) float32: (pixel / 255 - mean) / std
//   ds.labels();    // (60000) int64
//   ds.get(0).x;    // (1, 28, 28)
//
// The files are read with read_idx (duet/data/idx.h: every hostile-file check): images of
// rank 3 (N, rows, cols), which gain a channel axis, and labels of rank 1; the counts must
// agree.
#pragma once

#include <string>

#include "duet/data/dataset.h"

namespace duet::data {

struct IdxDatasetOptions {
  double mean = 0.0;  // pixels become (raw / 255 - mean) / std
  double std = 1.0;   // > 0
  const char* caller = "IdxDataset";  // the function errors name
};

class IdxDataset : public TensorDataset {
 public:
  IdxDataset(const std::string& images_path, const std::string& labels_path,
             const IdxDatasetOptions& options = {});
  const Tensor& images() const { return inputs(); }  // (N, 1, rows, cols) float32
  const Tensor& labels() const { return targets(); }  // (N) int64
};

}  // namespace duet::data

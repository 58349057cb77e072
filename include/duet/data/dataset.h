// Datasets: a size and an example per index. DataLoader batches any Dataset.
//
//   duet::data::TensorDataset ds(images, labels);   // images (N, 1, 28, 28), labels (N)
//   ds.size();                                      // N
//   auto ex = ds.get(3);                            // ex.x: (1, 28, 28), ex.y: () int64
//
//   // A dataset of your own: examples made on demand (files, generated data, ...).
//   struct Squares : duet::data::Dataset {
//     int64_t size() const override { return 100; }
//     duet::data::Example get(int64_t i) const override {
//       return {duet::Tensor::full({1}, double(i)), duet::Tensor::full({1}, double(i * i))};
//     }
//   };
//
// get() may be called from several DataLoader worker threads at once: it must be safe to
// call concurrently (a const method that reads shared data is).
#pragma once

#include <cstdint>
#include <utility>

#include "duet/tensor.h"

namespace duet::data {

// One sample: the input x and the target y (CPU tensors; y may be a 0-dim label).
struct Example {
  Tensor x{};
  Tensor y{};
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // The example at `index` in [0, size()); throws duet::Error otherwise.
  virtual Example get(int64_t index) const = 0;
  // A dataset whose examples are rows of two in-memory tensors returns them, and DataLoader
  // then gathers each batch with one copy per row (no per-example tensors). Default: none.
  virtual const std::pair<Tensor, Tensor>* rows() const { return nullptr; }
};

// Row i of `inputs` and row i of `targets` (they share their first dimension N).
class TensorDataset : public Dataset {
 public:
  // Both defined CPU tensors of rank >= 1 with the same size(0); stored contiguous.
  TensorDataset(const Tensor& inputs, const Tensor& targets);
  int64_t size() const override { return rows_.first.size(0); }
  Example get(int64_t index) const override;  // fresh copies of the two rows
  const std::pair<Tensor, Tensor>* rows() const override { return &rows_; }
  const Tensor& inputs() const { return rows_.first; }
  const Tensor& targets() const { return rows_.second; }

 private:
  std::pair<Tensor, Tensor> rows_;
};

}  // namespace duet::data

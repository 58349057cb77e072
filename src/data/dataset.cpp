// TensorDataset: rows of two in-memory tensors.
#include "duet/data/dataset.h"

#include <cstring>

#include "duet/autograd.h"

namespace duet::data {
namespace {

Tensor prepare(const Tensor& t, const char* what) {
  DUET_CHECK(t.defined(), "TensorDataset: ", what, " is an undefined tensor");
  DUET_CHECK(t.dim() >= 1, "TensorDataset: ", what, " has shape ", shape_str(t.shape()),
             " (expected rank >= 1 with samples along axis 0)");
  DUET_CHECK(!t.is_symbolic() && t.device() == cpu, "TensorDataset: ", what,
             " must be a CPU tensor holding data");
  NoGradGuard no_grad;
  Tensor c = t.detach();
  return c.is_contiguous() ? c : c.contiguous();
}

// A fresh copy of row i of a contiguous (N, ...) tensor: shape (...).
Tensor row(const Tensor& t, int64_t i) {
  Shape shape(t.shape().begin() + 1, t.shape().end());
  Tensor out = Tensor::empty(shape, t.dtype());
  const size_t bytes = static_cast<size_t>(out.numel()) * dtype_size(t.dtype());
  if (bytes) std::memcpy(out.data_ptr(), static_cast<const char*>(t.data_ptr()) + i * bytes, bytes);
  return out;
}

}  // namespace

TensorDataset::TensorDataset(const Tensor& inputs, const Tensor& targets)
    : rows_(prepare(inputs, "inputs"), prepare(targets, "targets")) {
  DUET_CHECK(rows_.second.size(0) == rows_.first.size(0), "TensorDataset: inputs have shape ",
             shape_str(rows_.first.shape()), " but targets have shape ",
             shape_str(rows_.second.shape()),
             " (expected the same number of samples along axis 0)");
}

Example TensorDataset::get(int64_t index) const {
  DUET_CHECK(index >= 0 && index < size(), "TensorDataset::get: index ", index,
             " out of range (the dataset has ", size(), " examples)");
  return {row(rows_.first, index), row(rows_.second, index)};
}

}  // namespace duet::data

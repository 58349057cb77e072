// duet::Tensor: an n-dimensional array handle (shared, cheap to copy) with autograd.
//
//   auto x = duet::Tensor::randn({8, 3, 32, 32}, gen);   // x: (8, 3, 32, 32) float32
//   auto w = duet::Tensor::zeros({16, 3, 3, 3}).requires_grad_();
//   auto y = duet::conv2d(x, w, {}, {.padding = {1, 1}});
//   duet::sum(y).backward();
//   w.grad();                                             // (16, 3, 3, 3)
//
// Copying a Tensor copies the handle, not the data (like torch.Tensor). Views (reshape,
// permute, slice, expand, squeeze, unsqueeze) share storage with their base when they can.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "duet/dtype.h"
#include "duet/error.h"
#include "duet/random.h"
#include "duet/shape.h"
#include "duet/source_location.h"

namespace duet {

namespace detail {
struct TensorImpl;
}

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<detail::TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }

  // ---- metadata ----
  const Shape& shape() const;
  int64_t dim() const;
  int64_t size(int64_t axis) const;  // negative axes count from the end
  int64_t numel() const;
  const Shape& strides() const;    // in elements
  int64_t storage_offset() const;  // in elements
  DType dtype() const;
  Device device() const;
  bool is_contiguous() const;
  bool is_symbolic() const;  // true for graph-mode tensors that hold no data

  // ---- data access ----
  // First element of this view: a host pointer for CPU tensors, a device pointer for CUDA
  // ones. item() and to_vector() work on any device (CUDA values are copied to the host).
  void* data_ptr() const;
  template <class T>
  T* data() const {
    check_dtype(dtype_of<T>(), "data");
    return static_cast<T*>(data_ptr());
  }
  // The single value of a one-element tensor, converted to T (double by default:
  // `loss.item()`). While a graph is traced, reading a concrete tensor bakes its value into
  // the graph: a warning names the caller's line (loc), and writing the tensor later makes
  // jit retrace (a compiled Executable refuses to run; docs/graph_mode.md).
  template <class T = double>
  T item(std::source_location loc = std::source_location::current()) const;
  // All elements in row-major order, converted to T.
  template <class T>
  std::vector<T> to_vector(std::source_location loc = std::source_location::current()) const;

  // ---- factories ----
  static Tensor empty(const Shape& shape, DType dtype = float32, Device device = cpu);
  static Tensor zeros(const Shape& shape, DType dtype = float32, Device device = cpu);
  static Tensor ones(const Shape& shape, DType dtype = float32, Device device = cpu);
  static Tensor full(const Shape& shape, double value, DType dtype = float32, Device device = cpu);
  static Tensor scalar(double value, DType dtype = float32);
  static Tensor arange(int64_t n, DType dtype = int64);
  static Tensor randn(const Shape& shape, Generator& gen, DType dtype = float32);
  static Tensor rand(const Shape& shape, Generator& gen, DType dtype = float32);  // U[0, 1)
  static Tensor uniform(const Shape& shape, double lo, double hi, Generator& gen,
                        DType dtype = float32);
  // Values must number numel(shape); they are converted to `dtype`.
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape,
                            DType dtype = dtype_of<T>());
  static Tensor from_vector(std::initializer_list<double> values, const Shape& shape,
                            DType dtype = float32) {
    return from_vector(std::vector<double>(values), shape, dtype);
  }
  // Zero copy over memory the caller owns (CPU): the tensor reads and writes `data` in place.
  // `deleter(data)` runs once, when the last tensor or view on this memory dies (none: the
  // caller keeps the memory alive longer than every tensor on it). `strides` (in elements,
  // >= 0) default to contiguous. Checked: the shape and the bytes the strides reach must fit
  // in int64, and a null `data` with a nonzero size is an error; on error the deleter is not
  // called (the memory stays the caller's).
  //   float* buf = new float[6]{1, 2, 3, 4, 5, 6};
  //   auto t = Tensor::from_blob(buf, {2, 3}, float32,
  //                              [](void* p) { delete[] static_cast<float*>(p); });
  static Tensor from_blob(void* data, const Shape& shape, DType dtype = float32,
                          std::function<void(void*)> deleter = {}, const Shape& strides = {});

  // ---- copies and views (differentiable; these call the ops in duet/ops/shape.h) ----
  // Each takes the caller's source location (graph nodes show where model code made them).
  Tensor contiguous(std::source_location loc = std::source_location::current()) const;
  Tensor clone(std::source_location loc = std::source_location::current()) const;
  Tensor to(DType dtype, std::source_location loc = std::source_location::current()) const;
  // A copy on `device` (this tensor itself when already there); differentiable: the
  // gradient flows back to this device. duet::cpu, duet::cuda, duet::cuda_device(i).
  Tensor to(Device device, std::source_location loc = std::source_location::current()) const;
  Tensor reshape(const Shape& shape,  // one -1 allowed
                 std::source_location loc = std::source_location::current()) const;
  Tensor view(const Shape& shape,
              std::source_location loc = std::source_location::current()) const {
    return reshape(shape, loc);
  }
  Tensor permute(const std::vector<int64_t>& axes,
                 std::source_location loc = std::source_location::current()) const;
  Tensor transpose(int64_t a, int64_t b,
                   std::source_location loc = std::source_location::current()) const;
  Tensor slice(int64_t axis, int64_t start, int64_t end, int64_t step = 1,
               std::source_location loc = std::source_location::current()) const;
  Tensor expand(const Shape& shape,
                std::source_location loc = std::source_location::current()) const;
  Tensor squeeze(int64_t axis, std::source_location loc = std::source_location::current()) const;
  Tensor unsqueeze(int64_t axis, std::source_location loc = std::source_location::current()) const;
  Tensor flatten(int64_t start_axis = 0, int64_t end_axis = -1,
                 std::source_location loc = std::source_location::current()) const;

  // ---- in-place, outside autograd (initialisation, optimizers, buffers) ----
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  // Copies src (broadcast to this shape, converted to this dtype, from any device) into this
  // tensor's storage.
  Tensor& copy_(const Tensor& src);

  // ---- autograd ----
  bool requires_grad() const;
  Tensor& requires_grad_(bool value = true);
  Tensor grad() const;  // undefined until a backward reaches this leaf
  void set_grad(const Tensor& g) const;
  void zero_grad() const;  // drops the gradient (like set_to_none=True)
  bool is_leaf() const;    // no grad_fn: created by the user, not by an op
  Tensor detach() const;   // shares storage, no history
  // Backpropagates from this tensor. `gradient` may be omitted only for one-element tensors.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;

  // ---- identity and printing ----
  std::string str() const;
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  detail::TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<detail::TensorImpl>& impl_ptr() const { return impl_; }

 private:
  void check_dtype(DType expected, const char* what) const;
  std::shared_ptr<detail::TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace duet

// TensorImpl and Storage: what a Tensor handle points at.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "duet/tensor.h"

namespace duet::detail {

struct TapeNode;
struct GradReadyHooks;  // eager/tape.h

// A block of device memory from allocator_for(device). Freed when the last view goes away.
struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  Device device;
  uint64_t version = 0;  // bumped by in-place writes; saved tensors check it
  bool owned = true;     // false: memory belongs to someone else (a graph's arena)
  std::function<void(void*)> deleter;  // Tensor::from_blob: called on the memory at the end
  Storage(size_t nbytes, Device device);
  // Wraps memory owned elsewhere; never freed through the allocator.
  Storage(void* external, size_t nbytes, Device device)
      : data(external), nbytes(nbytes), device(device), owned(false) {}
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

// Opaque graph-mode payload; the graph layer defines what it holds.
struct SymbolicValue {
  virtual ~SymbolicValue() = default;
  virtual std::string describe() const = 0;  // "node %3 (relu, created at net.cpp:12) of graph #1"
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;  // null for symbolic tensors
  Shape shape;
  Shape strides;       // elements
  int64_t offset = 0;  // elements
  DType dtype = DType::float32;
  Device device;

  // autograd
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<TapeNode> grad_fn;  // null for leaves
  int output_nr = 0;                  // which output of grad_fn this is
  // add_grad_ready_hook's hooks on this leaf (duet/autograd.h); null when none
  std::shared_ptr<GradReadyHooks> grad_ready_hooks;

  // graph mode
  std::shared_ptr<SymbolicValue> symbolic;

  char* bytes() const {
    return static_cast<char*>(storage->data) + offset * static_cast<int64_t>(dtype_size(dtype));
  }
};

// A fresh contiguous tensor (uninitialised memory). Throws duet::Error naming `what` for an
// invalid shape (duet/shape.h: checked_nbytes) or when the allocator cannot supply the bytes.
std::shared_ptr<TensorImpl> make_impl(const Shape& shape, DType dtype, Device device,
                                      const char* what = "tensor");
// A view of `base`'s storage with new geometry; dtype and device are kept. Throws duet::Error
// naming `what` unless every element the view reaches lies inside base's storage
// (check_view_bounds; a storage without memory, as in the graph planner's layouts, has no
// bound but the arithmetic is still checked).
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset,
                 const char* what = "view");
bool is_contiguous(const Shape& shape, const Shape& strides);

}  // namespace duet::detail

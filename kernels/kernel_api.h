// The device-neutral kernel interface: what an op hands a kernel and what a kernel may ask
// of the op layer. kernels/ (CPU and CUDA) and src/ops/ both include this header; kernels/
// never includes src/ops/ internals.
//
//   void relu(const KernelArgs& k) {     // kernels/cpu/activation_kernels.cpp
//     const Tensor& x = k.inputs[0];     // contiguous unless the op sets strided_inputs
//     Tensor& y = k.outputs[0];          // preallocated, contiguous, shape from infer
//     ...
//   }
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "duet/attrs.h"
#include "duet/tensor.h"

namespace duet {

// How a value's elements are laid out, beyond its shape (graph values only; eager tensors are
// always plain). nchw16c: the blocked channel layout of the CPU inference kernels
// (kernels/nchwc_kernels.h): a logical (N, C, H, W) activation stored as the plain tensor
// (N, ceil(C / 16), H, W, 16), channel c at [n][c / 16][h][w][c % 16], the channels past C
// finite padding that no kernel lets reach a real channel. Set by the graph's layout pass
// (pass "nchwc_layout"), shown in graph dumps; the shape is the stored (5-D) one.
enum class Layout : uint8_t { plain, nchw16c };
inline const char* layout_name(Layout l) {
  return l == Layout::nchw16c ? "nChw16c" : "plain";
}

// A tensor's shape, dtype and device: what shape rules and workspace queries see.
struct TensorMeta {
  Shape shape;
  DType dtype = DType::float32;
  Device device;
  Layout layout = Layout::plain;
  bool operator==(const TensorMeta&) const = default;
};

struct KernelArgs {
  const Attrs& attrs;
  std::span<const Tensor> inputs;  // contiguous unless the op sets strided_inputs
  std::span<Tensor> outputs;       // preallocated, contiguous, shapes from infer
  void* workspace = nullptr;       // the op's workspace query's bytes, 64-byte aligned, or null
  size_t workspace_size = 0;
  // Random ops on a GPU in graph mode: the 64-bit seed lives at this device address (the
  // executor writes it before each run, so a captured CUDA Graph draws fresh numbers on
  // every replay); null: the seed is attrs "seed".
  const uint64_t* device_seed = nullptr;
};
using KernelFn = void (*)(const KernelArgs&);

// Scratch memory a kernel needs beyond its outputs (im2col buffers, a cuDNN algorithm's
// workspace). One query per device (OpDef::workspace); eager mode takes the bytes from the
// device allocator per call, graph mode plans them into the arena once.
using WorkspaceFn = size_t (*)(std::span<const TensorMeta> inputs,
                               std::span<const TensorMeta> outputs, const Attrs& attrs);

// Bit i of an op mask (save_inputs, mutates_inputs, ...); false past bit 31, so variadic ops
// (concat of 40 tensors) can ask about any input.
inline bool has_bit(uint32_t mask, size_t i) {
  return i < 32 && ((mask >> i) & 1u) != 0;
}

}  // namespace duet

// One kernel family's declarations for both devices, from its list (kernels/*_kernels.h):
//   #define DUET_POOL_KERNELS(X) X(max_pool2d) X(avg_pool2d) ...
//   DUET_DECLARE_DEVICE_KERNELS(DUET_POOL_KERNELS)  // in cpu_kernels and cuda_kernels
// A CUDA-only build never defines the CPU ones it does not use, and a CPU-only build never
// defines the CUDA ones: declarations cost nothing.
#define DUET_DECLARE_KERNEL(name, ...) void name(const ::duet::KernelArgs& k);
#define DUET_DECLARE_WORKSPACE(name, ...)                                           \
  size_t name(std::span<const ::duet::TensorMeta> in,                                \
              std::span<const ::duet::TensorMeta> out, const ::duet::Attrs& attrs);
#define DUET_DECLARE_DEVICE_KERNELS(LIST)                        \
  namespace duet::cpu_kernels {                                  \
  LIST(DUET_DECLARE_KERNEL)                                      \
  }                                                              \
  namespace duet::cuda_kernels {                                 \
  LIST(DUET_DECLARE_KERNEL)                                      \
  }

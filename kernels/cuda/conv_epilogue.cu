// conv2d / conv2d_fused epilogue: y = activation(y + bias[c] + residual) in one pass, with the
// activation formulas of kernels/activations.h (cuda/activation_math.cuh), as the activation
// kernels and the CPU epilogue use them. float16 / bfloat16: y, bias and residual in that
// dtype, each sum and the activation in float32 and rounded to the dtype where the unfused
// ops (conv2d, add, the activation) would round, so fused and unfused give the same bits.
#include "cuda/activation_math.cuh"
#include "cuda/conv_epilogue.h"
#include "cuda/lowp.cuh"
#include "cuda/runtime.h"

#include <cstdint>
#include <type_traits>

namespace duet::cuda_kernels {
namespace {

// y (numel = N * C * HW): channel of flat index i is (i / hw) % channels (32-bit division
// when narrow: fewer than 2^32 elements).
template <class T, class F>
__global__ void epilogue_kernel(T* __restrict__ y, const T* __restrict__ bias,
                                const T* __restrict__ res, int64_t n, int64_t channels, int64_t hw,
                                bool narrow, F f) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{blockDim.x} * gridDim.x) {
    using C = lowp::compute_t<T>;  // float for the 16-bit types, rounded after each step
    C v = static_cast<C>(y[i]);
    if (bias) {
      const int64_t c = narrow ? (static_cast<uint32_t>(i) / static_cast<uint32_t>(hw)) %
                                     static_cast<uint32_t>(channels)
                               : (i / hw) % channels;
      v = lowp::round_as<T>(v + static_cast<C>(bias[c]));
    }
    if (res) v = lowp::round_as<T>(v + static_cast<C>(res[i]));
    y[i] = static_cast<T>(f.forward(v));
  }
}

template <class T>
void launch_typed(T* y, const T* bias, const T* res, int64_t n, int64_t channels, int64_t hw,
                  kernels::Activation a, const Attrs& attrs, cudaStream_t stream) {
  act::visit_activation<lowp::compute_t<T>>(a, attrs, [&](const auto& f) {
    using F = std::decay_t<decltype(f)>;
    epilogue_kernel<T, F><<<cuda_backend::blocks_for(n), cuda_backend::kThreads, 0, stream>>>(
        y, bias, res, n, channels, hw, n <= static_cast<int64_t>(UINT32_MAX), f);
    DUET_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace

void launch_conv_epilogue(void* y, const void* bias, const void* residual, int64_t numel,
                          int64_t channels, int64_t hw, DType dtype, kernels::Activation act,
                          const Attrs& attrs, cudaStream_t stream) {
  if (numel == 0 || (!bias && !residual && act == kernels::Activation::none)) return;
  lowp::dispatch_floating(dtype, "conv2d epilogue", [&](auto tag) {
    using T = decltype(tag);
    launch_typed(static_cast<T*>(y), static_cast<const T*>(bias), static_cast<const T*>(residual),
                 numel, channels, hw, act, attrs, stream);
  });
}

}  // namespace duet::cuda_kernels

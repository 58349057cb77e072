// conv2d / conv2d_fused epilogue: y = activation(y + bias[c] + residual) in one pass.
// Formulas as kernels/cpu/fused_kernels.cpp (relu keeps NaN: y < 0 ? 0 : y).
#include "cuda/conv_epilogue.h"
#include "cuda/runtime.h"

#include <cstdint>

namespace duet::cuda_kernels {
namespace {

using cpu_kernels::Activation;

template <class T>
__device__ __forceinline__ T dexp(T x) {
  return exp(x);
}
template <>
__device__ __forceinline__ float dexp<float>(float x) {
  return expf(x);
}

template <class T, Activation A>
__device__ __forceinline__ T activate(T x) {
  if constexpr (A == Activation::relu) {
    return x < T(0) ? T(0) : x;
  } else if constexpr (A == Activation::relu6) {
    return x < T(0) ? T(0) : (x > T(6) ? T(6) : x);
  } else if constexpr (A == Activation::sigmoid) {
    return T(1) / (T(1) + dexp(-x));
  } else if constexpr (A == Activation::silu) {
    return x / (T(1) + dexp(-x));
  } else if constexpr (A == Activation::hardswish) {
    const T s = x + T(3);
    return x * (s < T(0) ? T(0) : (s > T(6) ? T(6) : s)) / T(6);
  } else {
    return x;
  }
}

// y (numel = N * C * HW): channel of flat index i is (i / hw) % channels (32-bit division
// when narrow: fewer than 2^32 elements).
template <class T, Activation A>
__global__ void epilogue_kernel(T* __restrict__ y, const T* __restrict__ bias,
                                const T* __restrict__ res, int64_t n, int64_t channels, int64_t hw,
                                bool narrow) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{blockDim.x} * gridDim.x) {
    T v = y[i];
    if (bias) {
      const int64_t c = narrow ? (static_cast<uint32_t>(i) / static_cast<uint32_t>(hw)) %
                                     static_cast<uint32_t>(channels)
                               : (i / hw) % channels;
      v = v + bias[c];
    }
    if (res) v = v + res[i];
    y[i] = activate<T, A>(v);
  }
}

template <class T, Activation A>
void launch(T* y, const T* bias, const T* res, int64_t n, int64_t channels, int64_t hw,
            cudaStream_t stream) {
  epilogue_kernel<T, A><<<cuda_backend::blocks_for(n), cuda_backend::kThreads, 0, stream>>>(
      y, bias, res, n, channels, hw, n <= static_cast<int64_t>(UINT32_MAX));
  DUET_CUDA_CHECK_LAUNCH();
}

template <class T>
void launch_typed(T* y, const T* bias, const T* res, int64_t n, int64_t channels, int64_t hw,
                  Activation act, cudaStream_t stream) {
  switch (act) {
    case Activation::none:
      return launch<T, Activation::none>(y, bias, res, n, channels, hw, stream);
    case Activation::relu:
      return launch<T, Activation::relu>(y, bias, res, n, channels, hw, stream);
    case Activation::relu6:
      return launch<T, Activation::relu6>(y, bias, res, n, channels, hw, stream);
    case Activation::sigmoid:
      return launch<T, Activation::sigmoid>(y, bias, res, n, channels, hw, stream);
    case Activation::silu:
      return launch<T, Activation::silu>(y, bias, res, n, channels, hw, stream);
    case Activation::hardswish:
      return launch<T, Activation::hardswish>(y, bias, res, n, channels, hw, stream);
  }
}

}  // namespace

void launch_conv_epilogue(void* y, const void* bias, const void* residual, int64_t numel,
                          int64_t channels, int64_t hw, DType dtype, Activation act,
                          cudaStream_t stream) {
  if (numel == 0 || (!bias && !residual && act == Activation::none)) return;
  if (dtype == DType::float32) {
    launch_typed(static_cast<float*>(y), static_cast<const float*>(bias),
                 static_cast<const float*>(residual), numel, channels, hw, act, stream);
  } else if (dtype == DType::float64) {
    launch_typed(static_cast<double*>(y), static_cast<const double*>(bias),
                 static_cast<const double*>(residual), numel, channels, hw, act, stream);
  } else {
    throw Error(detail::cat("conv2d epilogue: dtype ", dtype,
                            " is not supported on CUDA (expected float32 or float64)"));
  }
}

}  // namespace duet::cuda_kernels

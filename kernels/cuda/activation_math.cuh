// The activation formulas of kernels/activations.h as CUDA device functions (nvcc only): one
// struct per formula (relu_act<T>, ...), built on the host from the op's attrs
// (relu_act<T>::from(attrs), or visit_activation for a fused op's) and called on the device,
// by the activation kernels and by both fused epilogues (conv_epilogue.cu, the linear
// epilogue in activation_kernels.cu), so a fused op and its unfused sequence give the same
// bits on the GPU.
#pragma once

#include "activations.h"
#include "cuda/elementwise.cuh"

namespace duet::cuda_kernels::act {

namespace math = dmath;
#define DUET_ACT_FN __device__ __forceinline__
DUET_ACTIVATION_VARIANTS(DUET_DEFINE_ACTIVATION_FORMULAS)
DUET_ACTIVATIONS(DUET_DEFINE_ACTIVATION_FORMULAS)
#undef DUET_ACT_FN

DUET_DEFINE_ACTIVATION_VISIT

// out = f.forward(x) and out = f.backward(g, saved, f.let(saved)) as elementwise functors.
template <class F>
struct Forward {
  F f;
  template <class T>
  __device__ T operator()(T x) const {
    return static_cast<T>(f.forward(x));
  }
};
template <class F>
struct Backward {
  F f;
  template <class T>
  __device__ T operator()(T g, T s) const {
    return static_cast<T>(f.backward(g, s, f.let(s)));
  }
};

}  // namespace duet::cuda_kernels::act

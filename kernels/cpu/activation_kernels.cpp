// CPU activation kernels: the formulas of kernels/activations.h (cpu/activation_math.h), run
// by element (scalar formulas, vectorised loops) or on Eigen arrays a block at a time (array
// formulas: Eigen's SIMD exp/tanh/erf). fused_kernels.cpp runs the same formulas on the same
// blocks.
#include "activation_kernels.h"

#include "core/dtype_dispatch.h"
#include "cpu/activation_math.h"
#include "cpu/elementwise_kernels.h"

namespace duet::cpu_kernels {
namespace {

// y = f.forward(x).
template <class F>
void forward_kernel(const KernelArgs& k, const F& f) {
  using T = typename F::Scalar;
  if constexpr (F::kArrayForward) {
    const T* px = k.inputs[0].data<T>();
    T* po = k.outputs[0].data<T>();
    for_each_block(k.outputs[0].numel(), [&](int64_t i0, int64_t len) {
      ArrayMap<T> out(po + i0, len);
      out = f.forward(ConstArrayMap<T>(px + i0, len));
    });
  } else {
    unary_map<T, T>(k.inputs[0], k.outputs[0], [f](T x) { return static_cast<T>(f.forward(x)); });
  }
}

// out = f.backward(grad, saved, f.let(saved)); grad and saved of one shape.
template <class F>
void backward_kernel(const KernelArgs& k, const F& f) {
  using T = typename F::Scalar;
  if constexpr (F::kArrayBackward) {
    const T* pg = k.inputs[0].data<T>();
    const T* ps = k.inputs[1].data<T>();
    T* po = k.outputs[0].data<T>();
    for_each_block(k.outputs[0].numel(), [&](int64_t i0, int64_t len) {
      const ConstArrayMap<T> g(pg + i0, len), s(ps + i0, len);
      const auto u = materialize(f.let(s));  // once per block
      ArrayMap<T> out(po + i0, len);
      out = f.backward(g, s, u);
    });
  } else {
    binary_map<T, T>(k.inputs[0], k.inputs[1], k.outputs[0], [f](T g, T s) {
      return static_cast<T>(f.backward(g, s, f.let(s)));
    });
  }
}

}  // namespace

DUET_ACTIVATIONS(DUET_DEFINE_ACTIVATION_KERNELS)

}  // namespace duet::cpu_kernels

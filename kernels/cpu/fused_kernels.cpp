// CPU kernels of the fused ops (kernels/fused_kernels.h).
//
// The epilogue goes over the output in the activation kernels' 2048-element blocks, so each
// block stays in L1 between the residual add and the activation, and an array formula's
// Eigen SIMD math and scalar tail split each block as the unfused kernel does: fused results
// equal unfused ones bit for bit.
#include "fused_kernels.h"

#include <type_traits>

#include "conv_kernels.h"
#include "core/dtype_dispatch.h"
#include "core/parallel.h"
#include "cpu/activation_math.h"
#include "cpu/convert.h"
#include "cpu/elementwise_kernels.h"
#include "cpu/lowp_kernels.h"
#include "linalg_kernels.h"

namespace duet::cpu_kernels {
namespace {

using kernels::Activation;

// y[0, len) = f(y + r) in place (r may be null).
template <class T, class F>
void epilogue_block(T* y, const T* r, int64_t len, const F& f) {
  if (r) {
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) y[i] = y[i] + r[i];
  }
  if constexpr (std::is_same_v<F, act::none_act<T>>) {
    return;
  } else if constexpr (F::kArrayForward) {
    ArrayMap<T> a(y, len);
    a = f.forward(a);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) y[i] = f.forward(y[i]);
  }
}

// y = activation(y + residual) in place; residual null or of y's shape and dtype; the
// activation's attrs from `attrs`.
void epilogue(const Tensor& y, const Tensor* residual, Activation a, const Attrs& attrs) {
  if (a == Activation::none && !residual) return;
  detail::dispatch_floating(y.dtype(), "epilogue", [&](auto tag) {
    using T = decltype(tag);
    T* py = static_cast<T*>(y.data_ptr());
    const T* pr = residual ? static_cast<const T*>(residual->data_ptr()) : nullptr;
    act::visit_activation<T>(a, attrs, [&](const auto& f) {
      for_each_block(y.numel(), [&](int64_t i0, int64_t len) {
        epilogue_block<T>(py + i0, pr ? pr + i0 : nullptr, len, f);
      });
    });
  });
}

}  // namespace

void conv2d_fused(const KernelArgs& k) {
  const Activation a = kernels::parse_activation(k.attrs.s("activation"), "conv2d_fused");
  const size_t nconv = k.attrs.b("has_bias") ? 3 : 2;
  if (k.outputs[0].dtype() == DType::bfloat16)
    return conv2d_bf16(k, nconv == 3, a, k.attrs.b("has_residual") ? &k.inputs[nconv] : nullptr);
  conv2d({k.attrs, k.inputs.subspan(0, nconv), k.outputs, k.workspace, k.workspace_size});
  epilogue(k.outputs[0], k.attrs.b("has_residual") ? &k.inputs[nconv] : nullptr, a, k.attrs);
}

void linear_fused(const KernelArgs& k) {
  const Activation a = kernels::parse_activation(k.attrs.s("activation"), "linear_fused");
  if (k.outputs[0].dtype() == DType::bfloat16) return linear_bf16(k, a);
  linear(k);
  epilogue(k.outputs[0], nullptr, a, k.attrs);
}

void add_relu(const KernelArgs& k) {
  if (k.outputs[0].dtype() == DType::bfloat16) {
    // bfloat16 natively: relu(float(a) + float(b)) rounded once, the float32 kernel's bits on
    // widened values.
    const BFloat16* pa = k.inputs[0].data<BFloat16>();
    const BFloat16* pb = k.inputs[1].data<BFloat16>();
    BFloat16* po = k.outputs[0].data<BFloat16>();
    const act::relu_act<float> relu{};
    for_each_block(k.outputs[0].numel(), [&](int64_t i0, int64_t len) {
      float va[kActBlock], vb[kActBlock];
      convert::bf16_to_float(pa + i0, va, len);
      convert::bf16_to_float(pb + i0, vb, len);
#pragma omp simd
      for (int64_t i = 0; i < len; ++i) va[i] = relu.forward(va[i] + vb[i]);
      convert::float_to_bf16(va, po + i0, len);
    });
    return;
  }
  detail::dispatch_floating(k.outputs[0].dtype(), "add_relu", [&](auto tag) {
    using T = decltype(tag);
    const T* pa = static_cast<const T*>(k.inputs[0].data_ptr());
    const T* pb = static_cast<const T*>(k.inputs[1].data_ptr());
    T* po = static_cast<T*>(k.outputs[0].data_ptr());
    const int64_t n = k.outputs[0].numel();
    const act::relu_act<T> relu{};
    parallel::parallel_for_if(n > kParallelGrain, 0, n, [&](int64_t lo, int64_t hi) {
#pragma omp simd
      for (int64_t i = lo; i < hi; ++i) po[i] = relu.forward(pa[i] + pb[i]);
    });
  });
}

}  // namespace duet::cpu_kernels

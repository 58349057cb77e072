#include "cpu/fused_kernels.h"

// GCC 12 reports false "__Y may be used uninitialized" warnings inside its own AVX-512
// intrinsics when Eigen's SIMD math is inlined (GCC bug 105593, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <Eigen/Core>
#include <algorithm>

#include "core/dtype_dispatch.h"
#include "cpu/conv_kernels.h"
#include "cpu/elementwise_kernels.h"
#include "cpu/linalg_kernels.h"

namespace duet::cpu_kernels {
namespace {

// The block the activation kernels use for Eigen's SIMD math (activation_kernels.cpp): the
// same blocks give the same split between packet and scalar code, hence the same bits.
constexpr int64_t kBlock = 2048;

template <class T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;

// y[0, len) = act(y + r) in place. Each formula is the one in activation_kernels.cpp.
template <class T>
void epilogue_block(T* y, const T* r, int64_t len, Activation act) {
  if (r) {
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) y[i] = y[i] + r[i];
  }
  switch (act) {
    case Activation::none:
      return;
    case Activation::relu:
#pragma omp simd
      for (int64_t i = 0; i < len; ++i) y[i] = y[i] < T(0) ? T(0) : y[i];
      return;
    case Activation::relu6:
#pragma omp simd
      for (int64_t i = 0; i < len; ++i) y[i] = y[i] < T(0) ? T(0) : (y[i] > T(6) ? T(6) : y[i]);
      return;
    case Activation::hardswish:
#pragma omp simd
      for (int64_t i = 0; i < len; ++i) {
        const T x = y[i], s = x + T(3);
        y[i] = x * (s < T(0) ? T(0) : (s > T(6) ? T(6) : s)) / T(6);
      }
      return;
    case Activation::sigmoid: {
      ArrayMap<T> a(y, len);
      a = (T(1) + (-a).exp()).inverse();
      return;
    }
    case Activation::silu: {
      ArrayMap<T> a(y, len);
      a = a / (T(1) + (-a).exp());
      return;
    }
  }
}

}  // namespace

Activation parse_activation(const std::string& name, const char* op) {
  if (name == "none") return Activation::none;
  if (name == "relu") return Activation::relu;
  if (name == "relu6") return Activation::relu6;
  if (name == "sigmoid") return Activation::sigmoid;
  if (name == "silu") return Activation::silu;
  if (name == "hardswish") return Activation::hardswish;
  throw Error(detail::cat(op, ": activation '", name,
                          "' is not supported (expected none, relu, relu6, sigmoid, silu or "
                          "hardswish)"));
}

void epilogue(const Tensor& y, const Tensor* residual, Activation act) {
  if (act == Activation::none && !residual) return;
  const int64_t n = y.numel(), blocks = (n + kBlock - 1) / kBlock;
  detail::dispatch_floating(y.dtype(), "epilogue", [&](auto tag) {
    using T = decltype(tag);
    T* py = static_cast<T*>(y.data_ptr());
    const T* pr = residual ? static_cast<const T*>(residual->data_ptr()) : nullptr;
#pragma omp parallel for if (n > kParallelGrain / 4) schedule(static)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t i0 = b * kBlock, len = std::min(kBlock, n - i0);
      epilogue_block<T>(py + i0, pr ? pr + i0 : nullptr, len, act);
    }
  });
}

void conv2d_fused(const KernelArgs& k) {
  const Activation act = parse_activation(k.attrs.s("activation"), "conv2d_fused");
  const size_t nconv = k.attrs.b("has_bias") ? 3 : 2;
  conv2d({k.attrs, k.inputs.subspan(0, nconv), k.outputs, k.workspace, k.workspace_size});
  epilogue(k.outputs[0], k.attrs.b("has_residual") ? &k.inputs[nconv] : nullptr, act);
}

void linear_fused(const KernelArgs& k) {
  const Activation act = parse_activation(k.attrs.s("activation"), "linear_fused");
  linear(k);
  epilogue(k.outputs[0], nullptr, act);
}

void add_relu(const KernelArgs& k) {
  detail::dispatch_floating(k.outputs[0].dtype(), "add_relu", [&](auto tag) {
    using T = decltype(tag);
    const T* pa = static_cast<const T*>(k.inputs[0].data_ptr());
    const T* pb = static_cast<const T*>(k.inputs[1].data_ptr());
    T* po = static_cast<T*>(k.outputs[0].data_ptr());
    const int64_t n = k.outputs[0].numel();
#pragma omp parallel for simd if (n > kParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const T s = pa[i] + pb[i];
      po[i] = s < T(0) ? T(0) : s;
    }
  });
}

}  // namespace duet::cpu_kernels

#include "cpu/activation_kernels.h"

// GCC 12 reports false "__Y may be used uninitialized" warnings inside its own AVX-512
// intrinsics when Eigen's SIMD math is inlined (GCC bug 105593, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <Eigen/Core>
#include <cmath>
#include <unsupported/Eigen/SpecialFunctions>

#include "core/dtype_dispatch.h"
#include "cpu/elementwise_kernels.h"

namespace duet::cpu_kernels {
namespace {

constexpr double kSqrt2OverPi = 0.79788456080286535588;  // sqrt(2 / pi)
constexpr double kGeluCoeff = 0.044715;
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1 / sqrt(2 pi)

// out = f(x) for floating dtypes; f is a generic lambda called with a T.
template <class F>
void unary(const KernelArgs& k, const char* op, F f) {
  detail::dispatch_floating(k.inputs[0].dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    unary_map<T, T>(k.inputs[0], k.outputs[0], [&](T x) { return static_cast<T>(f(x)); });
  });
}

// out = f(grad, s) where s is the saved x or y (same shape as grad).
template <class F>
void backward_map(const KernelArgs& k, const char* op, F f) {
  detail::dispatch_floating(k.inputs[0].dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    binary_map<T, T>(k.inputs[0], k.inputs[1], k.outputs[0],
                     [&](T g, T s) { return static_cast<T>(f(g, s)); });
  });
}

// Transcendental activations go through Eigen's SIMD exp/tanh/erf, a block at a time:
// f(in, out) assigns an Eigen array expression of `in` to `out`.
constexpr int64_t kEigenBlock = 2048;
template <class T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

template <class F>
void eigen_unary(const KernelArgs& k, const char* op, F f) {
  detail::dispatch_floating(k.inputs[0].dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* px = k.inputs[0].data<T>();
    T* po = k.outputs[0].data<T>();
    const int64_t n = k.outputs[0].numel(), blocks = (n + kEigenBlock - 1) / kEigenBlock;
#pragma omp parallel for if (n > kParallelGrain / 4) schedule(static)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t i0 = b * kEigenBlock, len = std::min(kEigenBlock, n - i0);
      ArrayMap<T> out(po + i0, len);
      f(ConstArrayMap<T>(px + i0, len), out);
    }
  });
}

// f(grad, saved, out) on blocks of the two inputs (equal shapes).
template <class F>
void eigen_backward(const KernelArgs& k, const char* op, F f) {
  detail::dispatch_floating(k.inputs[0].dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* pg = k.inputs[0].data<T>();
    const T* ps = k.inputs[1].data<T>();
    T* po = k.outputs[0].data<T>();
    const int64_t n = k.outputs[0].numel(), blocks = (n + kEigenBlock - 1) / kEigenBlock;
#pragma omp parallel for if (n > kParallelGrain / 4) schedule(static)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t i0 = b * kEigenBlock, len = std::min(kEigenBlock, n - i0);
      ArrayMap<T> out(po + i0, len);
      f(ConstArrayMap<T>(pg + i0, len), ConstArrayMap<T>(ps + i0, len), out);
    }
  });
}

template <class A>
using Scalar = typename A::Scalar;

}  // namespace

// ---- forward ---------------------------------------------------------------------------

void relu(const KernelArgs& k) {
  // x < 0 ? 0 : x keeps NaN (as PyTorch's clamp_min).
  unary(k, "relu", [](auto x) { return x < decltype(x)(0) ? decltype(x)(0) : x; });
}

void relu6(const KernelArgs& k) {
  unary(k, "relu6", [](auto x) {
    using T = decltype(x);
    return x < T(0) ? T(0) : (x > T(6) ? T(6) : x);
  });
}

void leaky_relu(const KernelArgs& k) {
  const double slope = k.attrs.f("negative_slope");
  unary(k, "leaky_relu", [slope](auto x) {
    using T = decltype(x);
    return x > T(0) ? x : x * static_cast<T>(slope);
  });
}

void sigmoid(const KernelArgs& k) {
  eigen_unary(k, "sigmoid", [](const auto& x, auto& y) {
    using T = Scalar<std::decay_t<decltype(x)>>;
    y = (T(1) + (-x).exp()).inverse();
  });
}

void tanh(const KernelArgs& k) {
  eigen_unary(k, "tanh", [](const auto& x, auto& y) { y = x.tanh(); });
}

void silu(const KernelArgs& k) {
  eigen_unary(k, "silu", [](const auto& x, auto& y) {
    using T = Scalar<std::decay_t<decltype(x)>>;
    y = x / (T(1) + (-x).exp());
  });
}

void hardsigmoid(const KernelArgs& k) {
  unary(k, "hardsigmoid", [](auto x) {
    using T = decltype(x);
    const T r = x + T(3);
    return (r < T(0) ? T(0) : (r > T(6) ? T(6) : r)) / T(6);
  });
}

void hardswish(const KernelArgs& k) {
  unary(k, "hardswish", [](auto x) {
    using T = decltype(x);
    const T r = x + T(3);
    return x * (r < T(0) ? T(0) : (r > T(6) ? T(6) : r)) / T(6);
  });
}

void gelu(const KernelArgs& k) {
  if (k.attrs.b("tanh_approximation")) {
    eigen_unary(k, "gelu", [](const auto& x, auto& y) {
      using T = Scalar<std::decay_t<decltype(x)>>;
      y = T(0.5) * x * (T(1) + (T(kSqrt2OverPi) * (x + T(kGeluCoeff) * x.cube())).tanh());
    });
  } else {
    eigen_unary(k, "gelu", [](const auto& x, auto& y) {
      using T = Scalar<std::decay_t<decltype(x)>>;
      y = T(0.5) * x * (T(1) + (x * T(kInvSqrt2)).erf());
    });
  }
}

// ---- backward --------------------------------------------------------------------------

void relu_backward(const KernelArgs& k) {
  backward_map(k, "relu_backward", [](auto g, auto y) {
    using T = decltype(g);
    return y > T(0) ? g : T(0);
  });
}

void relu6_backward(const KernelArgs& k) {
  // PyTorch's hardtanh_backward: strict inequalities, so the gradient is 0 at 0 and at 6.
  backward_map(k, "relu6_backward", [](auto g, auto y) {
    using T = decltype(g);
    return y > T(0) && y < T(6) ? g : T(0);
  });
}

void leaky_relu_backward(const KernelArgs& k) {
  const double slope = k.attrs.f("negative_slope");
  backward_map(k, "leaky_relu_backward", [slope](auto g, auto x) {
    using T = decltype(g);
    return x > T(0) ? g : g * static_cast<T>(slope);
  });
}

void sigmoid_backward(const KernelArgs& k) {
  backward_map(k, "sigmoid_backward", [](auto g, auto y) { return g * y * (decltype(y)(1) - y); });
}

void tanh_backward(const KernelArgs& k) {
  backward_map(k, "tanh_backward", [](auto g, auto y) { return g * (decltype(y)(1) - y * y); });
}

void silu_backward(const KernelArgs& k) {
  eigen_backward(k, "silu_backward", [](const auto& g, const auto& x, auto& out) {
    using T = Scalar<std::decay_t<decltype(x)>>;
    // out = g s (1 + x (1 - s)); evaluate s once per block
    Eigen::Array<T, Eigen::Dynamic, 1> s = (T(1) + (-x).exp()).inverse();
    out = g * s * (T(1) + x * (T(1) - s));
  });
}

void hardsigmoid_backward(const KernelArgs& k) {
  backward_map(k, "hardsigmoid_backward", [](auto g, auto x) {
    using T = decltype(g);
    return x > T(-3) && x < T(3) ? g / T(6) : T(0);
  });
}

void hardswish_backward(const KernelArgs& k) {
  // PyTorch: x < -3 -> 0; x <= 3 -> grad * (x / 3 + 1/2); else grad.
  backward_map(k, "hardswish_backward", [](auto g, auto x) {
    using T = decltype(g);
    return x < T(-3) ? T(0) : (x <= T(3) ? g * (x / T(3) + T(0.5)) : g);
  });
}

void gelu_backward(const KernelArgs& k) {
  if (k.attrs.b("tanh_approximation")) {
    eigen_backward(k, "gelu_backward", [](const auto& g, const auto& x, auto& out) {
      using T = Scalar<std::decay_t<decltype(x)>>;
      Eigen::Array<T, Eigen::Dynamic, 1> t =
          (T(kSqrt2OverPi) * (x + T(kGeluCoeff) * x.cube())).tanh();
      out = g *
            (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t.square()) *
                                       (T(kSqrt2OverPi) * (T(1) + T(3 * kGeluCoeff) * x.square())));
    });
  } else {
    eigen_backward(k, "gelu_backward", [](const auto& g, const auto& x, auto& out) {
      using T = Scalar<std::decay_t<decltype(x)>>;
      out = g * (T(0.5) * (T(1) + (x * T(kInvSqrt2)).erf()) +
                 x * T(kInvSqrt2Pi) * (T(-0.5) * x.square()).exp());
    });
  }
}

}  // namespace duet::cpu_kernels

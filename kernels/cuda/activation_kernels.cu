// CUDA kernels for activations, their fused gradients, add_relu and the bias + residual +
// activation epilogue of the fused ops (elementwise_host.h). One functor per formula, each
// the expression of kernels/cpu/activation_kernels.cpp; the epilogue calls the same functors,
// so a fused op and its unfused sequence give the same bits on the GPU.
#include <cmath>

#include "core/dtype_dispatch.h"
#include "cuda/activation_kernels.h"
#include "cuda/elementwise.cuh"
#include "cuda/elementwise_host.h"

namespace duet::cuda_kernels {
namespace {

constexpr double kSqrt2OverPi = 0.79788456080286535588;  // sqrt(2 / pi)
constexpr double kGeluCoeff = 0.044715;
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1 / sqrt(2 pi)

// ---- forward functors: y = f(x) ----------------------------------------------------------

struct identity_f {
  template <class T>
  __device__ T operator()(T x) const {
    return x;
  }
};
struct relu_f {  // x < 0 ? 0 : x keeps NaN (as PyTorch's clamp_min)
  template <class T>
  __device__ T operator()(T x) const {
    return x < T(0) ? T(0) : x;
  }
};
struct relu6_f {
  template <class T>
  __device__ T operator()(T x) const {
    return x < T(0) ? T(0) : (x > T(6) ? T(6) : x);
  }
};
struct leaky_relu_f {
  double slope;
  template <class T>
  __device__ T operator()(T x) const {
    return x > T(0) ? x : x * static_cast<T>(slope);
  }
};
struct sigmoid_f {
  template <class T>
  __device__ T operator()(T x) const {
    return T(1) / (T(1) + dmath::exp(-x));
  }
};
struct tanh_f {
  template <class T>
  __device__ T operator()(T x) const {
    return dmath::tanh(x);
  }
};
struct silu_f {
  template <class T>
  __device__ T operator()(T x) const {
    return x / (T(1) + dmath::exp(-x));
  }
};
struct hardsigmoid_f {
  template <class T>
  __device__ T operator()(T x) const {
    const T r = x + T(3);
    return (r < T(0) ? T(0) : (r > T(6) ? T(6) : r)) / T(6);
  }
};
struct hardswish_f {
  template <class T>
  __device__ T operator()(T x) const {
    const T r = x + T(3);
    return x * (r < T(0) ? T(0) : (r > T(6) ? T(6) : r)) / T(6);
  }
};
struct gelu_f {  // 0.5 x (1 + erf(x / sqrt(2)))
  template <class T>
  __device__ T operator()(T x) const {
    return T(0.5) * x * (T(1) + dmath::erf(x * T(kInvSqrt2)));
  }
};
struct gelu_tanh_f {  // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
  template <class T>
  __device__ T operator()(T x) const {
    return T(0.5) * x * (T(1) + dmath::tanh(T(kSqrt2OverPi) * (x + T(kGeluCoeff) * (x * x * x))));
  }
};

// ---- backward functors: out = f(grad, saved) ---------------------------------------------

struct relu_backward_f {
  template <class T>
  __device__ T operator()(T g, T y) const {
    return y > T(0) ? g : T(0);
  }
};
// PyTorch's hardtanh_backward: strict inequalities, so the gradient is 0 at 0 and at 6.
struct relu6_backward_f {
  template <class T>
  __device__ T operator()(T g, T y) const {
    return y > T(0) && y < T(6) ? g : T(0);
  }
};
struct leaky_relu_backward_f {
  double slope;
  template <class T>
  __device__ T operator()(T g, T x) const {
    return x > T(0) ? g : g * static_cast<T>(slope);
  }
};
struct sigmoid_backward_f {
  template <class T>
  __device__ T operator()(T g, T y) const {
    return g * y * (T(1) - y);
  }
};
struct tanh_backward_f {
  template <class T>
  __device__ T operator()(T g, T y) const {
    return g * (T(1) - y * y);
  }
};
struct silu_backward_f {  // g s (1 + x (1 - s)), s = sigmoid(x)
  template <class T>
  __device__ T operator()(T g, T x) const {
    const T s = T(1) / (T(1) + dmath::exp(-x));
    return g * s * (T(1) + x * (T(1) - s));
  }
};
struct hardsigmoid_backward_f {
  template <class T>
  __device__ T operator()(T g, T x) const {
    return x > T(-3) && x < T(3) ? g / T(6) : T(0);
  }
};
// PyTorch: x < -3 -> 0; x <= 3 -> grad * (x / 3 + 1/2); else grad.
struct hardswish_backward_f {
  template <class T>
  __device__ T operator()(T g, T x) const {
    return x < T(-3) ? T(0) : (x <= T(3) ? g * (x / T(3) + T(0.5)) : g);
  }
};
struct gelu_backward_f {  // g (Phi(x) + x phi(x))
  template <class T>
  __device__ T operator()(T g, T x) const {
    return g * (T(0.5) * (T(1) + dmath::erf(x * T(kInvSqrt2))) +
                x * T(kInvSqrt2Pi) * dmath::exp(T(-0.5) * (x * x)));
  }
};
struct gelu_tanh_backward_f {
  template <class T>
  __device__ T operator()(T g, T x) const {
    const T t = dmath::tanh(T(kSqrt2OverPi) * (x + T(kGeluCoeff) * (x * x * x)));
    return g * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) *
                                          (T(kSqrt2OverPi) * (T(1) + T(3 * kGeluCoeff) * (x * x))));
  }
};

struct add_relu_f {
  template <class T>
  __device__ T operator()(T a, T b) const {
    const T s = a + b;
    return s < T(0) ? T(0) : s;
  }
};

template <class F>
void forward(const KernelArgs& k, const char* op, F f) {
  detail::dispatch_floating(k.inputs[0].dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    ew::unary<T, T>(k.inputs[0], k.outputs[0], f);
  });
}

template <class F>
void backward(const KernelArgs& k, const char* op, F f) {
  detail::dispatch_floating(k.inputs[0].dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    ew::binary_same_shape<T, T, T>(k.inputs[0], k.inputs[1], k.outputs[0], f, op);
  });
}

// ---- the fused ops' epilogue ----------------------------------------------------------------

// y[i] = act(y[i] + bias[i % cols] + residual[i]); bias and residual may be null.
template <class T, class Act>
__global__ void epilogue_kernel(int64_t n, int64_t cols, T* y, const T* bias, const T* residual,
                                Act act) {
  DUET_EW_LOOP(i, n) {
    T v = y[i];
    if (bias) v = v + bias[i % cols];
    if (residual) v = v + residual[i];
    y[i] = act(v);
  }
}

template <class T, class Act>
void launch_epilogue(T* y, const T* bias, const T* residual, int64_t n, int64_t cols,
                     cudaStream_t stream, Act act) {
  epilogue_kernel<T, Act>
      <<<cuda_backend::blocks_for(n), ew::kThreads, 0, stream>>>(n, cols, y, bias, residual, act);
  DUET_CUDA_CHECK_LAUNCH();
}

}  // namespace

// ---- forward ---------------------------------------------------------------------------

void relu(const KernelArgs& k) {
  forward(k, "relu", relu_f{});
}
void relu6(const KernelArgs& k) {
  forward(k, "relu6", relu6_f{});
}
void leaky_relu(const KernelArgs& k) {
  forward(k, "leaky_relu", leaky_relu_f{k.attrs.f("negative_slope")});
}
void sigmoid(const KernelArgs& k) {
  forward(k, "sigmoid", sigmoid_f{});
}
void tanh(const KernelArgs& k) {
  forward(k, "tanh", tanh_f{});
}
void silu(const KernelArgs& k) {
  forward(k, "silu", silu_f{});
}
void hardsigmoid(const KernelArgs& k) {
  forward(k, "hardsigmoid", hardsigmoid_f{});
}
void hardswish(const KernelArgs& k) {
  forward(k, "hardswish", hardswish_f{});
}
void gelu(const KernelArgs& k) {
  if (k.attrs.b("tanh_approximation")) {
    forward(k, "gelu", gelu_tanh_f{});
  } else {
    forward(k, "gelu", gelu_f{});
  }
}

// ---- backward --------------------------------------------------------------------------

void relu_backward(const KernelArgs& k) {
  backward(k, "relu_backward", relu_backward_f{});
}
void relu6_backward(const KernelArgs& k) {
  backward(k, "relu6_backward", relu6_backward_f{});
}
void leaky_relu_backward(const KernelArgs& k) {
  backward(k, "leaky_relu_backward", leaky_relu_backward_f{k.attrs.f("negative_slope")});
}
void sigmoid_backward(const KernelArgs& k) {
  backward(k, "sigmoid_backward", sigmoid_backward_f{});
}
void tanh_backward(const KernelArgs& k) {
  backward(k, "tanh_backward", tanh_backward_f{});
}
void silu_backward(const KernelArgs& k) {
  backward(k, "silu_backward", silu_backward_f{});
}
void hardsigmoid_backward(const KernelArgs& k) {
  backward(k, "hardsigmoid_backward", hardsigmoid_backward_f{});
}
void hardswish_backward(const KernelArgs& k) {
  backward(k, "hardswish_backward", hardswish_backward_f{});
}
void gelu_backward(const KernelArgs& k) {
  if (k.attrs.b("tanh_approximation")) {
    backward(k, "gelu_backward", gelu_tanh_backward_f{});
  } else {
    backward(k, "gelu_backward", gelu_backward_f{});
  }
}

// ---- fused -----------------------------------------------------------------------------

void add_relu(const KernelArgs& k) {
  detail::dispatch_floating(k.outputs[0].dtype(), "add_relu", [&](auto tag) {
    using T = decltype(tag);
    ew::binary_same_shape<T, T, T>(k.inputs[0], k.inputs[1], k.outputs[0], add_relu_f{},
                                   "add_relu");
  });
}

void bias_activation_epilogue(void* y, const void* bias, const void* residual, int64_t rows,
                              int64_t cols, DType dtype, cpu_kernels::Activation act,
                              cudaStream_t stream, const char* op) {
  using cpu_kernels::Activation;
  const int64_t n = rows * cols;
  if (n == 0 || (act == Activation::none && !bias && !residual)) return;
  detail::dispatch_floating(dtype, op, [&](auto tag) {
    using T = decltype(tag);
    T* py = static_cast<T*>(y);
    const T* pb = static_cast<const T*>(bias);
    const T* pr = static_cast<const T*>(residual);
    switch (act) {
      case Activation::none:
        return launch_epilogue(py, pb, pr, n, cols, stream, identity_f{});
      case Activation::relu:
        return launch_epilogue(py, pb, pr, n, cols, stream, relu_f{});
      case Activation::relu6:
        return launch_epilogue(py, pb, pr, n, cols, stream, relu6_f{});
      case Activation::sigmoid:
        return launch_epilogue(py, pb, pr, n, cols, stream, sigmoid_f{});
      case Activation::silu:
        return launch_epilogue(py, pb, pr, n, cols, stream, silu_f{});
      case Activation::hardswish:
        return launch_epilogue(py, pb, pr, n, cols, stream, hardswish_f{});
    }
    throw Error(detail::cat(op, ": unknown activation in the epilogue"));
  });
}

}  // namespace duet::cuda_kernels

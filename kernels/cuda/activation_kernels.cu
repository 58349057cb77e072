// CUDA activation kernels, add_relu and the bias + residual + activation epilogue of the fused
// ops (elementwise_host.h): the formulas of kernels/activations.h (cuda/activation_math.cuh),
// the same functions in the kernels and in the epilogue, so a fused op and its unfused
// sequence give the same bits on the GPU. float16 / bfloat16 run natively: the float32
// formulas on widened elements, rounded once on the store (cuda/lowp.cuh).
#include <type_traits>

#include "activation_kernels.h"
#include "core/dtype_dispatch.h"
#include "cuda/activation_math.cuh"
#include "cuda/elementwise.cuh"
#include "cuda/elementwise_host.h"
#include "cuda/lowp.cuh"
#include "fused_kernels.h"

namespace duet::cuda_kernels {
namespace {

// y = f(x) and out = f'(grad, saved), elementwise on the GPU.
template <class F>
void forward_kernel(const KernelArgs& k, const F& f) {
  using T = typename F::Scalar;
  ew::unary<T, T>(k.inputs[0], k.outputs[0], act::Forward<F>{f});
}
template <class F>
void backward_kernel(const KernelArgs& k, const F& f) {
  using T = typename F::Scalar;
  ew::binary_same_shape<T, T, T>(k.inputs[0], k.inputs[1], k.outputs[0], act::Backward<F>{f},
                                 "activation backward");
}

// float16 / bfloat16: the float32 formula on the widened elements, rounded once on the store.
template <class F>
struct LowForward {
  F f;
  template <class T>
  __device__ float operator()(T x) const {
    return f.forward(static_cast<float>(x));
  }
};
template <class F>
struct LowBackward {
  F f;
  template <class T>
  __device__ float operator()(T g, T s) const {
    const float sv = static_cast<float>(s);
    return f.backward(static_cast<float>(g), sv, f.let(sv));
  }
};

// Runs the activation F (forward or backward) natively when the input is 16-bit; false
// otherwise (the float32 / float64 kernels then run).
template <template <class> class F>
bool run_low_activation(const KernelArgs& k, const char* op, bool backward) {
  return lowp::dispatch_low(k.inputs[0].dtype(), [&](auto tag) {
    using L = decltype(tag);
    kernels::with_formula<F, float>(k.attrs, [&](const auto& f) {
      using Formula = std::decay_t<decltype(f)>;
      if (backward) {
        lowp::expect_dtype(k.inputs[0].dtype(), op, k.inputs[1], k.outputs[0]);
        ew::binary_same_shape<L, L, L>(k.inputs[0], k.inputs[1], k.outputs[0],
                                       LowBackward<Formula>{f}, op);
      } else {
        lowp::expect_dtype(k.inputs[0].dtype(), op, k.outputs[0]);
        ew::unary<L, L>(k.inputs[0], k.outputs[0], LowForward<Formula>{f});
      }
    });
  });
}

template <class T>
struct add_relu_f {
  __device__ T operator()(T a, T b) const { return act::relu_act<T>{}.forward(a + b); }
};
// 16-bit: the sum and relu in float32, rounded once (relu commutes with the rounding).
struct add_relu_low_f {
  template <class L>
  __device__ float operator()(L a, L b) const {
    return act::relu_act<float>{}.forward(static_cast<float>(a) + static_cast<float>(b));
  }
};

// ---- the fused ops' epilogue ----------------------------------------------------------------

// y[i] = f(y[i] + bias[i % cols] + residual[i]); bias and residual may be null. 16-bit T:
// each sum and f in float32 (F is the float formula), rounded to T after each step as the
// unfused ops round (lowp::round_as), so fused and unfused give the same bits.
template <class T, class F>
__global__ void epilogue_kernel(int64_t n, int64_t cols, T* y, const T* bias, const T* residual,
                                F f) {
  using C = lowp::compute_t<T>;
  DUET_EW_LOOP(i, n) {
    C v = static_cast<C>(y[i]);
    if (bias) v = lowp::round_as<T>(v + static_cast<C>(bias[i % cols]));
    if (residual) v = lowp::round_as<T>(v + static_cast<C>(residual[i]));
    y[i] = static_cast<T>(f.forward(v));
  }
}

}  // namespace

// As DUET_DEFINE_ACTIVATION_KERNELS (activations.h), with the native 16-bit path first.
#define DUET_CUDA_ACTIVATION_KERNELS(name, ...)                                              \
  void name(const KernelArgs& k) {                                                           \
    if (run_low_activation<act::name##_act>(k, #name, false)) return;                        \
    kernels::run_activation<act::name##_act>(k, #name,                                       \
                                             [&](const auto& f) { forward_kernel(k, f); });  \
  }                                                                                          \
  void name##_backward(const KernelArgs& k) {                                                \
    if (run_low_activation<act::name##_act>(k, #name "_backward", true)) return;             \
    kernels::run_activation<act::name##_act>(k, #name "_backward",                           \
                                             [&](const auto& f) { backward_kernel(k, f); }); \
  }
DUET_ACTIVATIONS(DUET_CUDA_ACTIVATION_KERNELS)
#undef DUET_CUDA_ACTIVATION_KERNELS

void add_relu(const KernelArgs& k) {
  const bool low = lowp::dispatch_low(k.outputs[0].dtype(), [&](auto tag) {
    using L = decltype(tag);
    lowp::expect_dtype(k.outputs[0].dtype(), "add_relu", k.inputs[0], k.inputs[1]);
    ew::binary_same_shape<L, L, L>(k.inputs[0], k.inputs[1], k.outputs[0], add_relu_low_f{},
                                   "add_relu");
  });
  if (low) return;
  detail::dispatch_floating(k.outputs[0].dtype(), "add_relu", [&](auto tag) {
    using T = decltype(tag);
    ew::binary_same_shape<T, T, T>(k.inputs[0], k.inputs[1], k.outputs[0], add_relu_f<T>{},
                                   "add_relu");
  });
}

void bias_activation_epilogue(void* y, const void* bias, const void* residual, int64_t rows,
                              int64_t cols, DType dtype, kernels::Activation a, const Attrs& attrs,
                              cudaStream_t stream, const char* op) {
  const int64_t n = rows * cols;
  if (n == 0 || (a == kernels::Activation::none && !bias && !residual)) return;
  lowp::dispatch_floating(dtype, op, [&](auto tag) {
    using T = decltype(tag);
    T* py = static_cast<T*>(y);
    const T* pb = static_cast<const T*>(bias);
    const T* pr = static_cast<const T*>(residual);
    act::visit_activation<lowp::compute_t<T>>(a, attrs, [&](const auto& f) {
      using Formula = std::decay_t<decltype(f)>;
      epilogue_kernel<T, Formula>
          <<<cuda_backend::blocks_for(n), ew::kThreads, 0, stream>>>(n, cols, py, pb, pr, f);
      DUET_CUDA_CHECK_LAUNCH();
    });
  });
}

}  // namespace duet::cuda_kernels

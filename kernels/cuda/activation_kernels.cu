// CUDA activation kernels, add_relu and the bias + residual + activation epilogue of the fused
// ops (elementwise_host.h): the formulas of kernels/activations.h (cuda/activation_math.cuh),
// the same functions in the kernels and in the epilogue, so a fused op and its unfused
// sequence give the same bits on the GPU.
#include <type_traits>

#include "activation_kernels.h"
#include "core/dtype_dispatch.h"
#include "cuda/activation_math.cuh"
#include "cuda/elementwise.cuh"
#include "cuda/elementwise_host.h"
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

template <class T>
struct add_relu_f {
  __device__ T operator()(T a, T b) const { return act::relu_act<T>{}.forward(a + b); }
};

// ---- the fused ops' epilogue ----------------------------------------------------------------

// y[i] = f(y[i] + bias[i % cols] + residual[i]); bias and residual may be null.
template <class T, class F>
__global__ void epilogue_kernel(int64_t n, int64_t cols, T* y, const T* bias, const T* residual,
                                F f) {
  DUET_EW_LOOP(i, n) {
    T v = y[i];
    if (bias) v = v + bias[i % cols];
    if (residual) v = v + residual[i];
    y[i] = static_cast<T>(f.forward(v));
  }
}

}  // namespace

DUET_ACTIVATIONS(DUET_DEFINE_ACTIVATION_KERNELS)

void add_relu(const KernelArgs& k) {
  detail::dispatch_floating(k.outputs[0].dtype(), "add_relu", [&](auto tag) {
    using T = decltype(tag);
    ew::binary_same_shape<T, T, T>(k.inputs[0], k.inputs[1], k.outputs[0], add_relu_f<T>{},
                                   "add_relu");
  });
}

void bias_activation_epilogue(void* y, const void* bias, const void* residual, int64_t rows,
                              int64_t cols, DType dtype, kernels::Activation a,
                              const Attrs& attrs, cudaStream_t stream, const char* op) {
  const int64_t n = rows * cols;
  if (n == 0 || (a == kernels::Activation::none && !bias && !residual)) return;
  detail::dispatch_floating(dtype, op, [&](auto tag) {
    using T = decltype(tag);
    T* py = static_cast<T*>(y);
    const T* pb = static_cast<const T*>(bias);
    const T* pr = static_cast<const T*>(residual);
    act::visit_activation<T>(a, attrs, [&](const auto& f) {
      using Formula = std::decay_t<decltype(f)>;
      epilogue_kernel<T, Formula>
          <<<cuda_backend::blocks_for(n), ew::kThreads, 0, stream>>>(n, cols, py, pb, pr, f);
      DUET_CUDA_CHECK_LAUNCH();
    });
  });
}

}  // namespace duet::cuda_kernels

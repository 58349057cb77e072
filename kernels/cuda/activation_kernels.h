// CUDA kernels for activations, their fused gradients and add_relu (the same ops, attrs and
// formulas as kernels/cpu/activation_kernels.h and add_relu in kernels/cpu/fused_kernels.h).
// Declarations only: no CUDA headers.
#pragma once

#include "ops/op_def.h"

namespace duet::cuda_kernels {

// Forward: inputs x; output y = f(x).
void relu(const KernelArgs& k);
void relu6(const KernelArgs& k);
void leaky_relu(const KernelArgs& k);  // attrs: negative_slope
void sigmoid(const KernelArgs& k);
void tanh(const KernelArgs& k);
void silu(const KernelArgs& k);
void hardsigmoid(const KernelArgs& k);
void hardswish(const KernelArgs& k);
void gelu(const KernelArgs& k);  // attrs: tanh_approximation

// Backward: inputs grad and the saved tensor (y or x, same shape); output grad * f'(x).
void relu_backward(const KernelArgs& k);         // grad, y
void relu6_backward(const KernelArgs& k);        // grad, y
void leaky_relu_backward(const KernelArgs& k);   // grad, x; attrs: negative_slope
void sigmoid_backward(const KernelArgs& k);      // grad, y
void tanh_backward(const KernelArgs& k);         // grad, y
void silu_backward(const KernelArgs& k);         // grad, x
void hardsigmoid_backward(const KernelArgs& k);  // grad, x
void hardswish_backward(const KernelArgs& k);    // grad, x
void gelu_backward(const KernelArgs& k);         // grad, x; attrs: tanh_approximation

// Fused: inputs a, b of one shape -> relu(a + b).
void add_relu(const KernelArgs& k);

}  // namespace duet::cuda_kernels

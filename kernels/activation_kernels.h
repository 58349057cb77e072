// Activation kernels and their fused gradients, for the CPU (kernels/cpu/activation_kernels.cpp)
// and CUDA (kernels/cuda/activation_kernels.cu): one forward and one backward kernel per entry
// of DUET_ACTIVATIONS (kernels/activations.h), PyTorch's definitions.
//
//   cpu_kernels::relu(k);           // inputs: x; output y = relu(x)
//   cuda_kernels::relu_backward(k); // inputs: grad, y; output grad * relu'(x)
//
// Forward: inputs x; output y = f(x); attrs: the activation's (negative_slope, ...).
// Backward (name_backward): inputs grad and the saved tensor (y or x, as the list says, same
// shape); output grad * f'(x).
#pragma once

#include "activations.h"
#include "kernel_api.h"

#define DUET_ACTIVATION_KERNEL_PAIR(name, ...) \
  void name(const ::duet::KernelArgs& k);      \
  void name##_backward(const ::duet::KernelArgs& k);

namespace duet::cpu_kernels {
DUET_ACTIVATIONS(DUET_ACTIVATION_KERNEL_PAIR)
}  // namespace duet::cpu_kernels
namespace duet::cuda_kernels {
DUET_ACTIVATIONS(DUET_ACTIVATION_KERNEL_PAIR)
}  // namespace duet::cuda_kernels

// Every CUDA kernel of libduet_cuda.so, by op id: the loader calls register_kernels() once,
// when it opens this library, and each entry fills its op's CUDA slots in the op table
// (register_kernel: OpDef::kernels[cuda] and OpDef::workspace[cuda]). Ops with no entry
// (views, to_device) need no kernel; a new op with a CUDA kernel gets one line here.
//
// float16 / bfloat16: the ops of DUET_CUDA_NATIVE_LOW_PRECISION below run those dtypes in their
// own kernels (registered with kNativeBFloat16 | kNativeFloat16: cuBLAS / cuDNN with float32
// accumulation, elementwise kernels that compute in float32 and round on the store); every
// other op with low_precision runs its float32 kernel through the float32 round trip
// (ops/prepare.h), whose conversions are the cast kernel's.
#include "activation_kernels.h"
#include "amp_kernels.h"
#include "binary_kernels.h"
#include "conv_kernels.h"
#include "cuda/runtime.h"
#include "fused_kernels.h"
#include "linalg_kernels.h"
#include "loss_kernels.h"
#include "norm_kernels.h"
#include "ops/op_def.h"
#include "optim_kernels.h"
#include "pool_kernels.h"
#include "random_kernels.h"
#include "reduce_kernels.h"
#include "shape_kernels.h"
#include "unary_kernels.h"

namespace duet::cuda_backend {
namespace {

// linear_grad_adam_step_: the whole dW (out, in), the output of one cuBLAS GEMM.
size_t linear_grad_adam_step_workspace(std::span<const TensorMeta> in, std::span<const TensorMeta>,
                                       const Attrs&) {
  return static_cast<size_t>(in[2].shape[0] * in[2].shape[1]) * dtype_size(in[2].dtype);
}

struct KernelEntry {
  OpId op;
  KernelFn kernel;
  WorkspaceFn workspace = nullptr;
};

// X(op id, kernel): ops whose CUDA kernel has the op's name (the activations and the binary
// ops: below, from their own lists).
// clang-format off
#define DUET_CUDA_SAME_NAME(X)                                                                 \
  X(neg) X(exp) X(log) X(sqrt) X(rsqrt) X(abs) X(erf) X(sign) X(add_scalar) X(mul_scalar)      \
  X(rsub_scalar) X(rdiv_scalar) X(clamp) X(clamp_backward)                                     \
  X(matmul) X(linear) X(linear_fused) X(add_relu)                                              \
  X(softmax) X(log_softmax) X(softmax_backward) X(log_softmax_backward) X(cross_entropy)       \
  X(cross_entropy_backward)                                                                    \
  X(batch_norm_train) X(batch_norm_backward) X(channel_affine)                                 \
  X(max_pool2d) X(max_pool2d_backward) X(max_pool2d_gather) X(avg_pool2d)                      \
  X(avg_pool2d_backward) X(adaptive_avg_pool2d) X(adaptive_avg_pool2d_backward)                \
  X(dropout)                                                                                   \
  X(sum) X(mean) X(max) X(argmax) X(max_backward)                                              \
  X(slice_backward) X(sum_to) X(concat) X(pad)
// clang-format on

#define DUET_CUDA_ENTRY(name, ...) {OpId::name, &cuda_kernels::name},
// Each activation of kernels/activations.h and its backward op.
#define DUET_CUDA_ACTIVATION_ENTRIES(name, ...) \
  {OpId::name, &cuda_kernels::name}, {OpId::name##_backward, &cuda_kernels::name##_backward},
const KernelEntry kKernels[] = {
    DUET_ACTIVATIONS(DUET_CUDA_ACTIVATION_ENTRIES) DUET_CUDA_SAME_NAME(DUET_CUDA_ENTRY)
        DUET_BINARY_KERNELS(DUET_CUDA_ENTRY)  // add ... minimum, eq ... ge, where
    // Kernels under another name, or shared by several ops.
    {OpId::pow, &cuda_kernels::pow_scalar},
    {OpId::clone, &cuda_kernels::copy},
    {OpId::cast, &cuda_kernels::copy},
    {OpId::running_stat_update_, &cuda_kernels::running_stat_update},
    {OpId::sgd_step_, &cuda_kernels::sgd_step},
    {OpId::adam_step_, &cuda_kernels::adam_step},
    {OpId::increment_, &cuda_kernels::increment},
    {OpId::sgd_step_multi_, &cuda_kernels::sgd_step_multi},
    {OpId::sgd_momentum_step_multi_, &cuda_kernels::sgd_step_multi},
    {OpId::adam_step_multi_, &cuda_kernels::adam_step_multi},
    {OpId::linear_grad_adam_step_, &cuda_kernels::linear_grad_adam_step,
     &linear_grad_adam_step_workspace},
    // cuDNN convolutions: the workspace query runs cudnnFind for the kernel's key.
    {OpId::conv2d, &cuda_kernels::conv2d, &cuda_kernels::conv2d_workspace},
    {OpId::conv2d_backward_input, &cuda_kernels::conv2d_backward_input,
     &cuda_kernels::conv2d_backward_input_workspace},
    {OpId::conv2d_backward_weight, &cuda_kernels::conv2d_backward_weight,
     &cuda_kernels::conv2d_backward_weight_workspace},
    {OpId::conv2d_fused, &cuda_kernels::conv2d_fused, &cuda_kernels::conv2d_fused_workspace},
    // Loss scaling (duet::amp::GradScaler): every scalar read on the device.
    {OpId::amp_unscale, &cuda_kernels::amp_unscale},
    {OpId::amp_update_scale_, &cuda_kernels::amp_update_scale},
};
#undef DUET_CUDA_ENTRY
#undef DUET_CUDA_SAME_NAME

// Ops whose CUDA kernel reads and writes float16 / bfloat16 itself. A kernel listed here must
// handle both dtypes (tests/cuda/lowp_*_test.cpp compare each with the CPU).
#define DUET_CUDA_LOWP_ACTIVATION(name, ...) OpId::name, OpId::name##_backward,
#define DUET_CUDA_LOWP_ID(name, ...) OpId::name,
// clang-format off
const OpId kNativeLowPrecision[] = {
    DUET_ACTIVATIONS(DUET_CUDA_LOWP_ACTIVATION)
    DUET_BINARY_KERNELS(DUET_CUDA_LOWP_ID)  // add ... minimum, eq ... ge, where
    OpId::cast, OpId::clone, OpId::pad, OpId::concat, OpId::slice_backward,
    OpId::neg, OpId::exp, OpId::log, OpId::sqrt, OpId::rsqrt, OpId::abs, OpId::erf, OpId::sign,
    OpId::add_scalar, OpId::mul_scalar, OpId::rsub_scalar, OpId::rdiv_scalar, OpId::pow,
    OpId::add_relu,
    OpId::matmul, OpId::linear, OpId::linear_fused,
    OpId::conv2d, OpId::conv2d_backward_input, OpId::conv2d_backward_weight, OpId::conv2d_fused,
    OpId::batch_norm_train, OpId::batch_norm_backward, OpId::channel_affine,
    OpId::sum, OpId::mean, OpId::sum_to, OpId::max, OpId::argmax,
    OpId::amp_unscale,
};
// clang-format on
#undef DUET_CUDA_LOWP_ID
#undef DUET_CUDA_LOWP_ACTIVATION

uint8_t native_low_precision(OpId op) {
  for (OpId n : kNativeLowPrecision)
    if (n == op) return kNativeBFloat16 | kNativeFloat16;
  return 0;
}

}  // namespace

void register_kernels() {
  for (const KernelEntry& e : kKernels)
    register_kernel(e.op, DeviceType::cuda, e.kernel, e.workspace, native_low_precision(e.op));
}

}  // namespace duet::cuda_backend

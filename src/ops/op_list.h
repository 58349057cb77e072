// The op index: every op duet has, one list per family, in one place. Each entry is
// X(id, accessor): the op's id (OpId::id, also its name) and the function in the family's
// src/ops/<family>_ops.cpp that defines it with DUET_DEFINE_OP. The OpDef itself (arity,
// shape rule, gradient rule, save masks, traits, FLOP rule, kernels, test samples) is declared
// once, in that file; this list only numbers the ops, so the table is complete at start-up
// (op_table.cpp) and passes can name ops by id instead of by string.
//
// Adding an op: append it to its family's list here and define it in the family's file
// (docs/adding_an_op.md). kNumOps below must change with it; a static_assert says so.
#pragma once

#include <cstdint>

#define DUET_ACTIVATION_OP_LIST(X)                     \
  X(relu, relu_op)                                     \
  X(relu6, relu6_op)                                   \
  X(leaky_relu, leaky_relu_op)                         \
  X(sigmoid, sigmoid_op)                               \
  X(tanh, tanh_op)                                     \
  X(silu, silu_op)                                     \
  X(hardsigmoid, hardsigmoid_op)                       \
  X(hardswish, hardswish_op)                           \
  X(gelu, gelu_op)                                     \
  X(softplus, softplus_op)                             \
  X(relu_backward, relu_backward_op)                   \
  X(relu6_backward, relu6_backward_op)                 \
  X(leaky_relu_backward, leaky_relu_backward_op)       \
  X(sigmoid_backward, sigmoid_backward_op)             \
  X(tanh_backward, tanh_backward_op)                   \
  X(silu_backward, silu_backward_op)                   \
  X(hardsigmoid_backward, hardsigmoid_backward_op)     \
  X(hardswish_backward, hardswish_backward_op)         \
  X(gelu_backward, gelu_backward_op)                   \
  X(softplus_backward, softplus_backward_op)

#define DUET_UNARY_OP_LIST(X)        \
  X(neg, neg_op)                     \
  X(exp, exp_op)                     \
  X(log, log_op)                     \
  X(sqrt, sqrt_op)                   \
  X(rsqrt, rsqrt_op)                 \
  X(abs, abs_op)                     \
  X(erf, erf_op)                     \
  X(sign, sign_op)                   \
  X(add_scalar, add_scalar_op)       \
  X(mul_scalar, mul_scalar_op)       \
  X(rsub_scalar, rsub_scalar_op)     \
  X(rdiv_scalar, rdiv_scalar_op)     \
  X(pow, pow_op)                     \
  X(clamp, clamp_op)                 \
  X(clamp_backward, clamp_backward_op)

#define DUET_BINARY_OP_LIST(X) \
  X(add, add_op)               \
  X(sub, sub_op)               \
  X(mul, mul_op)               \
  X(div, div_op)               \
  X(maximum, maximum_op)       \
  X(minimum, minimum_op)       \
  X(eq, eq_op)                 \
  X(ne, ne_op)                 \
  X(lt, lt_op)                 \
  X(le, le_op)                 \
  X(gt, gt_op)                 \
  X(ge, ge_op)                 \
  X(where, where_op)

#define DUET_LINALG_OP_LIST(X) \
  X(matmul, matmul_op)         \
  X(linear, linear_op)

#define DUET_CONV_OP_LIST(X)                             \
  X(conv2d, conv2d_op)                                   \
  X(conv2d_backward_input, conv2d_backward_input_op)     \
  X(conv2d_backward_weight, conv2d_backward_weight_op)

#define DUET_POOL_OP_LIST(X)                                       \
  X(max_pool2d, max_pool2d_op)                                     \
  X(max_pool2d_backward, max_pool2d_backward_op)                   \
  X(max_pool2d_gather, max_pool2d_gather_op)                       \
  X(avg_pool2d, avg_pool2d_op)                                     \
  X(avg_pool2d_backward, avg_pool2d_backward_op)                   \
  X(adaptive_avg_pool2d, adaptive_avg_pool2d_op)                   \
  X(adaptive_avg_pool2d_backward, adaptive_avg_pool2d_backward_op)

#define DUET_NORM_OP_LIST(X)                          \
  X(batch_norm_train, batch_norm_train_op)            \
  X(batch_norm_backward, batch_norm_backward_op)      \
  X(channel_affine, channel_affine_op)                \
  X(running_stat_update_, running_stat_update_op)

#define DUET_REDUCE_OP_LIST(X) \
  X(sum, sum_op)               \
  X(mean, mean_op)             \
  X(max, max_op)               \
  X(argmax, argmax_op)         \
  X(max_backward, max_backward_op)

#define DUET_LOSS_OP_LIST(X)                              \
  X(softmax, softmax_op)                                  \
  X(log_softmax, log_softmax_op)                          \
  X(softmax_backward, softmax_backward_op)                \
  X(log_softmax_backward, log_softmax_backward_op)        \
  X(cross_entropy, cross_entropy_op)                      \
  X(cross_entropy_backward, cross_entropy_backward_op)

#define DUET_SHAPE_OP_LIST(X)          \
  X(reshape, reshape_op)               \
  X(permute, permute_op)               \
  X(slice, slice_op)                   \
  X(slice_backward, slice_backward_op) \
  X(expand, expand_op)                 \
  X(sum_to, sum_to_op)                 \
  X(concat, concat_op)                 \
  X(pad, pad_op)                       \
  X(clone, clone_op)                   \
  X(cast, cast_op)                     \
  X(to_device, to_device_op)

#define DUET_RANDOM_OP_LIST(X) X(dropout, dropout_op)

#define DUET_FUSED_OP_LIST(X)        \
  X(conv2d_fused, conv2d_fused_op)   \
  X(linear_fused, linear_fused_op)   \
  X(add_relu, add_relu_op)

#define DUET_OPTIM_OP_LIST(X)                                      \
  X(sgd_step_, sgd_step_op)                                        \
  X(adam_step_, adam_step_op)                                      \
  X(increment_, increment_op)                                      \
  X(sgd_step_multi_, sgd_step_multi_def)                           \
  X(sgd_momentum_step_multi_, sgd_momentum_step_multi_def)         \
  X(adam_step_multi_, adam_step_multi_def)                         \
  X(linear_grad_adam_step_, linear_grad_adam_step_def)

// Collectives over the process group (graph-mode data parallelism, src/distributed/).
#define DUET_COLLECTIVE_OP_LIST(X)         \
  X(all_reduce_start, all_reduce_start_op) \
  X(all_reduce_wait, all_reduce_wait_op)   \
  X(all_reduce_sum, all_reduce_sum_op)

// The blocked channel layout of CPU inference (kernels/nchwc_kernels.h): reorders, weight
// packing and the kernels on nChw16c values. Only the graph's layout pass emits them.
#define DUET_NCHWC_OP_LIST(X)                                \
  X(to_nchwc, to_nchwc_op)                                   \
  X(from_nchwc, from_nchwc_op)                               \
  X(nchwc_pack_weight, nchwc_pack_weight_op)                 \
  X(conv2d_nchwc, conv2d_nchwc_op)                           \
  X(depthwise_conv2d_nchwc, depthwise_conv2d_nchwc_op)       \
  X(max_pool2d_nchwc, max_pool2d_nchwc_op)                   \
  X(avg_pool2d_nchwc, avg_pool2d_nchwc_op)                   \
  X(global_avg_pool_nchwc, global_avg_pool_nchwc_op)

// Loss scaling (duet::amp::GradScaler, src/ops/amp_ops.cpp): the gradients' inf/NaN check and
// unscale, and the dynamic scale's update (on the device, read by no host code).
#define DUET_AMP_OP_LIST(X)      \
  X(amp_unscale, amp_unscale_op) \
  X(amp_update_scale_, amp_update_scale_op)

#define DUET_ALL_OP_LISTS(X) \
  DUET_ACTIVATION_OP_LIST(X) \
  DUET_UNARY_OP_LIST(X)      \
  DUET_BINARY_OP_LIST(X)     \
  DUET_LINALG_OP_LIST(X)     \
  DUET_CONV_OP_LIST(X)       \
  DUET_POOL_OP_LIST(X)       \
  DUET_NORM_OP_LIST(X)       \
  DUET_REDUCE_OP_LIST(X)     \
  DUET_LOSS_OP_LIST(X)       \
  DUET_SHAPE_OP_LIST(X)      \
  DUET_RANDOM_OP_LIST(X)     \
  DUET_FUSED_OP_LIST(X)      \
  DUET_OPTIM_OP_LIST(X)      \
  DUET_COLLECTIVE_OP_LIST(X) \
  DUET_NCHWC_OP_LIST(X)      \
  DUET_AMP_OP_LIST(X)

namespace duet {

// OpId::relu, OpId::adam_step_, ...; op_name(id) is the op's name.
enum class OpId : uint16_t {
#define DUET_OP_ID_ENUM(id, accessor) id,
  DUET_ALL_OP_LISTS(DUET_OP_ID_ENUM)
#undef DUET_OP_ID_ENUM
      count
};

// Written out on purpose (ggml's GGML_OP_COUNT check): adding an op to a list without
// updating this number fails to compile, so the count is a decision, not an accident.
inline constexpr int kNumOps = 110;
static_assert(static_cast<int>(OpId::count) == kNumOps,
              "an op was added to or removed from src/ops/op_list.h: update kNumOps");

// The op's name ("relu", "adam_step_"), from the list above.
const char* op_name(OpId id);

}  // namespace duet

// CPU kernels for the fused ops: conv2d_fused, linear_fused, add_relu.
//
// conv2d_fused / linear_fused run the conv2d / linear kernel into the output (the bias add is
// inside those kernels), then one blocked epilogue pass over the output: + residual, then the
// activation, 2048 elements at a time so each block stays in L1 between the two steps. The
// epilogue computes exactly what the add and activation kernels compute (same float ops, same
// order, same Eigen expressions on the same blocks), so fused results equal unfused ones.
#pragma once

#include <string>

#include "ops/op_def.h"

namespace duet::cpu_kernels {

enum class Activation { none, relu, relu6, sigmoid, silu, hardswish };
// Throws duet::Error naming `op` for an unknown name.
Activation parse_activation(const std::string& name, const char* op);

// y = activation(y + residual) in place; residual null or of y's shape and dtype.
void epilogue(const Tensor& y, const Tensor* residual, Activation act);

// inputs: x (N, C, H, W), w (O, C/g, KH, KW) [, b (O)] [, residual (N, O, OH, OW)];
// attrs: the conv2d attrs, activation (string), has_bias, has_residual.
void conv2d_fused(const KernelArgs& k);
// inputs: x (..., in), w (out, in) [, b (out)]; attrs: activation, has_bias.
void linear_fused(const KernelArgs& k);
// inputs: a, b of one shape -> relu(a + b); one pass, safe in place over a.
void add_relu(const KernelArgs& k);

}  // namespace duet::cpu_kernels

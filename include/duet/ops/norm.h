// Batch normalisation over the channel axis of (N, C, ...) tensors.
//
//   // training: normalise with batch statistics and update the running ones in place
//   auto y = duet::batch_norm(x, gamma, beta, running_mean, running_var, /*training=*/true);
//   // inference: normalise with the running statistics
//   auto z = duet::batch_norm(x, gamma, beta, running_mean, running_var, false);
#pragma once

#include "duet/tensor.h"

namespace duet {

// weight/bias (C) may be undefined (no affine). running_mean/var (C) may be undefined in
// training (no update); they are required for inference. The running update is
// running = (1 - momentum) * running + momentum * batch_stat, with the unbiased variance,
// exactly as PyTorch, and happens outside autograd.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                  const Tensor& running_mean, const Tensor& running_var, bool training,
                  double momentum = 0.1, double eps = 1e-5,
                  std::source_location loc = std::source_location::current());

// The pieces, ops of their own:
// batch_norm_train: x (N, C, ...), weight (C), bias (C) -> y, mean (C), invstd (C), var (C)
// with var the biased batch variance and invstd = 1 / sqrt(var + eps). Only y is
// differentiable (gradients reaching mean / invstd / var are ignored).
std::vector<Tensor> batch_norm_train(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                     double eps,
                                     std::source_location loc = std::source_location::current());
// batch_norm_backward: grad_y, x, weight, mean, invstd -> grad_x, grad_weight, grad_bias
// (not differentiable itself: no double backward through training-mode batch norm).
std::vector<Tensor> batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight,
                                        const Tensor& mean, const Tensor& invstd,
                                        std::source_location loc = std::source_location::current());
// In place, no gradient: running = (1 - momentum) * running + momentum * stat * correction.
void running_stat_update_(const Tensor& running, const Tensor& stat, double momentum,
                          double correction = 1.0,
                          std::source_location loc = std::source_location::current());
// y[n, c, ...] = x[n, c, ...] * scale[c] + shift[c], one pass; x (N, C, ...), scale/shift (C).
// The inference path of batch_norm (scale = w / sqrt(var + eps), shift = b - mean * scale).
Tensor channel_affine(const Tensor& x, const Tensor& scale, const Tensor& shift,
                      std::source_location loc = std::source_location::current());

}  // namespace duet

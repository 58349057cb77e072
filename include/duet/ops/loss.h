// Softmax family and losses.
//
//   auto p = duet::softmax(logits, 1);
//   auto loss = duet::cross_entropy(logits, labels);   // logits (N, C), labels (N) int64
//   auto l2 = duet::mse_loss(pred, target);            // mean squared error
#pragma once

#include "duet/tensor.h"

namespace duet {

Tensor softmax(const Tensor& x, int64_t axis,
               std::source_location loc = std::source_location::current());
Tensor log_softmax(const Tensor& x, int64_t axis,
                   std::source_location loc = std::source_location::current());
// Mean over the batch of -log softmax(logits)[label], with optional label smoothing
// (PyTorch's definition). labels out of [0, C) throw duet::Error naming the value.
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, double label_smoothing = 0.0,
                     std::source_location loc = std::source_location::current());
// mean((p - t)^2)
Tensor mse_loss(const Tensor& prediction, const Tensor& target,
                std::source_location loc = std::source_location::current());

// ---- fused gradients (each one op with its own kernel; used by the gradient rules) ----
// y = softmax(x, axis): grad_x = y * (grad - sum(grad * y, axis))
Tensor softmax_backward(const Tensor& grad, const Tensor& y, int64_t axis,
                        std::source_location loc = std::source_location::current());
// y = log_softmax(x, axis): grad_x = grad - exp(y) * sum(grad, axis)
Tensor log_softmax_backward(const Tensor& grad, const Tensor& y, int64_t axis,
                            std::source_location loc = std::source_location::current());
// grad: () the loss gradient; log_probs: (N, C) log_softmax(logits, 1); labels: (N) int64.
// Returns (N, C): (softmax - smoothed one-hot) * grad / N.
Tensor cross_entropy_backward(const Tensor& grad, const Tensor& log_probs, const Tensor& labels,
                              double label_smoothing = 0.0,
                              std::source_location loc = std::source_location::current());

}  // namespace duet

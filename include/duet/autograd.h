// Autograd controls: grad mode, no_grad scopes, multi-root backward.
//
//   {
//     duet::NoGradGuard no_grad;   // ops inside record nothing
//     w.copy_(w - lr * w.grad());
//   }
//   loss.backward();               // see Tensor::backward
#pragma once

#include <vector>

#include "duet/tensor.h"

namespace duet {

bool grad_enabled();
void set_grad_enabled(bool enabled);

// RAII scope in which no op records a tape entry (thread-local).
class NoGradGuard {
 public:
  NoGradGuard() : prev_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// Backpropagates from several roots at once; grads[i] may be undefined for one-element roots.
void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads = {},
              bool retain_graph = false);

}  // namespace duet

// Autograd controls: grad mode, no_grad scopes, multi-root backward.
//
//   {
//     duet::NoGradGuard no_grad;   // ops inside record nothing
//     w.copy_(w - lr * w.grad());
//   }
//   loss.backward();               // see Tensor::backward
#pragma once

#include <cstdint>
#include <functional>
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

// ---- hooks (what DistributedDataParallel overlaps communication with) ----
// Calls fn(leaf) when a backward has accumulated the last gradient it sends to `leaf` (a
// tensor with requires_grad and no grad_fn: a parameter): leaf.grad() is final for this
// backward then. Fires at most once per backward, on the thread running backward, during it.
// Returns an id for remove_grad_ready_hook.
using GradReadyHook = std::function<void(const Tensor& leaf)>;
int64_t add_grad_ready_hook(const Tensor& leaf, GradReadyHook fn);
void remove_grad_ready_hook(int64_t id);
// Runs fn once when the backward running on this thread has finished (after the last
// gradient was accumulated, before backward() returns; also when it throws, then with the
// error pending). Outside a backward: a duet::Error.
void queue_backward_callback(std::function<void()> fn);
bool in_backward();

}  // namespace duet

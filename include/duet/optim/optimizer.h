// Optimizer base: a list of parameters, a learning rate and per-parameter state.
//
//   duet::optim::SGD opt(net->parameters(), /*lr=*/0.1, /*momentum=*/0.9);
//   for (auto& batch : loader) {
//     opt.zero_grad();
//     auto loss = duet::cross_entropy((*net)(batch.x), batch.y);
//     loss.backward();
//     opt.step();                  // parameters without a gradient are skipped
//   }
//   opt.state(0).get("momentum_buffer");   // inspect the state of parameter 0
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "duet/tensor.h"

namespace duet::optim {

// One parameter's state, PyTorch names: "momentum_buffer" (SGD), "exp_avg", "exp_avg_sq" (Adam).
struct ParamState {
  int64_t step = 0;  // updates applied to this parameter
  std::vector<std::pair<std::string, Tensor>> tensors;
  Tensor get(const std::string& key) const;  // undefined when absent
  void set(const std::string& key, const Tensor& t);
};

class Optimizer {
 public:
  // Parameters must be defined floating leaf tensors.
  Optimizer(std::vector<Tensor> params, double lr, std::string name);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual void step() = 0;
  // Applies one update with the given gradients (one per parameter; undefined ones are
  // skipped). With symbolic gradients (graph mode) this records the update ops into the
  // graph being built instead of running them.
  virtual void apply_gradients(const std::vector<Tensor>& grads);
  void zero_grad();  // drops every parameter's gradient (PyTorch's set_to_none=True)

  double lr() const { return lr_; }
  void set_lr(double lr);
  const std::string& name() const { return name_; }
  const std::vector<Tensor>& params() const { return params_; }
  const ParamState& state(size_t param_index) const;

 protected:
  std::vector<Tensor> params_;
  std::vector<ParamState> state_;  // one per parameter
  double lr_;
  std::string name_;
};

}  // namespace duet::optim

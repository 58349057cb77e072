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
//
//   auto sd = opt.state_dict();    // {name "SGD", hyperparameters {lr, momentum, ...},
//                                  //  state {"0.step", "0.momentum_buffer", "1.step", ...}}
//   other.load_state_dict(sd);     // validates everything, then copies in place
//
// Graph mode: every value that changes between steps lives in a tensor the optimizer owns —
// the learning rate (lr_tensor(), float64 scalar) and each parameter's step count (state
// key "step", int64 scalar) — and all state tensors are created (zeros) in the constructor,
// so an eager step() and a compiled training graph update the very same tensors, and
// set_lr() takes effect in an already compiled graph.
//
//   auto exe = duet::compile(g, {loss}, {.training = true, .optimizer = &opt});
//   opt.set_lr(0.01);            // the next exe.run() uses 0.01
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "duet/tensor.h"

namespace duet::optim {

// An optimizer's state as plain data (PyTorch's optimizer.state_dict(), flattened): the
// optimizer's name, its hyper-parameters (lr first; booleans as 0/1) and every per-parameter
// state tensor under "<parameter index>.<key>" ("0.step", "0.exp_avg", ...). state_dict()
// returns the live tensors (not copies): clone them to keep a snapshot.
struct OptimizerStateDict {
  std::string name{};
  std::vector<std::pair<std::string, double>> hyperparameters{};
  std::vector<std::pair<std::string, Tensor>> state{};
};

// One parameter's state, PyTorch names: "step" (int64 scalar, updates applied to this
// parameter), "momentum_buffer" (SGD with momentum), "exp_avg", "exp_avg_sq" (Adam).
struct ParamState {
  std::vector<std::pair<std::string, Tensor>> tensors{};
  Tensor get(const std::string& key) const;  // undefined when absent
  void set(const std::string& key, const Tensor& t);
  int64_t step() const;  // reads the "step" tensor (0 when absent)
};

class Optimizer {
 public:
  // Parameters must be defined floating leaf tensors.
  Optimizer(std::vector<Tensor> params, double lr, std::string name);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update with each parameter's .grad() (parameters without a gradient are skipped).
  void step();
  // Applies one update with the given gradients (one per parameter; undefined ones are
  // skipped). With symbolic gradients (graph mode) this records the update ops into the
  // graph being built instead of running them.
  virtual void apply_gradients(const std::vector<Tensor>& grads) = 0;
  // Loss scaling (duet::amp::GradScaler, duet/amp.h): apply_gradients(grads), except that the
  // update ops do nothing when found_inf (a float32 scalar on the parameters' device, 0 or 1)
  // is nonzero, decided on the device (no host read; in graph mode the gate is an input of the
  // recorded update ops). A skipped step leaves parameters and all state (moments, buffers,
  // step counts) bit-identical. Throws duet::Error when !skips_on_device().
  void apply_gradients_unless_inf(const std::vector<Tensor>& grads, const Tensor& found_inf);
  // Whether apply_gradients honours found_inf_ (SGD, Adam and AdamW do).
  virtual bool skips_on_device() const { return false; }
  void zero_grad();  // drops every parameter's gradient (PyTorch's set_to_none=True)

  double lr() const;       // reads lr_tensor()
  void set_lr(double lr);  // writes lr_tensor() in place
  // The learning rate as a float64 scalar tensor, read by the update ops at run time.
  const Tensor& lr_tensor() const { return lr_; }
  const std::string& name() const { return name_; }
  const std::vector<Tensor>& params() const { return params_; }
  const ParamState& state(size_t param_index) const;

  OptimizerStateDict state_dict() const;
  // Validates everything first (the name; the hyper-parameter names, exactly, and values,
  // with the constructor's checks; every state key, exactly, with its shape and dtype) and
  // changes nothing on error: the duet::Error names the first mismatching key and both
  // shapes/dtypes. Then copies the state into the EXISTING tensors in place (compiled graphs
  // hold them) and sets the hyper-parameters (lr through lr_tensor(), in place).
  void load_state_dict(const OptimizerStateDict& dict);

  // The hyper-parameters, lr first, as state_dict() reports them.
  std::vector<std::pair<std::string, double>> hyperparameters() const;

 protected:
  // The subclass's own hyper-parameters (after lr), and their validation and assignment:
  // check_hyperparameters gets a full set in the order extra_hyperparameters() gives and
  // throws duet::Error for an invalid value; set_extra_hyperparameters then cannot fail.
  virtual std::vector<std::pair<std::string, double>> extra_hyperparameters() const { return {}; }
  virtual void check_hyperparameters(const std::vector<std::pair<std::string, double>>&) const {}
  virtual void set_extra_hyperparameters(const std::vector<std::pair<std::string, double>>&) {}

  // Checks grads against params_ (count; shape/dtype of the defined ones).
  void check_grads(const std::vector<Tensor>& grads) const;
  // Adds a zero-filled state tensor shaped like parameter i under `key`.
  Tensor add_state_like_param(size_t i, const std::string& key);

  std::vector<Tensor> params_;
  std::vector<ParamState> state_;  // one per parameter, with its "step" tensor
  // During apply_gradients_unless_inf: the gate to pass to the update ops; else undefined.
  Tensor found_inf_;
  Tensor lr_;                      // float64 scalar
  std::string name_;
};

}  // namespace duet::optim

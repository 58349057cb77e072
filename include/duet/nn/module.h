// duet::nn::Module: the base of every layer. Holds named parameters, buffers and child
// modules in registration order, and gives them PyTorch's state_dict names.
//
//   struct Net : duet::nn::Module {
//     std::shared_ptr<duet::nn::Linear> fc1, fc2;
//     Net() : Module("Net") {
//       fc1 = register_module("fc1", std::make_shared<duet::nn::Linear>(784, 128));
//       fc2 = register_module("fc2", std::make_shared<duet::nn::Linear>(128, 10));
//     }
//     duet::Tensor forward(const duet::Tensor& x) override {
//       return (*fc2)(duet::relu((*fc1)(x)));
//     }
//   };
//   auto net = std::make_shared<Net>();
//   net->state_dict();         // {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
//   net->eval();               // recursive
//   net->load_state_dict(sd);  // throws duet::Error naming the key; all-or-nothing
//
// A registered parameter is a tensor handle shared by the module's member (e.g.
// Linear::weight) and the registry. Change values in place (copy_ under NoGradGuard, or
// load_state_dict), never by assigning a new tensor to the member.
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "duet/source_location.h"
#include "duet/tensor.h"

namespace duet::nn {

// Ordered (name, tensor) pairs, PyTorch names: "layer1.0.conv1.weight", "bn1.running_mean".
using StateDict = std::vector<std::pair<std::string, Tensor>>;

// The tensor stored under `name`, or an undefined tensor when there is none.
Tensor find(const StateDict& dict, const std::string& name);
// A deep copy of every tensor in `dict` (detached), e.g. to snapshot a model's state and
// restore it later with load_state_dict.
StateDict clone_state_dict(const StateDict& dict);

class Module {
 public:
  explicit Module(std::string type_name = "Module");
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // ---- running ----
  // The default throws duet::Error: containers and custom modules override it.
  virtual Tensor forward(const Tensor& x);
  // Runs forward; graph nodes created inside carry the caller's source location.
  Tensor operator()(const Tensor& x, std::source_location loc = std::source_location::current());

  // ---- registration (in order; names must be unique and contain no '.') ----
  // Parameters are leaves that require grad (set here when the tensor is floating).
  Tensor register_parameter(const std::string& name, Tensor tensor);
  // Non-persistent buffers are not part of state_dict().
  Tensor register_buffer(const std::string& name, Tensor tensor, bool persistent = true);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

  // ---- inspection (recursive, PyTorch order: own entries first, then each child) ----
  // A tensor shared by several modules is listed once (under its first name).
  StateDict named_parameters(bool recurse = true) const;
  StateDict named_buffers(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const {
    return children_;
  }
  // This module ("") and every descendant, pre-order, with dotted names.
  std::vector<std::pair<std::string, Module*>> named_modules();
  int64_t num_parameters() const;  // total element count

  // Parameters then persistent buffers of each module, pre-order. The tensors are the live
  // handles (not copies): clone them to snapshot.
  StateDict state_dict() const;
  // Copies every tensor of `dict` into the matching parameter/buffer (dtype converted).
  // Validates everything first: a missing key (strict), an unexpected key (strict) or a
  // shape mismatch throws duet::Error naming the key (and both shapes) and changes nothing.
  void load_state_dict(const StateDict& dict, bool strict = true);

  // ---- modes ----
  void train(bool on = true);  // recursive
  void eval() { train(false); }
  bool training_flag() const { return training_; }  // the flag set by train()/eval()
  // The mode forward() uses: while a graph is being recorded on this thread (is_tracing()),
  // the graph's GraphOptions::training, never this module's own flag; otherwise the flag.
  bool is_training() const;

  void zero_grad();  // drops every parameter's gradient

  // ---- devices ----
  // Moves every parameter and buffer (and existing gradients) to `device`, in place: the
  // handles the module's members and any optimizer hold now point at device memory (like
  // PyTorch's module.to). Create optimizers after moving. Throws duet::Error when the
  // device is not available, before moving anything.
  void to(Device device);

  // ---- printing ----
  const std::string& type_name() const { return type_name_; }
  // The text inside the parentheses of this module's line, e.g. "784, 128, bias=true".
  virtual std::string extra_repr() const { return ""; }
  std::string repr() const;  // PyTorch-style tree

 private:
  struct Entry {
    std::string name;
    Tensor tensor;
    bool persistent = true;
  };
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name, const char* what) const;
  void collect(const std::string& prefix, bool params, bool buffers, bool persistent_only,
               bool recurse, StateDict& out) const;
  void repr_into(std::ostream& os, int indent) const;

  std::string type_name_;
  bool training_ = true;
  std::vector<Entry> params_;
  std::vector<Entry> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

std::ostream& operator<<(std::ostream& os, const Module& m);

}  // namespace duet::nn

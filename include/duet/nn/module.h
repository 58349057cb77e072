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
//   net->load_state_dict(sd);  // throws duet::Error naming every bad key; all-or-nothing
//   auto r = net->load_state_dict(sd, /*strict=*/false);  // r.missing_keys, r.unexpected_keys
//
// Several inputs (or outputs): override forward_many instead and call (*m)(a, b):
//
//   struct Pair : duet::nn::Module {
//     Pair() : Module("Pair") {}
//     std::vector<duet::Tensor> forward_many(const std::vector<duet::Tensor>& in) override {
//       return {duet::add(in[0], in[1])};
//     }
//   };
//   duet::Tensor y = (*pair)(a, b);         // one output
//   std::vector<duet::Tensor> ys = (*pair)({a, b});  // every output
//
// An error raised inside a module call names the module's path in the model:
//   "layer1.0.conv1 (Conv2d): conv2d: input has shape ..."
//
// Layers with an options struct: std::make_shared cannot take a braced list ({.padding = 1}),
// nn::make can: duet::nn::make<duet::nn::Conv2d>(1, 16, 3, {.padding = 1}).
//
// A registered parameter is a tensor handle shared by the module's member (e.g.
// Linear::weight) and the registry. Change values in place (copy_ under NoGradGuard, or
// load_state_dict), never by assigning a new tensor to the member.
#pragma once

#include <concepts>
#include <memory>
#include <ostream>
#include <string>
#include <type_traits>
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

// What a load_state_dict(strict = false) left out (PyTorch's _IncompatibleKeys): model keys
// the dict lacks, and dict keys the model lacks, each in state_dict order.
struct LoadReport {
  std::vector<std::string> missing_keys{};
  std::vector<std::string> unexpected_keys{};
  bool ok() const { return missing_keys.empty() && unexpected_keys.empty(); }
  // "missing keys: 'a', 'b'; unexpected keys: 'c'" or "all keys matched"
  std::string str() const;
};

class Module {
 public:
  explicit Module(std::string type_name = "Module");
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // ---- running ----
  // One input, one output: override forward. Several inputs or outputs: override
  // forward_many. Each default calls the other (forward(x) = forward_many({x})[0]); a module
  // overriding neither throws duet::Error when called.
  virtual Tensor forward(const Tensor& x);
  virtual std::vector<Tensor> forward_many(const std::vector<Tensor>& inputs);
  // Run forward / forward_many. Graph nodes created inside carry the caller's source
  // location; a duet::Error raised inside names this module's path in the model
  // ("layer1.0.conv1 (Conv2d): ..."). The two- and three-input forms expect one output.
  Tensor operator()(const Tensor& x, std::source_location loc = std::source_location::current());
  Tensor operator()(const Tensor& a, const Tensor& b,
                    std::source_location loc = std::source_location::current());
  Tensor operator()(const Tensor& a, const Tensor& b, const Tensor& c,
                    std::source_location loc = std::source_location::current());
  std::vector<Tensor> operator()(const std::vector<Tensor>& inputs,
                                 std::source_location loc = std::source_location::current());

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
  // Validates everything first: missing keys (strict), unexpected keys (strict), shape or
  // device mismatches throw one duet::Error listing every problem (at most ~2,000
  // characters; the count of those left out is given) and change nothing. Non-strict: the
  // keys present are loaded and the report lists the missing and unexpected ones.
  // An optional buffer (set_buffer_optional: BatchNorm's num_batches_tracked) may be absent
  // even when strict; it is then reset to 0, as PyTorch does, and not reported.
  LoadReport load_state_dict(const StateDict& dict, bool strict = true);
  // load_state_dict may omit buffer `name` of this module (see above).
  void set_buffer_optional(const std::string& name);

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
    bool optional = false;  // load_state_dict may omit it
  };
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name, const char* what) const;
  void collect(const std::string& prefix, bool params, bool buffers, bool persistent_only,
               bool recurse, StateDict& out, std::vector<std::string>* optional = nullptr) const;
  void repr_into(std::ostream& os, int indent) const;

  std::string type_name_;
  bool training_ = true;
  std::vector<Entry> params_;
  std::vector<Entry> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

std::ostream& operator<<(std::ostream& os, const Module& m);

// The modules whose operator() is running on this thread, outermost first, and the dotted
// path of the innermost one in the outermost ("layer1.0.conv1"; "" for the outermost itself;
// a module called without being registered in its caller shows as "<Type>").
const std::vector<Module*>& module_call_stack();
std::string module_call_path();

// std::make_shared<T>(args...), where an options struct may be written as a braced list:
//   auto conv = duet::nn::make<duet::nn::Conv2d>(1, 16, 3, {.padding = 1});
//   auto pool = duet::nn::make<duet::nn::MaxPool2d>({.kernel = 3, .stride = 2, .padding = 1});
// (make_shared cannot: a template cannot deduce a type from a braced list.) Works for modules
// that name their options struct T::Options (Conv2d, MaxPool2d, AvgPool2d), with up to three
// arguments before it; any other call is forwarded to make_shared as is.
namespace make_impl {
template <class T, class... A>
concept passes_options = requires { typename T::Options; } &&
                         (std::same_as<std::remove_cvref_t<A>, typename T::Options> || ...);
}  // namespace make_impl

template <class T, class... A>
  requires(!make_impl::passes_options<T, A...>)
std::shared_ptr<T> make(A&&... args) {
  return std::make_shared<T>(std::forward<A>(args)...);
}
template <class T, class... R>
std::shared_ptr<T> make(const typename T::Options& options, R&&... rest) {
  return std::make_shared<T>(options, std::forward<R>(rest)...);
}
template <class T, class A1, class... R>
std::shared_ptr<T> make(A1&& a1, const typename T::Options& options, R&&... rest) {
  return std::make_shared<T>(std::forward<A1>(a1), options, std::forward<R>(rest)...);
}
template <class T, class A1, class A2, class... R>
std::shared_ptr<T> make(A1&& a1, A2&& a2, const typename T::Options& options, R&&... rest) {
  return std::make_shared<T>(std::forward<A1>(a1), std::forward<A2>(a2), options,
                             std::forward<R>(rest)...);
}
template <class T, class A1, class A2, class A3, class... R>
std::shared_ptr<T> make(A1&& a1, A2&& a2, A3&& a3, const typename T::Options& options,
                        R&&... rest) {
  return std::make_shared<T>(std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3),
                             options, std::forward<R>(rest)...);
}

}  // namespace duet::nn

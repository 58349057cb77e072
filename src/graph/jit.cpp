// Tracing JIT with a signature-keyed cache and a one-line log of why it recompiled.
#include "duet/jit.h"

#include <iostream>
#include <map>
#include <optional>

#include "core/tensor_impl.h"
#include "duet/amp.h"
#include "ops/op_def.h"

namespace duet {

namespace {

struct Signature {
  std::vector<TensorMeta> inputs;
  bool training = false;
  // Autocast while tracing: CompileOptions::autocast, else the caller's duet::autocast scope.
  std::optional<DType> autocast;
  bool operator<(const Signature& o) const {
    if (training != o.training) return training < o.training;
    if (autocast != o.autocast) return autocast < o.autocast;
    if (inputs.size() != o.inputs.size()) return inputs.size() < o.inputs.size();
    for (size_t i = 0; i < inputs.size(); ++i) {
      const TensorMeta& a = inputs[i];
      const TensorMeta& b = o.inputs[i];
      if (a.shape != b.shape) return a.shape < b.shape;
      if (a.dtype != b.dtype) return a.dtype < b.dtype;
      if (!(a.device == b.device))
        return std::make_pair(a.device.type, a.device.index) <
               std::make_pair(b.device.type, b.device.index);
    }
    return false;
  }
};

// Why `now` differs from `before`: the first input that changed, from what to what.
std::string why(const Signature& before, const Signature& now) {
  if (before.inputs.size() != now.inputs.size())
    return detail::cat("number of inputs changed from ", before.inputs.size(), " to ",
                       now.inputs.size());
  for (size_t i = 0; i < now.inputs.size(); ++i) {
    const TensorMeta& a = before.inputs[i];
    const TensorMeta& b = now.inputs[i];
    if (a.shape != b.shape)
      return detail::cat("input ", i, " shape changed from ", shape_str(a.shape), " to ",
                         shape_str(b.shape));
    if (a.dtype != b.dtype)
      return detail::cat("input ", i, " dtype changed from ", dtype_name(a.dtype), " to ",
                         dtype_name(b.dtype));
    if (!(a.device == b.device))
      return detail::cat("input ", i, " device changed from ", a.device, " to ", b.device);
  }
  if (before.autocast != now.autocast)
    return detail::cat("autocast changed from ",
                       before.autocast ? dtype_name(*before.autocast) : "off", " to ",
                       now.autocast ? dtype_name(*now.autocast) : "off");
  return "mode changed";
}

}  // namespace

struct JitFunction::State {
  TraceFn fn;
  CompileOptions options;
  std::string name;
  std::map<Signature, Executable> cache;
  Signature last;
  bool has_last = false;
  Executable* last_exe = nullptr;
  std::string reason;
  size_t compiles = 0;
};

JitFunction::JitFunction(TraceFn fn, CompileOptions options, std::string name)
    : state_(std::make_unique<State>()) {
  state_->fn = std::move(fn);
  state_->options = std::move(options);
  state_->name = std::move(name);
}
JitFunction::~JitFunction() = default;
JitFunction::JitFunction(JitFunction&&) noexcept = default;
JitFunction& JitFunction::operator=(JitFunction&&) noexcept = default;

std::vector<Tensor> JitFunction::operator()(const std::vector<Tensor>& inputs) {
  State& s = *state_;
  Signature sig;
  sig.training = s.options.training;
  sig.autocast = s.options.autocast ? s.options.autocast : autocast_dtype();
  for (size_t i = 0; i < inputs.size(); ++i) {
    DUET_CHECK(inputs[i].defined() && !inputs[i].is_symbolic(), "jit '", s.name, "': input ", i,
               " is undefined or symbolic; expected a concrete tensor");
    sig.inputs.push_back({inputs[i].shape(), inputs[i].dtype(), inputs[i].device()});
  }
  auto it = s.cache.find(sig);
  if (it != s.cache.end()) {
    // A value baked in while tracing changed since: trace this signature again.
    std::string stale = it->second.stale_reason();
    if (!stale.empty()) {
      s.reason = std::move(stale);
      std::cerr << "duet: jit '" << s.name << "' retracing: " << s.reason << "\n";
      if (s.last_exe == &it->second) s.last_exe = nullptr;
      s.cache.erase(it);
      it = s.cache.end();
      s.has_last = false;  // the reason is logged already
    }
  }
  if (it == s.cache.end()) {
    if (s.has_last) {
      s.reason = why(s.last, sig);
      std::cerr << "duet: jit '" << s.name << "' recompiling: " << s.reason << "\n";
    }
    Graph g({.training = s.options.training});
    std::vector<Tensor> symbolic;
    for (size_t i = 0; i < inputs.size(); ++i)
      symbolic.push_back(g.input("in" + std::to_string(i), inputs[i].shape(), inputs[i].dtype(),
                                 inputs[i].device()));
    std::vector<Tensor> outs;
    {
      // CompileOptions::autocast, training: the trace records the casts as eager autocast
      // would (the graph's "autocast" pass then finds nothing left to cast), so trace
      // functions that take gradients themselves (duet::gradients) differentiate the cast
      // graph. Eval graphs get the casts from compile() (after batch-norm folding).
      std::optional<AutocastGuard> scope;
      if (s.options.autocast && s.options.training) scope.emplace(*s.options.autocast);
      outs = s.fn(symbolic);
    }
    it = s.cache.emplace(sig, compile(g, outs, s.options)).first;
    ++s.compiles;
  }
  s.last = sig;
  s.has_last = true;
  s.last_exe = &it->second;
  std::map<std::string, Tensor> feeds;
  for (size_t i = 0; i < inputs.size(); ++i) feeds.emplace("in" + std::to_string(i), inputs[i]);
  return it->second.run(feeds);
}

size_t JitFunction::num_compiles() const {
  return state_->compiles;
}
const std::string& JitFunction::last_recompile_reason() const {
  return state_->reason;
}
Executable& JitFunction::last_executable() {
  DUET_CHECK(state_->last_exe, "jit '", state_->name, "': not called yet");
  return *state_->last_exe;
}

JitFunction jit(TraceFn fn, CompileOptions options, std::string name) {
  return JitFunction(std::move(fn), std::move(options), std::move(name));
}

}  // namespace duet

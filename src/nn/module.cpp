// Module: registration, recursive inspection, state_dict load/save, modes and printing.
#include "duet/nn/module.h"

#include <map>
#include <set>
#include <sstream>
#include <type_traits>

#include "core/tensor_impl.h"
#include "duet/autograd.h"
#include "duet/cuda.h"
#include "duet/graph.h"
#include "nn/module_hooks.h"

namespace duet::nn {

StateDict clone_state_dict(const StateDict& dict) {
  NoGradGuard no_grad;
  StateDict r;
  r.reserve(dict.size());
  for (const auto& [name, t] : dict) r.emplace_back(name, t.defined() ? t.detach().clone() : t);
  return r;
}

Tensor find(const StateDict& dict, const std::string& name) {
  for (const auto& [k, v] : dict)
    if (k == name) return v;
  return Tensor();
}

Module::Module(std::string type_name) : type_name_(std::move(type_name)) {}

// ---- the module-call stack (thread-local) and errors that name the module's path ----
namespace {

thread_local std::vector<Module*> t_calls;
// The module whose default forward(x) is asking its forward_many (so that a module
// overriding neither fails instead of recursing).
thread_local const Module* t_default_forward = nullptr;

// An Error that already names the module path; outer module calls pass it on unchanged.
class ModuleError : public Error {
 public:
  using Error::Error;
};

// The name `child` is registered under in `parent`, or "<Type>".
std::string child_name(const Module& parent, const Module& child) {
  for (const auto& [name, c] : parent.named_children())
    if (c.get() == &child) return name;
  return "<" + child.type_name() + ">";
}

// Pushes a module call for the duration of a scope.
struct CallFrame {
  explicit CallFrame(Module* m) { t_calls.push_back(m); }
  ~CallFrame() { t_calls.pop_back(); }
  CallFrame(const CallFrame&) = delete;
  CallFrame& operator=(const CallFrame&) = delete;
};

// "<path> (<Type>): <message>"; while a graph records, also the model code's line (the
// module call's), which an eager user would find on the stack.
[[noreturn]] void rethrow_with_path(const Error& e) {
  const Module& m = *t_calls.back();
  const std::string path = module_call_path();
  const SourceLoc at = current_location();
  const std::string where =
      is_tracing() && at.known() ? detail::cat(" [graph mode, at ", at.str(), "]") : "";
  const std::string what = e.what();
  if (path.empty())  // the outermost module: its type, unless the message starts with it
    throw ModuleError(what.rfind(m.type_name() + ":", 0) == 0
                          ? what + where
                          : detail::cat(m.type_name(), ": ", what, where));
  throw ModuleError(detail::cat(path, " (", m.type_name(), "): ", what, where));
}

thread_local internal::ModuleCallObserver* t_observer = nullptr;

template <class F>
auto call_module(Module* m, const std::source_location& loc, F&& run) {
  LocationScope scope(loc);
  CallFrame frame(m);
  try {
    if (!t_observer) return run();
    t_observer->begin(*m);
    auto out = run();
    if constexpr (std::is_same_v<decltype(out), Tensor>)
      t_observer->end(*m, {out});
    else
      t_observer->end(*m, out);
    return out;
  } catch (const ModuleError&) {
    throw;
  } catch (const Error& e) {
    rethrow_with_path(e);
  }
}

}  // namespace

namespace internal {
ModuleCallObserver* module_call_observer() {
  return t_observer;
}
void set_module_call_observer(ModuleCallObserver* observer) {
  t_observer = observer;
}
}  // namespace internal

const std::vector<Module*>& module_call_stack() {
  return t_calls;
}

std::string module_call_path() {
  std::string path;
  for (size_t i = 1; i < t_calls.size(); ++i) {
    if (!path.empty()) path += ".";
    path += child_name(*t_calls[i - 1], *t_calls[i]);
  }
  return path;
}

Tensor Module::operator()(const Tensor& x, std::source_location loc) {
  return call_module(this, loc, [&] { return forward(x); });
}

Tensor Module::operator()(const Tensor& a, const Tensor& b, std::source_location loc) {
  std::vector<Tensor> out = (*this)(std::vector<Tensor>{a, b}, loc);
  DUET_CHECK(out.size() == 1, type_name_, ": forward_many returned ", out.size(),
             " outputs; (*m)(a, b) expects one (call (*m)({a, b}) for all of them)");
  return out[0];
}

Tensor Module::operator()(const Tensor& a, const Tensor& b, const Tensor& c,
                          std::source_location loc) {
  std::vector<Tensor> out = (*this)(std::vector<Tensor>{a, b, c}, loc);
  DUET_CHECK(out.size() == 1, type_name_, ": forward_many returned ", out.size(),
             " outputs; (*m)(a, b, c) expects one (call (*m)({a, b, c}) for all of them)");
  return out[0];
}

std::vector<Tensor> Module::operator()(const std::vector<Tensor>& inputs,
                                       std::source_location loc) {
  return call_module(this, loc, [&] { return forward_many(inputs); });
}

Tensor Module::forward(const Tensor& x) {
  const Module* saved = t_default_forward;
  t_default_forward = this;
  std::vector<Tensor> out;
  try {
    out = forward_many({x});
  } catch (...) {
    t_default_forward = saved;
    throw;
  }
  t_default_forward = saved;
  DUET_CHECK(out.size() == 1, type_name_, ": forward_many returned ", out.size(),
             " outputs for one input; calling the module with one tensor expects one output "
             "(call (*m)({x}) for all of them)");
  return out[0];
}

std::vector<Tensor> Module::forward_many(const std::vector<Tensor>& inputs) {
  DUET_CHECK(t_default_forward != this, type_name_,
             ": forward is not implemented for this module (override Module::forward for one "
             "input, or Module::forward_many for several)");
  DUET_CHECK(inputs.size() == 1, type_name_, ": got ", inputs.size(),
             " inputs, but this module takes one, through forward(const Tensor&) (a module "
             "with several inputs overrides Module::forward_many)");
  return {forward(inputs[0])};
}

void Module::check_new_name(const std::string& name, const char* what) const {
  DUET_CHECK(!name.empty(), type_name_, ": cannot register a ", what, " with an empty name");
  DUET_CHECK(name.find('.') == std::string::npos, type_name_, ": ", what, " name '", name,
             "' contains '.' (expected a plain name; nesting comes from child modules)");
  auto taken = [&](const auto& v) {
    for (const auto& e : v)
      if (e.name == name) return true;
    return false;
  };
  bool child = false;
  for (const auto& c : children_) child = child || c.first == name;
  DUET_CHECK(!taken(params_) && !taken(buffers_) && !child, type_name_, ": cannot register ", what,
             " '", name, "': the name is already used by a parameter, buffer or module");
}

Tensor Module::register_parameter(const std::string& name, Tensor tensor) {
  check_new_name(name, "parameter");
  DUET_CHECK(tensor.defined(), type_name_, ": parameter '", name, "' is an undefined tensor");
  DUET_CHECK(tensor.is_leaf(), type_name_, ": parameter '", name,
             "' is the result of an op (expected a leaf tensor; use detach())");
  if (is_floating(tensor.dtype())) tensor.requires_grad_(true);
  params_.push_back({name, tensor, true});
  return tensor;
}

Tensor Module::register_buffer(const std::string& name, Tensor tensor, bool persistent) {
  check_new_name(name, "buffer");
  DUET_CHECK(tensor.defined(), type_name_, ": buffer '", name, "' is an undefined tensor");
  buffers_.push_back({name, tensor, persistent});
  return tensor;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name, "module");
  DUET_CHECK(module != nullptr, type_name_, ": module '", name, "' is a null pointer");
  DUET_CHECK(module.get() != this, type_name_, ": module '", name, "' is the module itself");
  children_.emplace_back(name, std::move(module));
}

void Module::collect(const std::string& prefix, bool params, bool buffers, bool persistent_only,
                     bool recurse, StateDict& out, std::vector<std::string>* optional) const {
  if (params)
    for (const auto& e : params_) out.emplace_back(prefix + e.name, e.tensor);
  if (buffers)
    for (const auto& e : buffers_)
      if (e.persistent || !persistent_only) {
        out.emplace_back(prefix + e.name, e.tensor);
        if (optional && e.optional) optional->push_back(prefix + e.name);
      }
  if (!recurse) return;
  for (const auto& [name, child] : children_)
    child->collect(prefix + name + ".", params, buffers, persistent_only, true, out, optional);
}

void Module::set_buffer_optional(const std::string& name) {
  for (auto& e : buffers_)
    if (e.name == name) {
      e.optional = true;
      return;
    }
  throw Error(detail::cat(type_name_, ": set_buffer_optional: no buffer named '", name, "'"));
}

// A tensor reachable under several names (a shared module) is listed once, as PyTorch does.
static StateDict unique(StateDict all) {
  StateDict out;
  std::set<const void*> seen;
  for (auto& kv : all)
    if (seen.insert(kv.second.impl()).second) out.push_back(std::move(kv));
  return out;
}

StateDict Module::named_parameters(bool recurse) const {
  StateDict out;
  collect("", true, false, false, recurse, out);
  return unique(std::move(out));
}

StateDict Module::named_buffers(bool recurse) const {
  StateDict out;
  collect("", false, true, false, recurse, out);
  return unique(std::move(out));
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& kv : named_parameters(recurse)) out.push_back(kv.second);
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& kv : named_buffers(recurse)) out.push_back(kv.second);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (const auto& [name, child] : children_)
    for (auto& [sub, m] : child->named_modules())
      out.emplace_back(sub.empty() ? name : name + "." + sub, m);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

StateDict Module::state_dict() const {
  // PyTorch order: each module's parameters, then its buffers, then its children.
  StateDict out;
  collect("", true, true, true, true, out);
  return out;
}

std::string LoadReport::str() const {
  if (ok()) return "all keys matched";
  auto list = [](const std::vector<std::string>& keys) {
    std::string r;
    for (const auto& k : keys) r += (r.empty() ? "'" : ", '") + k + "'";
    return r;
  };
  std::string r;
  if (!missing_keys.empty()) r = "missing keys: " + list(missing_keys);
  if (!unexpected_keys.empty())
    r += (r.empty() ? "" : "; ") + std::string("unexpected keys: ") + list(unexpected_keys);
  return r;
}

namespace {

// Collects the problems of one load; the message lists as many as fit in about 1,800
// characters and counts the rest.
struct Problems {
  std::vector<std::string> items;
  void add(std::string s) { items.push_back(std::move(s)); }
  std::string message(const std::string& type_name) const {
    std::string r =
        detail::cat("load_state_dict: ", items.size(), " problem", items.size() > 1 ? "s" : "",
                    " loading a state dict into ", type_name, " (nothing was changed): ");
    size_t shown = 0;
    for (const auto& it : items) {
      if (r.size() + it.size() > 1800) break;
      r += (shown ? "; " : "") + it;
      ++shown;
    }
    if (shown < items.size()) r += detail::cat("; ... and ", items.size() - shown, " more");
    return r;
  }
};

// A key quoted for a message, cut to 200 characters (a hostile file's keys can be long).
std::string quoted(const std::string& k) {
  return "'" +
         (k.size() > 200 ? k.substr(0, 200) + "...(" + std::to_string(k.size()) + " chars)" : k) +
         "'";
}

}  // namespace

LoadReport Module::load_state_dict(const StateDict& dict, bool strict) {
  StateDict own;
  std::vector<std::string> optional_keys;
  collect("", true, true, true, true, own, &optional_keys);
  const std::set<std::string> optional(optional_keys.begin(), optional_keys.end());
  std::map<std::string, const Tensor*> given;
  Problems problems;
  for (const auto& [k, v] : dict)
    if (!given.emplace(k, &v).second)
      problems.add(detail::cat("key ", quoted(k), " appears more than once"));
  // Validate everything before touching any tensor.
  LoadReport report;
  std::vector<std::pair<Tensor, const Tensor*>> todo;
  std::vector<Tensor> reset;  // optional buffers the dict omits
  for (const auto& [k, dst] : own) {
    auto it = given.find(k);
    if (it == given.end()) {
      if (optional.count(k)) {
        reset.push_back(dst);
        continue;
      }
      report.missing_keys.push_back(k);
      if (strict)
        problems.add(detail::cat("missing key ", quoted(k), " (expected shape ",
                                 shape_str(dst.shape()), ")"));
      continue;
    }
    const Tensor& src = *it->second;
    given.erase(it);
    if (!src.defined()) {
      problems.add(detail::cat("key ", quoted(k), " holds an undefined tensor"));
      continue;
    }
    if (src.shape() != dst.shape()) {
      problems.add(detail::cat("shape mismatch for ", quoted(k), ": the state dict has ",
                               shape_str(src.shape()), " but the model expects ",
                               shape_str(dst.shape())));
      continue;
    }
    if (src.device() != dst.device()) {
      problems.add(detail::cat(quoted(k), " is on ", src.device(), " but the model's tensor is on ",
                               dst.device(), " (expected the same device)"));
      continue;
    }
    todo.emplace_back(dst, &src);
  }
  // Unexpected keys, in the dict's order.
  for (const auto& [k, v] : dict)
    if (given.count(k)) {
      report.unexpected_keys.push_back(k);
      given.erase(k);  // a duplicated key is reported once
      if (strict)
        problems.add(detail::cat("unexpected key ", quoted(k),
                                 " (the model has no such parameter or buffer)"));
    }
  if (!problems.items.empty()) throw Error(problems.message(type_name_));
  NoGradGuard no_grad;
  for (auto& [dst, src] : todo) dst.copy_(*src);
  for (Tensor& t : reset) t.zero_();
  return report;
}

bool Module::is_training() const {
  return is_tracing() ? tracing_training() : training_;
}

namespace {
// Points t's impl at a copy of its values on `device` (same shape, contiguous).
void move_in_place(const Tensor& t, Device device) {
  if (!t.defined() || t.device() == device) return;
  Tensor moved = t.detach().to(device);
  detail::TensorImpl* impl = t.impl();
  impl->storage = moved.impl()->storage;
  impl->strides = moved.impl()->strides;
  impl->offset = moved.impl()->offset;
  impl->device = device;
}
}  // namespace

void Module::to(Device device) {
  check_device_available(device);
  NoGradGuard no_grad;
  std::vector<Tensor> all = parameters();
  for (const Tensor& b : buffers()) all.push_back(b);
  for (const Tensor& t : all) {
    move_in_place(t, device);
    if (t.grad().defined()) move_in_place(t.grad(), device);
  }
}

void Module::train(bool on) {
  training_ = on;
  for (auto& c : children_) c.second->train(on);
}

void Module::zero_grad() {
  for (auto& p : parameters()) p.zero_grad();
}

void Module::repr_into(std::ostream& os, int indent) const {
  os << type_name_ << "(" << extra_repr();
  if (children_.empty()) {
    os << ")";
    return;
  }
  os << "\n";
  const std::string pad(indent + 2, ' ');
  for (const auto& [name, child] : children_) {
    os << pad << "(" << name << "): ";
    child->repr_into(os, indent + 2);
    os << "\n";
  }
  os << std::string(indent, ' ') << ")";
}

std::string Module::repr() const {
  std::ostringstream os;
  repr_into(os, 0);
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Module& m) {
  return os << m.repr();
}

}  // namespace duet::nn

// Module: registration, recursive inspection, state_dict load/save, modes and printing.
#include "duet/nn/module.h"

#include <map>
#include <set>
#include <sstream>

#include "core/tensor_impl.h"
#include "duet/autograd.h"
#include "duet/cuda.h"
#include "duet/graph.h"

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

Tensor Module::operator()(const Tensor& x, std::source_location loc) {
  LocationScope scope(loc);
  return forward(x);
}

Tensor Module::forward(const Tensor&) {
  throw Error(detail::cat(type_name_,
                          ": forward is not implemented for this module (override "
                          "Module::forward)"));
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
                     bool recurse, StateDict& out) const {
  if (params)
    for (const auto& e : params_) out.emplace_back(prefix + e.name, e.tensor);
  if (buffers)
    for (const auto& e : buffers_)
      if (e.persistent || !persistent_only) out.emplace_back(prefix + e.name, e.tensor);
  if (!recurse) return;
  for (const auto& [name, child] : children_)
    child->collect(prefix + name + ".", params, buffers, persistent_only, true, out);
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

void Module::load_state_dict(const StateDict& dict, bool strict) {
  StateDict own = state_dict();
  std::map<std::string, const Tensor*> given;
  for (const auto& [k, v] : dict) {
    DUET_CHECK(given.emplace(k, &v).second, "load_state_dict: key '", k,
               "' appears more than once in the given state dict");
  }
  // Validate everything before touching any tensor.
  std::vector<std::pair<Tensor, const Tensor*>> todo;
  for (const auto& [k, dst] : own) {
    auto it = given.find(k);
    if (it == given.end()) {
      DUET_CHECK(!strict, "load_state_dict: missing key '", k, "' (expected shape ",
                 shape_str(dst.shape()), ") in the given state dict for ", type_name_);
      continue;
    }
    const Tensor& src = *it->second;
    DUET_CHECK(src.defined(), "load_state_dict: key '", k, "' holds an undefined tensor");
    DUET_CHECK(src.shape() == dst.shape(), "load_state_dict: shape mismatch for '", k,
               "': the state dict has ", shape_str(src.shape()), " but the model expects ",
               shape_str(dst.shape()));
    DUET_CHECK(src.device() == dst.device(), "load_state_dict: '", k, "' is on ", src.device(),
               " but the model's tensor is on ", dst.device(), " (expected the same device)");
    todo.emplace_back(dst, &src);
    given.erase(it);
  }
  if (strict && !given.empty()) {
    std::string keys;
    for (const auto& kv : given) keys += (keys.empty() ? "'" : ", '") + kv.first + "'";
    throw Error(detail::cat("load_state_dict: unexpected key", given.size() > 1 ? "s " : " ", keys,
                            " in the given state dict for ", type_name_,
                            " (the model has no such parameter or buffer)"));
  }
  NoGradGuard no_grad;
  for (auto& [dst, src] : todo) dst.copy_(*src);
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

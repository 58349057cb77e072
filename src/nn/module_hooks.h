// An observer of module calls on this thread (Module::operator()), for tools that attribute
// work to layers (duet::summary). Internal: not part of the public API.
//
//   struct Counter : duet::nn::internal::ModuleCallObserver { ... };
//   Counter c;
//   duet::nn::internal::ObserverScope scope(&c);   // this thread, until the scope ends
//   (*model)(x);                                    // c.begin / c.end per module call
#pragma once

#include <vector>

#include "duet/nn/module.h"

namespace duet::nn::internal {

struct ModuleCallObserver {
  virtual ~ModuleCallObserver() = default;
  // Before forward runs; module_call_stack() already ends with `m`.
  virtual void begin(Module& m) = 0;
  // After forward returned (not when it threw), with its outputs.
  virtual void end(Module& m, const std::vector<Tensor>& outputs) = 0;
};

ModuleCallObserver* module_call_observer();
void set_module_call_observer(ModuleCallObserver* observer);

class ObserverScope {
 public:
  explicit ObserverScope(ModuleCallObserver* o) : saved_(module_call_observer()) {
    set_module_call_observer(o);
  }
  ~ObserverScope() { set_module_call_observer(saved_); }
  ObserverScope(const ObserverScope&) = delete;
  ObserverScope& operator=(const ObserverScope&) = delete;

 private:
  ModuleCallObserver* saved_;
};

}  // namespace duet::nn::internal

// Sequential: children named by position, run in order.
#include "duet/nn/container.h"

#include <string>
#include <utility>

namespace duet::nn {

Sequential::Sequential() : Module("Sequential") {}

Sequential::Sequential(std::string type_name) : Module(std::move(type_name)) {}

Sequential::Sequential(std::vector<std::shared_ptr<Module>> modules) : Module("Sequential") {
  for (auto& m : modules) push_back(std::move(m));
}

void Sequential::push_back(std::shared_ptr<Module> module) {
  DUET_CHECK(module != nullptr, "Sequential::push_back: module ", modules_.size(),
             " is a null pointer");
  modules_.push_back(register_module(std::to_string(modules_.size()), std::move(module)));
}

const std::shared_ptr<Module>& Sequential::operator[](size_t i) const {
  DUET_CHECK(i < modules_.size(), "Sequential: index ", i, " out of range (size ", modules_.size(),
             ")");
  return modules_[i];
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (auto& m : modules_) y = (*m)(y);  // a module call: errors name the child's path
  return y;
}

}  // namespace duet::nn

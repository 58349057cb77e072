// Sequential: runs its children in order; they are named "0", "1", ... in state_dict.
//
//   auto net = std::make_shared<duet::nn::Sequential>();
//   net->push_back(std::make_shared<duet::nn::Conv2d>(1, 32, 3));
//   net->push_back(std::make_shared<duet::nn::ReLU>());
//   auto y = (*net)(x);
//   // or all at once:
//   duet::nn::Sequential s({std::make_shared<duet::nn::Flatten>(),
//                           std::make_shared<duet::nn::Linear>(784, 10)});
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "duet/nn/module.h"

namespace duet::nn {

class Sequential : public Module {
 public:
  Sequential();
  explicit Sequential(std::vector<std::shared_ptr<Module>> modules);

  void push_back(std::shared_ptr<Module> module);
  size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }
  const std::shared_ptr<Module>& operator[](size_t i) const;
  auto begin() const { return modules_.begin(); }
  auto end() const { return modules_.end(); }

  Tensor forward(const Tensor& x) override;

 protected:
  // For subclasses that are Sequentials under another type name (torchvision's
  // Conv2dNormActivation): the same children and forward, a different repr/type name.
  explicit Sequential(std::string type_name);

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

}  // namespace duet::nn

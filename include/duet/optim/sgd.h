// Stochastic gradient descent with momentum, dampening, weight decay and Nesterov, exactly
// torch.optim.SGD (the momentum buffer starts as the first gradient; with momentum the
// buffers exist, zero-filled, from construction on).
//
//   duet::optim::SGD opt(net->parameters(), 0.1, /*momentum=*/0.9, /*dampening=*/0,
//                        /*weight_decay=*/5e-4, /*nesterov=*/true);
//   loss.backward();
//   opt.step();
#pragma once

#include "duet/optim/optimizer.h"

namespace duet::optim {

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, double lr, double momentum = 0.0, double dampening = 0.0,
      double weight_decay = 0.0, bool nesterov = false);
  void apply_gradients(const std::vector<Tensor>& grads) override;
  bool skips_on_device() const override { return true; }

  double momentum, dampening, weight_decay;
  bool nesterov;

 protected:
  // "momentum", "dampening", "weight_decay", "nesterov" (0/1)
  std::vector<std::pair<std::string, double>> extra_hyperparameters() const override;
  void check_hyperparameters(const std::vector<std::pair<std::string, double>>& h) const override;
  void set_extra_hyperparameters(const std::vector<std::pair<std::string, double>>& h) override;
};

}  // namespace duet::optim

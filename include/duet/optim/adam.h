// Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay), exactly
// torch.optim.Adam / AdamW with amsgrad=False.
//
//   duet::optim::Adam adam(net->parameters(), 1e-3);
//   duet::optim::AdamW adamw(net->parameters(), 1e-3, {0.9, 0.999}, 1e-8, /*weight_decay=*/1e-2);
//   adam.state(0).step();            // per-parameter step count (the int64 "step" tensor)
//   adam.state(0).get("exp_avg");    // first moment
#pragma once

#include <utility>

#include "duet/optim/optimizer.h"

namespace duet::optim {

class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, double lr = 1e-3, std::pair<double, double> betas = {0.9, 0.999},
       double eps = 1e-8, double weight_decay = 0.0);
  void apply_gradients(const std::vector<Tensor>& grads) override;
  bool skips_on_device() const override { return true; }

  double beta1, beta2, eps, weight_decay;

 protected:
  // "beta1", "beta2", "eps", "weight_decay"
  std::vector<std::pair<std::string, double>> extra_hyperparameters() const override;
  void check_hyperparameters(const std::vector<std::pair<std::string, double>>& h) const override;
  void set_extra_hyperparameters(const std::vector<std::pair<std::string, double>>& h) override;

  Adam(std::vector<Tensor> params, double lr, std::pair<double, double> betas, double eps,
       double weight_decay, bool decoupled, std::string name);
  bool decoupled_;
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, double lr = 1e-3,
        std::pair<double, double> betas = {0.9, 0.999}, double eps = 1e-8,
        double weight_decay = 1e-2);
};

}  // namespace duet::optim

// StepLR and CosineAnnealingLR: the lr sequence per epoch, as PyTorch prints it.
#include <cmath>
#include <numbers>

#include "duet/optim.h"
#include "test_util.h"

using namespace duet;

TEST(StepLR, GammaTenthEveryTwoEpochs) {
  Tensor p = Tensor::zeros({2}).requires_grad_();
  optim::SGD opt({p}, 1.0);
  optim::StepLR sched(opt, /*step_size=*/2, /*gamma=*/0.1);
  const std::vector<double> expected = {1.0, 1.0, 0.1, 0.1, 0.01, 0.01, 0.001};
  for (size_t e = 0; e < expected.size(); ++e) {
    EXPECT_NEAR(sched.get_last_lr(), expected[e], 1e-15) << "epoch " << e;
    EXPECT_NEAR(opt.lr(), expected[e], 1e-15) << "epoch " << e;
    EXPECT_EQ(sched.last_epoch(), static_cast<int64_t>(e));
    sched.step();
  }
  EXPECT_DUET_ERROR(optim::StepLR(opt, 0), "StepLR", "step_size = 0");
}

TEST(CosineAnnealingLR, TMaxFour) {
  Tensor p = Tensor::zeros({2}).requires_grad_();
  optim::SGD opt({p}, 0.1);
  optim::CosineAnnealingLR sched(opt, /*T_max=*/4, /*eta_min=*/0.001);
  // eta_min + (base - eta_min) * (1 + cos(pi * e / 4)) / 2
  const double c = (0.1 - 0.001) / 2;
  const std::vector<double> expected = {
      0.1,   0.001 + c * (1 + std::sqrt(0.5)), 0.001 + c, 0.001 + c * (1 - std::sqrt(0.5)),
      0.001, 0.001 + c * (1 - std::sqrt(0.5))};  // PyTorch keeps following the cosine after T_max
  for (size_t e = 0; e < expected.size(); ++e) {
    EXPECT_NEAR(sched.get_last_lr(), expected[e], 1e-12) << "epoch " << e;
    EXPECT_NEAR(opt.lr(), expected[e], 1e-12) << "epoch " << e;
    sched.step();
  }
  EXPECT_EQ(sched.base_lr(), 0.1);
}

TEST(CosineAnnealingLR, DefaultEtaMinReachesZero) {
  Tensor p = Tensor::zeros({2}).requires_grad_();
  optim::Adam opt({p}, 1e-3);
  optim::CosineAnnealingLR sched(opt, 10);
  for (int e = 0; e < 10; ++e) sched.step();
  EXPECT_NEAR(opt.lr(), 0.0, 1e-18);
  EXPECT_NEAR(sched.lr_at(5), 0.5e-3, 1e-15);
}

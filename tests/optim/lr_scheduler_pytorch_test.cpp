// LinearLR / LinearWarmup, SequentialLR, OneCycleLR and ReduceLROnPlateau against the lr
// sequences PyTorch 1.13 prints (generated with torch.optim.lr_scheduler, SGD, one step per
// entry; OneCycleLR with cycle_momentum=False), and scheduler state_dict round trips.
#include <cmath>

#include "duet/optim.h"
#include "duet/optim/lr_scheduler.h"
#include "test_util.h"

using namespace duet;

namespace {

const std::vector<double> kLinear = {0.025, 0.043750000000000004, 0.06250000000000001, 0.08125000000000002, 0.10000000000000002, 0.10000000000000002, 0.10000000000000002, 0.10000000000000002};
const std::vector<double> kOneCycleCos = {0.020000000000000018, 0.26, 0.5, 0.47524231600673683, 0.40587282697488153, 0.30563101096814466, 0.19437098903185537, 0.09412917302511849, 0.024759683993263143, 2e-06, 0.024759683993263115};
const std::vector<double> kOneCycleLin3 = {0.05, 0.275, 0.5, 0.275, 0.04999999999999999, 0.042928571428571434, 0.03585714285714286, 0.02878571428571429, 0.021714285714285717, 0.014642857142857145, 0.007571428571428576, 0.0005000000000000004, -0.006571428571428568};
const std::vector<double> kWarmCos = {0.010000000000000002, 0.04, 0.07, 0.1, 0.0905463412215599, 0.06579634122155989, 0.035203658778440096, 0.010453658778440105, 0.001, 0.010453658778440102};
const std::vector<double> kPlateauMetric = {1.0, 0.9, 0.95, 0.95, 0.91, 0.9, 0.89, 0.95, 0.96, 0.97, 0.98, 0.5, 0.6, 0.7, 0.8, 0.9};
const std::vector<double> kPlateauMin = {1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.25, 0.125, 0.125, 0.125};
const std::vector<double> kPlateauMaxAbs = {1.0, 1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.010000000000000002, 0.010000000000000002, 0.010000000000000002, 0.0010000000000000002, 0.0010000000000000002, 0.0010000000000000002, 0.00010000000000000003, 0.00010000000000000003, 0.00010000000000000003, 1.0000000000000004e-05};

// Checks that sched starts at expected[0] and each step() (or step(metric[i])) gives the next.
template <typename Step>
void expect_sequence(optim::Optimizer& opt, const std::vector<double>& expected, Step step) {
  for (size_t i = 0; i < expected.size(); ++i) {
    if (i > 0) step(i - 1);
    EXPECT_NEAR(opt.lr(), expected[i], 1e-12 * std::max(1.0, std::abs(expected[i])))
        << "step " << i;
  }
}

Tensor param() { return Tensor::zeros({2}).requires_grad_(); }

}  // namespace

TEST(LinearLR, MatchesPyTorch) {
  optim::SGD opt({param()}, 0.1);
  optim::LinearLR sched(opt, 0.25, 1.0, 4);
  expect_sequence(opt, kLinear, [&](size_t) { sched.step(); });
  EXPECT_DUET_ERROR(optim::LinearLR(opt, 0.0, 1.0, 4), "LinearLR", "start_factor = 0");
  EXPECT_DUET_ERROR(optim::LinearLR(opt, 0.5, 1.0, 0), "LinearLR", "total_iters = 0");
}

TEST(LinearWarmup, RampsToBaseLrThenHolds) {
  optim::SGD opt({param()}, 0.2);
  optim::LinearWarmup warm(opt, 4, 0.5);
  const std::vector<double> expected = {0.1, 0.125, 0.15, 0.175, 0.2, 0.2};
  expect_sequence(opt, expected, [&](size_t) { warm.step(); });
}

TEST(SequentialLR, WarmupThenCosineMatchesPyTorch) {
  optim::SGD opt({param()}, 0.1);
  auto warm = std::make_shared<optim::LinearLR>(opt, 0.1, 1.0, 3);
  auto cosine = std::make_shared<optim::CosineAnnealingLR>(opt, 5, 0.001);
  optim::SequentialLR sched(opt, {warm, cosine}, {3});
  EXPECT_EQ(sched.base_lr(), 0.1);
  expect_sequence(opt, kWarmCos, [&](size_t) { sched.step(); });
  EXPECT_DUET_ERROR(optim::SequentialLR(opt, {warm, cosine}, {}), "SequentialLR",
                    "2 schedules and 0 milestones");
}

TEST(OneCycleLR, CosMatchesPyTorch) {
  optim::SGD opt({param()}, 123.0);  // ignored, as in PyTorch
  optim::OneCycleLR sched(opt, 0.5, 10);
  expect_sequence(opt, kOneCycleCos, [&](size_t) { sched.step(); });
  EXPECT_DUET_ERROR(sched.step(), "OneCycleLR", "tried to step 11 times",
                    "total steps is 10");
}

TEST(OneCycleLR, LinearThreePhaseMatchesPyTorch) {
  optim::SGD opt({param()}, 0.1);
  optim::OneCycleLR sched(opt, 0.5, 12,
                          {.pct_start = 0.25, .anneal_strategy = "linear", .div_factor = 10,
                           .final_div_factor = 100, .three_phase = true});
  // PyTorch's 13th value (step 12 == total_steps) is below 0, an lr duet refuses; compare
  // steps 0..11.
  const std::vector<double> expected(kOneCycleLin3.begin(), kOneCycleLin3.end() - 1);
  expect_sequence(opt, expected, [&](size_t) { sched.step(); });
  EXPECT_DUET_ERROR(optim::OneCycleLR(opt, 0.5, 12, {.anneal_strategy = "exp"}), "OneCycleLR",
                    "anneal_strategy 'exp'");
}

TEST(ReduceLROnPlateau, MinRelCooldownMinLrMatchesPyTorch) {
  optim::SGD opt({param()}, 1.0);
  optim::ReduceLROnPlateau sched(opt,
                                 {.factor = 0.5, .patience = 1, .cooldown = 1, .min_lr = 0.1});
  expect_sequence(opt, kPlateauMin, [&](size_t i) { sched.step(kPlateauMetric[i]); });
  EXPECT_DUET_ERROR(sched.step(), "ReduceLROnPlateau", "step(metric)");
}

TEST(ReduceLROnPlateau, MaxAbsMatchesPyTorch) {
  optim::SGD opt({param()}, 1.0);
  optim::ReduceLROnPlateau sched(
      opt, {.mode = "max", .factor = 0.1, .patience = 2, .threshold = 0.02,
            .threshold_mode = "abs"});
  expect_sequence(opt, kPlateauMaxAbs, [&](size_t i) { sched.step(kPlateauMetric[i]); });
}

TEST(SchedulerState, RoundTripResumesTheSequence) {
  optim::SGD opt({param()}, 0.1);
  optim::OneCycleLR a(opt, 0.5, 10);
  for (int i = 0; i < 4; ++i) a.step();
  const optim::SchedulerState st = a.state_dict();
  ASSERT_EQ(st.size(), 3u);
  EXPECT_EQ(st[0].first, "last_epoch");
  EXPECT_EQ(st[0].second, 4.0);

  optim::SGD opt2({param()}, 0.1);
  optim::OneCycleLR b(opt2, 0.5, 10);
  b.load_state_dict(st);
  EXPECT_EQ(opt2.lr(), kOneCycleCos[4]);  // load sets the optimizer's lr
  EXPECT_EQ(b.last_epoch(), 4);
  for (int i = 5; i <= 10; ++i) {
    a.step();
    b.step();
    EXPECT_EQ(opt.lr(), opt2.lr()) << "step " << i;
  }
}

TEST(SchedulerState, PlateauKeepsBestBadEpochsCooldown) {
  optim::SGD opt({param()}, 1.0);
  optim::ReduceLROnPlateau a(opt, {.factor = 0.5, .patience = 1, .cooldown = 1, .min_lr = 0.1});
  for (int i = 0; i < 5; ++i) a.step(kPlateauMetric[i]);
  const optim::SchedulerState st = a.state_dict();
  // PyTorch after the same 5 steps: best 0.9, num_bad_epochs 0, cooldown_counter 0, last_epoch 5
  EXPECT_EQ(a.best(), 0.9);
  EXPECT_EQ(a.num_bad_epochs(), 0);
  EXPECT_EQ(a.cooldown_counter(), 0);
  EXPECT_EQ(a.last_epoch(), 5);
  ASSERT_EQ(st.size(), 6u);

  optim::SGD opt2({param()}, 1.0);
  optim::ReduceLROnPlateau b(opt2, {.factor = 0.5, .patience = 1, .cooldown = 1, .min_lr = 0.1});
  b.load_state_dict(st);
  EXPECT_EQ(opt2.lr(), 0.5);
  for (size_t i = 5; i < kPlateauMetric.size(); ++i) {
    a.step(kPlateauMetric[i]);
    b.step(kPlateauMetric[i]);
    EXPECT_EQ(opt2.lr(), kPlateauMin[i + 1]) << "step " << i;
  }
}

TEST(SchedulerState, WrongOrMissingKeysAreErrorsNamingThem) {
  optim::SGD opt({param()}, 0.1);
  optim::StepLR s(opt, 2);
  EXPECT_DUET_ERROR(s.load_state_dict({{"last_epoch", 1}, {"base_lr", 0.1}}),
                    "StepLR::load_state_dict", "missing key 'last_lr'");
  EXPECT_DUET_ERROR(
      s.load_state_dict({{"last_epoch", 1}, {"base_lr", 0.1}, {"last_lr", 0.1}, {"best", 1}}),
      "StepLR::load_state_dict", "unexpected key 'best'");
  EXPECT_DUET_ERROR(s.load_state_dict({{"last_epoch", -1}, {"base_lr", 0.1}, {"last_lr", 0.1}}),
                    "last_epoch = -1");
  EXPECT_DUET_ERROR(s.load_state_dict({{"last_epoch", 1.5}, {"base_lr", 0.1}, {"last_lr", 0.1}}),
                    "last_epoch = 1.5");
  // A negative lr is refused before anything changes (fuzz_checkpoint found a half load).
  EXPECT_DUET_ERROR(s.load_state_dict({{"last_epoch", 3}, {"base_lr", 0.1}, {"last_lr", -1}}),
                    "StepLR::load_state_dict", "last_lr = -1", "expected finite and >= 0");
  EXPECT_EQ(opt.lr(), 0.1);
  optim::ReduceLROnPlateau p(opt);
  EXPECT_DUET_ERROR(p.load_state_dict(s.state_dict()), "ReduceLROnPlateau::load_state_dict",
                    "missing key 'best'");
  EXPECT_EQ(s.last_epoch(), 0);  // nothing was loaded by the failed calls
}

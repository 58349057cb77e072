// Exact resume through fit (issue #13 acceptance): 2 epochs straight against 1 epoch with a
// ModelCheckpoint, then a load into fresh objects and fit from initial_epoch 1: the weights
// are the same bits (CPU), in eager and in graph mode. The model has dropout (the default
// generator's state is in the checkpoint), the optimizer is Adam (moments and step counts)
// and a OneCycle schedule is stepped per batch (its position is in the checkpoint).
#include <unistd.h>

#include <filesystem>

#include "duet/data/dataloader.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "duet/train/callbacks.h"
#include "duet/train/checkpoint.h"
#include "duet/train/fit.h"
#include "duet/train/model_checkpoint.h"
#include "test_util.h"

using namespace duet;

namespace {

struct Objects {
  std::shared_ptr<nn::Sequential> net;
  std::unique_ptr<optim::Adam> opt;
  std::shared_ptr<optim::OneCycleLR> sched;
  std::unique_ptr<data::DataLoader> loader;
};

// Fresh objects; `init_seed` changes only the initial weights (a resumed run must not
// depend on them).
Objects make(uint64_t init_seed) {
  Generator gen(init_seed);
  Generator data_gen(7);
  Tensor x = Tensor::randn({50, 8}, data_gen);
  Tensor y = argmax(matmul(x, Tensor::randn({8, 4}, data_gen)), 1);
  Objects o;
  o.net = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(8, 32, true, gen), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Dropout>(0.3), std::make_shared<nn::Linear>(32, 4, true, gen)});
  o.opt = std::make_unique<optim::Adam>(o.net->parameters(), 0.01);
  o.loader = std::make_unique<data::DataLoader>(x, y, 16, /*shuffle=*/true, /*seed=*/3);
  o.sched = std::make_shared<optim::OneCycleLR>(*o.opt, 0.05, 2 * o.loader->num_batches());
  return o;
}

train::FitOptions options(train::Execution mode, int64_t epochs, int64_t initial_epoch,
                          train::CallbackList extra, std::shared_ptr<optim::OneCycleLR> sched) {
  extra.insert(extra.begin(), std::make_shared<train::LRSchedule>(sched, train::Interval::step));
  return {.epochs = epochs, .initial_epoch = initial_epoch, .mode = mode, .callbacks = extra,
          .progress = train::Progress::none};
}

std::vector<std::vector<float>> weights(nn::Module& m) {
  std::vector<std::vector<float>> w;
  for (const Tensor& p : m.parameters()) w.push_back(p.to_vector<float>());
  return w;
}

void expect_exact_resume(train::Execution mode) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("duet_fit_resume_" + std::to_string(static_cast<int>(mode)) +
                             "_" + std::to_string(::getpid()) + ".safetensors"))
                               .string();
  // Straight: 2 epochs.
  manual_seed(11);
  Objects a = make(1);
  train::History ha = train::fit(*a.net, train::cross_entropy_loss, *a.opt, *a.loader,
                                 options(mode, 2, 0, {}, a.sched));
  // 1 epoch, saved by ModelCheckpoint.
  manual_seed(11);
  Objects b = make(1);
  auto saver = std::make_shared<train::ModelCheckpoint>(
      train::ModelCheckpointOptions{.last = path, .scheduler = b.sched.get()});
  train::History hb = train::fit(*b.net, train::cross_entropy_loss, *b.opt, *b.loader,
                                 options(mode, 1, 0, {saver}, b.sched));
  // Fresh objects (other initial weights, other default-generator state), loaded, 1 more.
  manual_seed(999);
  Objects c = make(2);
  train::CheckpointInfo info = train::load_checkpoint(
      path, {.model = c.net.get(), .optimizer = c.opt.get(), .scheduler = c.sched.get(),
             .loader = c.loader.get()});
  EXPECT_EQ(info.epoch, 1);
  EXPECT_EQ(info.global_step, 4);
  train::History hc = train::fit(*c.net, train::cross_entropy_loss, *c.opt, *c.loader,
                                 options(mode, 2, info.epoch, {}, c.sched));
  std::filesystem::remove(path);

  EXPECT_EQ(weights(*a.net), weights(*c.net));  // bit for bit
  ASSERT_EQ(ha.epochs.size(), 2u);
  ASSERT_EQ(hb.epochs.size(), 1u);
  ASSERT_EQ(hc.epochs.size(), 1u);
  EXPECT_EQ(ha.epochs[0].items(), hb.epochs[0].items());
  EXPECT_EQ(ha.epochs[1].items(), hc.epochs[0].items());
  EXPECT_EQ(a.sched->last_epoch(), c.sched->last_epoch());
  EXPECT_EQ(a.opt->lr(), c.opt->lr());
}

}  // namespace

TEST(FitResume, EagerTwoEpochsStraightEqualsOnePlusCheckpointPlusOne) {
  expect_exact_resume(train::Execution::eager);
}

TEST(FitResume, GraphTwoEpochsStraightEqualsOnePlusCheckpointPlusOne) {
  expect_exact_resume(train::Execution::graph);
}

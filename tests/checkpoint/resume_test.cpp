// The exact-resume test (issue #13): 2 epochs straight vs 1 epoch + save_checkpoint +
// load_checkpoint into FRESH model, optimizer, scheduler, loader and generator states + 1
// epoch, with a hand-written loop: bit-identical weights and optimizer state, for SGD with
// Nesterov momentum and for Adam; the model has dropout (the default generator's state
// matters) and the loader shuffles with 2 workers and an augmenting transform.
#include <filesystem>

#include "duet/data.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "duet/train.h"
#include "io/io_test_util.h"
#include "test_util.h"

using namespace duet;

namespace {

// 48 random (1, 4, 4) images, 3 classes.
data::TensorDataset make_data() {
  Generator g(123);
  Tensor x = Tensor::randn({48, 1, 4, 4}, g);
  std::vector<int64_t> y;
  for (int i = 0; i < 48; ++i) y.push_back(static_cast<int64_t>(g.below(3)));
  return data::TensorDataset(x, Tensor::from_vector(y, {48}));
}

std::shared_ptr<nn::Sequential> make_model(uint64_t init_seed) {
  Generator g(init_seed);
  return std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(16, 24, true, g),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Dropout>(0.3),
      std::make_shared<nn::Linear>(24, 3, true, g)});
}

data::DataLoaderOptions loader_options(uint64_t seed) {
  return {.batch_size = 10,  // 5 batches, the last one of 8
          .shuffle = true,
          .seed = seed,
          .drop_last = false,
          .num_workers = 2,
          .prefetch = 2,
          .transform = data::Compose({data::RandomCrop(4, 1), data::RandomHorizontalFlip()})};
}

struct Trainer {
  std::shared_ptr<nn::Sequential> model;
  std::unique_ptr<optim::Optimizer> opt;
  std::unique_ptr<optim::LRScheduler> sched;
  std::unique_ptr<data::DataLoader> loader;
};

Trainer make_run(bool adam, uint64_t init_seed, uint64_t loader_seed) {
  Trainer r;
  r.model = make_model(init_seed);
  if (adam) {
    r.opt = std::make_unique<optim::Adam>(r.model->parameters(), 0.01, std::make_pair(0.9, 0.99),
                                          1e-8, 1e-4);
    r.sched = std::make_unique<optim::CosineAnnealingLR>(*r.opt, 4);
  } else {
    r.opt = std::make_unique<optim::SGD>(r.model->parameters(), 0.1, 0.9, 0.0, 5e-4, true);
    r.sched = std::make_unique<optim::StepLR>(*r.opt, 1, 0.5);
  }
  r.loader = std::make_unique<data::DataLoader>(make_data(), loader_options(loader_seed));
  return r;
}

void train_epoch(Trainer& r) {
  r.model->train();
  for (auto& b : *r.loader) {
    r.opt->zero_grad();
    Tensor loss = cross_entropy((*r.model)(b.x), b.y);
    loss.backward();
    r.opt->step();
  }
  r.sched->step();
}

// Every byte that decides the next step.
struct Snapshot {
  std::vector<std::vector<float>> weights, opt_state;
  std::vector<int64_t> steps;
  std::vector<std::pair<std::string, double>> hyper;
  optim::SchedulerState sched;
  GeneratorState rng;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(const Trainer& r) {
  Snapshot s;
  for (const auto& [k, t] : r.model->state_dict()) s.weights.push_back(t.to_vector<float>());
  for (const auto& [k, t] : r.opt->state_dict().state) {
    if (t.dtype() == int64)
      s.steps.push_back(t.item<int64_t>());
    else
      s.opt_state.push_back(t.to_vector<float>());
  }
  s.hyper = r.opt->hyperparameters();
  s.sched = r.sched->state_dict();
  s.rng = default_generator().state();
  return s;
}

void exact_resume(bool adam) {
  test::TempDir dir;
  const std::string path = dir.file("resume.safetensors");

  manual_seed(1);
  Trainer straight = make_run(adam, 7, 5);
  train_epoch(straight);
  train_epoch(straight);
  const Snapshot want = snapshot(straight);

  manual_seed(1);
  Trainer first = make_run(adam, 7, 5);
  train_epoch(first);
  train::save_checkpoint(path, {.model = first.model.get(),
                                .optimizer = first.opt.get(),
                                .scheduler = first.sched.get(),
                                .loader = first.loader.get(),
                                .epoch = 1,
                                .global_step = 5,
                                .metadata = {{"note", "after epoch 1"}}});
  first = Trainer();

  manual_seed(999);                             // the default generator moves on
  Trainer resumed = make_run(adam, 8, 77);          // other weights, another loader seed
  ASSERT_NE(snapshot(resumed).weights, want.weights);
  train::CheckpointInfo info = train::load_checkpoint(
      path, {.model = resumed.model.get(),
             .optimizer = resumed.opt.get(),
             .scheduler = resumed.sched.get(),
             .loader = resumed.loader.get()});
  EXPECT_EQ(info.epoch, 1);
  EXPECT_EQ(info.global_step, 5);
  EXPECT_EQ(info.format_version, 1);
  EXPECT_EQ(info.metadata.at("note"), "after epoch 1");
  EXPECT_EQ(resumed.loader->state().seed, 5u);
  train_epoch(resumed);
  const Snapshot got = snapshot(resumed);
  EXPECT_EQ(got.weights, want.weights);  // bit for bit
  EXPECT_EQ(got.opt_state, want.opt_state);
  EXPECT_EQ(got.steps, want.steps);
  EXPECT_EQ(got.hyper, want.hyper);
  EXPECT_EQ(got.sched, want.sched);
  EXPECT_EQ(got.rng, want.rng);
  EXPECT_EQ(got, want);
  // Epoch 2 of both: still the same batches.
  EXPECT_EQ(resumed.loader->order(2), straight.loader->order(2));
}

}  // namespace

TEST(ExactResume, SgdNesterovMomentumWithDropoutAndAugmentation) { exact_resume(false); }

TEST(ExactResume, AdamWithDropoutAndAugmentation) { exact_resume(true); }

TEST(ExactResume, WithoutTheRngStateTheRunDiffers) {
  // The control: the same resume without restoring the default generator drifts (dropout
  // draws other masks), so the test above really checks the RNG state.
  test::TempDir dir;
  const std::string path = dir.file("r.safetensors");
  manual_seed(1);
  Trainer straight = make_run(false, 7, 5);
  train_epoch(straight);
  train_epoch(straight);
  manual_seed(1);
  Trainer first = make_run(false, 7, 5);
  train_epoch(first);
  train::save_checkpoint(path, {.model = first.model.get(), .optimizer = first.opt.get(),
                                .scheduler = first.sched.get(), .loader = first.loader.get()});
  manual_seed(999);
  Trainer resumed = make_run(false, 8, 77);
  train::load_checkpoint(path, {.model = resumed.model.get(), .optimizer = resumed.opt.get(),
                                .scheduler = resumed.sched.get(), .loader = resumed.loader.get(),
                                .default_generator = false});
  train_epoch(resumed);
  EXPECT_NE(snapshot(resumed).weights, snapshot(straight).weights);
}

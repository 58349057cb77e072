// fit(..., {.distributed = true}) on 2 ranks (mpirun -np 2): the same parameters and logs as
// one process training on the global batch (eager and graph), identical on every rank;
// rank-0-only callbacks; a stop on one rank stops all; exact resume across the same world
// size; a wrong sampler or unequal step counts are errors on every rank (no hang).
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "duet/data.h"
#include "duet/distributed.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "duet/train/callbacks.h"
#include "duet/train/checkpoint.h"
#include "duet/train/fit.h"
#include "duet/train/model_checkpoint.h"
#include "test_util.h"

using namespace duet;

namespace {

void ensure_init() {
  if (!distributed::is_initialized()) distributed::init();
}

// 64 training and 20 validation samples of 8 features, 4 learnable classes; the same on
// every rank.
struct Toy {
  Tensor x, y;
  explicit Toy(int64_t n, uint64_t seed) {
    Generator gen(seed);
    x = Tensor::randn({n, 8}, gen);
    Tensor w = Tensor::randn({8, 4}, gen);
    y = argmax(matmul(x, w), 1);
  }
};

std::shared_ptr<nn::Sequential> toy_net(uint64_t seed) {
  Generator gen(seed);
  return std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(8, 16, true, gen), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(16, 4, true, gen)});
}

std::vector<std::vector<float>> weights(nn::Module& m) {
  std::vector<std::vector<float>> w;
  for (const Tensor& p : m.parameters()) w.push_back(p.to_vector<float>());
  return w;
}

struct FitRun {
  train::History history;
  std::vector<std::vector<float>> params;
};

// 3 epochs of SGD with momentum. distributed: each rank a DistributedSampler shard in batches
// of 8 (its initial weights differ on rank 1: fit broadcasts rank 0's); otherwise one process
// on the whole data in batches of 16, shuffled with the same seed (the same permutation: the
// two ranks' step-k batches together are the one process's batch k).
FitRun run(train::Execution mode, bool dist, train::CallbackList callbacks = {}) {
  Toy data(64, 7), val(20, 9);
  auto net = toy_net(dist && distributed::rank() == 1 ? 2 : 1);
  optim::SGD opt(net->parameters(), 0.1, 0.9);
  std::unique_ptr<data::DataLoader> loader, val_loader;
  if (dist) {
    loader = std::make_unique<data::DataLoader>(
        data.x, data.y,
        data::DataLoaderOptions{
            .batch_size = 8,
            .sampler = data::DistributedSampler::for_current_process(64, {.seed = 3})});
    val_loader = std::make_unique<data::DataLoader>(
        val.x, val.y,
        data::DataLoaderOptions{
            .batch_size = 4,
            .sampler = data::DistributedSampler::for_current_process(20, {.shuffle = false})});
  } else {
    loader = std::make_unique<data::DataLoader>(data.x, data.y, 16, /*shuffle=*/true, 3);
    val_loader = std::make_unique<data::DataLoader>(val.x, val.y, 8, /*shuffle=*/false);
  }
  FitRun r;
  r.history = train::fit(*net, train::cross_entropy_loss, opt, *loader,
                         {.epochs = 3,
                          .mode = mode,
                          .validation = val_loader.get(),
                          .metrics = {std::make_shared<train::Accuracy>()},
                          .callbacks = callbacks,
                          .progress = train::Progress::none,
                          .distributed = dist});
  r.params = weights(*net);
  return r;
}

// Rank 0's values of `v` (every rank passes its own).
std::vector<double> from_rank0(const std::vector<double>& v) {
  Tensor t = Tensor::from_vector(v, {static_cast<int64_t>(v.size())}, float64);
  distributed::broadcast(t, 0);
  return t.to_vector<double>();
}

std::vector<double> flat(const FitRun& r) {
  std::vector<double> out;
  for (const auto& p : r.params) out.insert(out.end(), p.begin(), p.end());
  for (const auto& e : r.history.epochs)
    for (const auto& [k, v] : e.items()) out.push_back(v);
  return out;
}

void expect_matches_one_process(train::Execution mode) {
  ensure_init();
  ASSERT_EQ(distributed::world_size(), 2);
  FitRun d = run(mode, true);
  FitRun one = run(mode, false);  // every rank computes the reference on its own
  ASSERT_EQ(d.history.epochs.size(), 3u);
  ASSERT_EQ(one.history.epochs.size(), 3u);
  for (size_t e = 0; e < 3; ++e) {
    const auto& a = d.history.epochs[e].items();
    const auto& b = one.history.epochs[e].items();
    ASSERT_EQ(a.size(), b.size());
    for (size_t k = 0; k < a.size(); ++k) {
      EXPECT_EQ(a[k].first, b[k].first);
      EXPECT_NEAR(a[k].second, b[k].second, 1e-5 * std::max(1.0, std::abs(b[k].second)))
          << "epoch " << e << " " << a[k].first;
    }
  }
  EXPECT_EQ(d.history.epochs[0].items()[0].first, "loss");
  EXPECT_TRUE(d.history.epochs[0].contains("val_accuracy"));
  for (size_t i = 0; i < d.params.size(); ++i)
    for (size_t j = 0; j < d.params[i].size(); ++j)
      EXPECT_NEAR(d.params[i][j], one.params[i][j],
                  1e-5 * std::max(1.0f, std::abs(one.params[i][j])))
          << "parameter " << i << " element " << j;
  // Every rank ends with the same parameters and the same logs, bit for bit.
  const std::vector<double> mine = flat(d);
  EXPECT_EQ(from_rank0(mine), mine);
}

// Counts its calls; rank_zero_only as given.
struct Counter : train::Callback {
  bool zero_only;
  int epochs = 0, batches = 0, train_end = 0;
  int64_t world = 0;
  explicit Counter(bool z) : zero_only(z) {}
  void on_train_begin(train::FitState& s) override { world = s.world_size; }
  void on_epoch_end(train::FitState&, const train::Logs&) override { ++epochs; }
  void on_batch_end(train::FitState&, const train::Logs&) override { ++batches; }
  void on_train_end(train::FitState&) override { ++train_end; }
  bool rank_zero_only() const override { return zero_only; }
};

// Sets stop_training after the first epoch on rank 1 only.
struct StopOnRank1 : train::Callback {
  void on_epoch_end(train::FitState& s, const train::Logs&) override {
    if (distributed::rank() == 1) s.stop_training = true;
  }
};

}  // namespace

TEST(DistributedFit, EagerMatchesOneProcessOnTheGlobalBatch) {
  expect_matches_one_process(train::Execution::eager);
}

TEST(DistributedFit, GraphMatchesOneProcessOnTheGlobalBatch) {
  expect_matches_one_process(train::Execution::graph);
}

TEST(DistributedFit, RankZeroOnlyCallbacksAndProgressRunOnRankZero) {
  ensure_init();
  auto everywhere = std::make_shared<Counter>(false);
  auto zero_only = std::make_shared<Counter>(true);
  Toy data(64, 7);
  auto net = toy_net(1);
  optim::SGD opt(net->parameters(), 0.1);
  data::DataLoader loader(data.x, data.y,
                          {.batch_size = 8,
                           .sampler = data::DistributedSampler::for_current_process(64)});
  std::ostringstream progress;
  train::fit(*net, train::cross_entropy_loss, opt, loader,
             {.epochs = 2,
              .callbacks = {everywhere, zero_only},
              .progress = train::Progress::lines,
              .progress_stream = &progress,
              .distributed = true});
  EXPECT_EQ(everywhere->epochs, 2);
  EXPECT_EQ(everywhere->batches, 8);  // 32 samples per rank, 4 steps per epoch
  EXPECT_EQ(everywhere->train_end, 1);
  EXPECT_EQ(everywhere->world, 2);  // FitState::world_size
  const bool zero = distributed::rank() == 0;
  EXPECT_EQ(zero_only->epochs, zero ? 2 : 0);
  EXPECT_EQ(zero_only->batches, zero ? 8 : 0);
  EXPECT_EQ(progress.str().find("epoch 2/2") != std::string::npos, zero) << progress.str();
  EXPECT_EQ(progress.str().empty(), !zero);
  // The callbacks that write files say so.
  EXPECT_TRUE(train::ProgressBar().rank_zero_only());
  EXPECT_TRUE(train::ModelCheckpoint({.last = "x"}).rank_zero_only());
  EXPECT_FALSE(train::EarlyStopping().rank_zero_only());
}

TEST(DistributedFit, StopTrainingOnOneRankStopsEveryRank) {
  ensure_init();
  FitRun r = run(train::Execution::eager, true, {std::make_shared<StopOnRank1>()});
  EXPECT_EQ(r.history.epochs.size(), 1u);
}

TEST(DistributedFit, ResumesExactlyAcrossTheSameWorldSize) {
  ensure_init();
  // One file name for both ranks: rank 0's pid.
  Tensor pid = Tensor::from_vector(std::vector<int64_t>{static_cast<int64_t>(::getpid())}, {1});
  distributed::broadcast(pid, 0);
  const std::string path =
      (std::filesystem::temp_directory_path() /
       ("duet_mp_fit_resume_" + std::to_string(pid.to_vector<int64_t>()[0]) + ".safetensors"))
          .string();
  for (train::Execution mode : {train::Execution::eager, train::Execution::graph}) {
    Toy data(64, 7);
    auto objects = [&](uint64_t seed) {
      auto net = toy_net(seed);
      auto opt = std::make_unique<optim::Adam>(net->parameters(), 0.01);
      auto loader = std::make_unique<data::DataLoader>(
          data.x, data.y,
          data::DataLoaderOptions{
              .batch_size = 8,
              .sampler = data::DistributedSampler::for_current_process(64, {.seed = 5})});
      return std::make_tuple(net, std::move(opt), std::move(loader));
    };
    auto opts = [&](int64_t epochs, int64_t initial, train::CallbackList cbs) {
      return train::FitOptions{.epochs = epochs, .initial_epoch = initial, .mode = mode,
                               .callbacks = cbs, .progress = train::Progress::none,
                               .distributed = true};
    };
    auto [a_net, a_opt, a_loader] = objects(1);
    train::History ha = train::fit(*a_net, train::cross_entropy_loss, *a_opt, *a_loader,
                                   opts(2, 0, {}));
    auto [b_net, b_opt, b_loader] = objects(1);
    auto saver = std::make_shared<train::ModelCheckpoint>(
        train::ModelCheckpointOptions{.last = path});
    train::fit(*b_net, train::cross_entropy_loss, *b_opt, *b_loader, opts(1, 0, {saver}));
    // Only rank 0 wrote it; fit's closing barrier means it is complete here on every rank.
    EXPECT_EQ(saver->last_path().empty(), distributed::rank() != 0);
    auto [c_net, c_opt, c_loader] = objects(3);
    train::CheckpointInfo info = train::load_checkpoint(
        path, {.model = c_net.get(), .optimizer = c_opt.get(), .loader = c_loader.get()});
    EXPECT_EQ(info.epoch, 1);
    EXPECT_EQ(info.global_step, 4);
    train::History hc = train::fit(*c_net, train::cross_entropy_loss, *c_opt, *c_loader,
                                   opts(2, info.epoch, {}));
    EXPECT_EQ(weights(*a_net), weights(*c_net));  // bit for bit
    ASSERT_EQ(hc.epochs.size(), 1u);
    EXPECT_EQ(ha.epochs[1].items(), hc.epochs[0].items());
    // A loader over another shard length (another world size) refuses the checkpoint.
    data::DataLoader other(data.x, data.y,
                           {.batch_size = 8,
                            .sampler = std::make_shared<data::DistributedSampler>(64, 4, 0)});
    auto d_net = toy_net(1);
    optim::Adam d_opt(d_net->parameters(), 0.01);
    EXPECT_DUET_ERROR(train::load_checkpoint(path, {.model = d_net.get(), .optimizer = &d_opt,
                                                    .loader = &other}),
                      "32 samples", "has 16");
    distributed::barrier();  // every rank has read it
    if (distributed::rank() == 0) std::filesystem::remove(path);
  }
}

TEST(DistributedFit, WrongSamplerOrUnequalStepsFailOnEveryRank) {
  ensure_init();
  Toy data(64, 7);
  auto net = toy_net(1);
  optim::SGD opt(net->parameters(), 0.1);
  const int rank = distributed::rank();
  // Rank 1 gives rank 0's shard.
  data::DataLoader wrong(data.x, data.y,
                         {.batch_size = 8,
                          .sampler = std::make_shared<data::DistributedSampler>(64, 2, 0)});
  if (rank == 1) {
    EXPECT_DUET_ERROR(train::fit(*net, train::cross_entropy_loss, opt, wrong,
                                 {.progress = train::Progress::none, .distributed = true}),
                      "DistributedSampler is for rank 0 of 2 but this process is rank 1 of 2");
  } else {
    EXPECT_DUET_ERROR(train::fit(*net, train::cross_entropy_loss, opt, wrong,
                                 {.progress = train::Progress::none, .distributed = true}),
                      "another rank's train loader");
  }
  // Rank 1 has half the samples: 4 steps against 2.
  const int64_t n = rank == 0 ? 64 : 32;
  data::DataLoader uneven(data.x.slice(0, 0, n), data.y.slice(0, 0, n),
                          {.batch_size = 8,
                           .sampler = data::DistributedSampler::for_current_process(n)});
  EXPECT_DUET_ERROR(train::fit(*net, train::cross_entropy_loss, opt, uneven,
                               {.progress = train::Progress::none, .distributed = true}),
                    "steps per epoch", "between 2 and 4");
  distributed::barrier();  // the group still works
}

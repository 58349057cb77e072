// docs/guide.md, "Training on several processes": the ```cpp block line for line
// (UserGuide.SnippetsAreHere), run here as a single-process world (no mpirun: world size 1),
// where it must give exactly the history of the same fit without .distributed.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "duet/data/dataloader.h"
#include "duet/data/sampler.h"
#include "duet/distributed.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "duet/train/callbacks.h"
#include "duet/train/fit.h"
#include "guide_toy.h"

namespace {

using guide_toy::Toy;
using guide_toy::toy_net;

// The same fit on one process without a group: batch 32, the loader's own shuffle (seed 0:
// the sampler's permutation), the plain validation loader.
duet::train::History plain_fit(const duet::Tensor& inputs, const duet::Tensor& labels) {
  duet::data::DataLoader train(inputs, labels, 32, /*shuffle=*/true, /*seed=*/0);
  duet::data::DataLoader val(inputs, labels, 64, /*shuffle=*/false);
  auto net = toy_net();
  duet::optim::SGD sgd(net->parameters(), 0.1, 0.9);
  return duet::train::fit(*net, duet::train::cross_entropy_loss, sgd, train,
                          {.epochs = 10,
                           .validation = &val,
                           .metrics = {std::make_shared<duet::train::Accuracy>()},
                           .progress = duet::train::Progress::none});
}

}  // namespace

TEST(GuideDistributed, FitOnEveryRankOfASingletonWorld) {
  // init() loads the MPI engine plugin (libduet_mpi.so), built when OpenMPI's development
  // files are installed; without mpirun it starts a single-process world.
  if (!std::filesystem::exists(DUET_BINARY_DIR "/libduet_mpi.so"))
    GTEST_SKIP() << "no MPI engine plugin in " DUET_BINARY_DIR;
  ASSERT_FALSE(duet::distributed::is_initialized());
  Toy d = guide_toy::toy_data();
  duet::Tensor inputs = d.inputs, labels = d.labels;
  testing::internal::CaptureStdout();
  duet::distributed::init();  // rank and world size from mpirun's environment
  const int world = duet::distributed::world_size();
  // Each rank its shard of every epoch: the same shuffle on every rank, every world-th sample.
  auto shard = duet::data::DistributedSampler::for_current_process(inputs.size(0), {.seed = 0});
  auto val_shard = duet::data::DistributedSampler::for_current_process(inputs.size(0),
                                                                       {.shuffle = false});
  duet::data::DataLoader train(inputs, labels, {.batch_size = 32 / world, .sampler = shard});
  duet::data::DataLoader val(inputs, labels, {.batch_size = 64, .sampler = val_shard});
  auto net = toy_net();
  duet::optim::SGD sgd(net->parameters(), 0.1, 0.9);
  duet::train::History history = duet::train::fit(
      *net, duet::train::cross_entropy_loss, sgd, train,
      {.epochs = 10,
       .validation = &val,
       .metrics = {std::make_shared<duet::train::Accuracy>()},
       .progress = duet::train::Progress::lines,  // printed by rank 0 only
       .distributed = true});
  // every rank: the same history (losses and accuracies over all ranks' samples) and weights
  const std::string printed = testing::internal::GetCapturedStdout();
  EXPECT_EQ(world, 1);
  EXPECT_NE(printed.find("epoch 10/10 - 8/8 - "), std::string::npos) << printed;
  EXPECT_GT(history.values("val_accuracy").back(), 0.95);
  duet::train::History plain = plain_fit(inputs, labels);
  ASSERT_EQ(history.epochs.size(), plain.epochs.size());
  for (size_t e = 0; e < plain.epochs.size(); ++e)
    EXPECT_EQ(history.epochs[e].items(), plain.epochs[e].items()) << "epoch " << e;
  duet::distributed::shutdown();
}

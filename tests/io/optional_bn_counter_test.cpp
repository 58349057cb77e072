// Issue #13, bug 8: a safetensors checkpoint without BatchNorm's num_batches_tracked (common
// in exported checkpoints) loads through load_weights, the counter at 0 as in PyTorch; every
// other key stays required.
#include "duet/io.h"
#include "duet/models.h"
#include "duet/nn.h"
#include "io_test_util.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

TEST(OptionalBnCounter, LoadWeightsWithoutNumBatchesTracked) {
  TempDir dir;
  Generator gen(3);
  auto src = models::create_model("resnet18", 10, gen);
  nn::StateDict exported;
  for (auto& [k, v] : src->state_dict())
    if (k.find("num_batches_tracked") == std::string::npos) exported.emplace_back(k, v);
  ASSERT_EQ(exported.size(), src->state_dict().size() - 20);  // resnet18 has 20 BatchNorms
  const std::string path = dir.file("exported.safetensors");
  io::save_safetensors(path, exported);

  auto dst = models::create_model("resnet18", 10, gen);
  nn::find(dst->state_dict(), "layer4.1.bn2.num_batches_tracked").fill_(9);
  io::load_weights(*dst, path);
  EXPECT_EQ(nn::find(dst->state_dict(), "layer4.1.bn2.num_batches_tracked").item<int64_t>(), 0);
  expect_close(nn::find(dst->state_dict(), "layer4.1.bn2.running_mean"),
               nn::find(src->state_dict(), "layer4.1.bn2.running_mean"), 0, 0);

  // Without a running_var the load still fails, naming the file and the key.
  exported.erase(exported.begin() + 4);  // bn1.running_var
  io::save_safetensors(path, exported);
  EXPECT_DUET_ERROR(io::load_weights(*dst, path), "load_weights: '",
                    "missing key 'bn1.running_var'");
}

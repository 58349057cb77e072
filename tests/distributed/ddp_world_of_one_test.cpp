// DistributedDataParallel in a world of one (no mpirun: MPI starts a singleton): the averaged
// gradients are exactly the plain backward's, the buckets and timings are filled in, no_sync
// and a forward without backward behave; without init() it is an error. init()
// changes the whole process, so the test runs in a child process (gtest's threadsafe death
// test); 2-rank behaviour: tests/mpirun/ddp_eager_test.cpp.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "duet/autograd.h"
#include "duet/distributed.h"
#include "duet/distributed/ddp.h"
#include "duet/duet.h"
#include "duet/nn.h"
#include "duet/profiler.h"
#include "distributed_test_util.h"

using namespace duet;
namespace dist = duet::distributed;

namespace {

using duet::test::require;

std::shared_ptr<nn::Sequential> net(uint64_t seed) {
  Generator g(seed);
  return std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(6, 8, true, g), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(8, 3, true, g)});
}

bool same_grads(nn::Module& a, nn::Module& b) {
  auto pa = a.parameters(), pb = b.parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    if (pa[i].grad().defined() != pb[i].grad().defined()) return false;
    if (pa[i].grad().defined() &&
        pa[i].grad().to_vector<float>() != pb[i].grad().to_vector<float>())
      return false;
  }
  return true;
}

// The child's body: exits 1 with a message on a failed check.
void world_of_one_body() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMI_SIZE", "RANK",
                        "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"})
    unsetenv(v);
  dist::init();
  require(dist::world_size() == 1, "a world of one");
  auto model = net(1), plain = net(1);
  dist::DistributedDataParallel ddp(model, {.bucket_cap_mb = 100.0 / (1024 * 1024)});
  // 4 parameters of 48, 8, 24 and 3 floats, 100 bytes per bucket at most, reverse order:
  // 3 (12 B), 2 (96 B: 12 + 96 > 100), 1 (32 B: 96 + 32 > 100), 0 (192 B): one each.
  const auto& b = ddp.reducer().buckets();
  require(b.size() == 4 && b[0].params == std::vector<int64_t>{3} &&
              b[1].params == std::vector<int64_t>{2} && b[3].params == std::vector<int64_t>{0},
          "bucket layout");
  Generator g(9);
  Tensor x = Tensor::randn({5, 6}, g);
  Tensor y = Tensor::from_vector(std::vector<int64_t>{0, 2, 1, 1, 0}, {5});
  for (int step = 0; step < 2; ++step) {
    cross_entropy(ddp(x), y).backward();
    cross_entropy((*plain)(x), y).backward();
    require(same_grads(*model, *plain), "gradients equal the plain backward's");
  }
  {  // In a profile, the reducer's work on the backward thread is named per bucket.
    profiler::Profile prof;
    cross_entropy(ddp(x), y).backward();
    prof.stop();
    cross_entropy((*plain)(x), y).backward();
    int launches = 0, finishes = 0;
    for (const auto& e : prof.events()) {
      launches += e.name.rfind("ddp.launch bucket ", 0) == 0;
      finishes += e.name.rfind("ddp.finish bucket ", 0) == 0;
    }
    require(launches == 4 && finishes == 4, "profiler ranges per bucket");
  }
  auto t = ddp.reducer().last_timings();
  require(t.size() == 4, "one timing per bucket");
  for (const auto& tb : t)
    require(tb.ready <= tb.started && tb.started <= tb.completed, "ready <= start <= done");
  // no_sync: accumulates like the plain model; a forward without backward is harmless.
  {
    auto guard = ddp.no_sync();
    cross_entropy(ddp(x), y).backward();
    cross_entropy((*plain)(x), y).backward();
  }
  (void)ddp(x);
  // The several-input form arms the hooks too (prepare_for_backward resets the end time).
  Tensor many = ddp(std::vector<Tensor>{x})[0];
  require(ddp.reducer().last_backward_seconds() == 0, "forward_many armed the reducer");
  cross_entropy(many, y).backward();
  require(ddp.reducer().last_backward_seconds() > 0, "the reducer finished the backward");
  cross_entropy((*plain)(x), y).backward();
  cross_entropy(ddp(x), y).backward();
  cross_entropy((*plain)(x), y).backward();
  require(same_grads(*model, *plain), "no_sync then a synced backward");
  // Concrete all_reduce_gradients: the identity (undefined: zeros).
  std::vector<Tensor> grads;
  for (const Tensor& p : model->parameters()) grads.push_back(p.grad());
  grads[1] = Tensor();
  auto out = ddp.reducer().all_reduce_gradients(grads);
  require(out[0].to_vector<float>() == grads[0].to_vector<float>(), "identity");
  require(out[1].to_vector<float>() == std::vector<float>(8, 0.f), "zeros");
  dist::shutdown();
}

}  // namespace

TEST(DDPWorldOfOne, GradientsAreThePlainBackwards) {
  IN_CHILD(world_of_one_body());
}

TEST(DDPWorldOfOne, NeedsInit) {
  auto model = net(2);
  try {
    dist::DistributedDataParallel ddp(model);
    ADD_FAILURE() << "expected duet::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not initialized"), std::string::npos) << e.what();
  }
}

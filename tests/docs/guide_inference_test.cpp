// docs/guide.md, "Fast CPU inference": its snippet, run, with what its comments promise checked
// (the logits are the model's, the original weights are released, the graph is blocked where
// the CPU has AVX-512).
#include <gtest/gtest.h>

#include <string>

#include "duet/duet.h"
#include "duet/models/zoo.h"

TEST(GuideInference, ReleasedWeightsBlockedLayout) {
  duet::Tensor expected;
  duet::Generator check_gen(0);
  {
    auto ref = duet::models::create_model("resnet18", 10, check_gen);
    ref->eval();
    duet::NoGradGuard no_grad;
    expected = (*ref)(duet::Tensor::randn({1, 3, 64, 64}, check_gen));
  }

  // ---- the snippet ----
  duet::Generator gen(0);
  auto net = duet::models::create_model("resnet18", 10, gen);
  net->eval();
  duet::Graph g;
  duet::Tensor y = (*net)(g.input("x", {1, 3, 64, 64}));
  duet::Executable exe = duet::compile(g, {y}, {.release_weights = true});
  net.reset();  // the executable now holds the only reference to the weights

  duet::Tensor x = duet::Tensor::randn({1, 3, 64, 64}, gen);
  duet::Tensor logits = exe.run({{"x", x}})[0];  // run 1 packs the weights, releases the originals
  int64_t freed = exe.memory_report().released;  // bytes of original weights let go
  bool blocked = exe.dump().find("nChw16c") != std::string::npos;  // true with AVX-512
  // ---- end of the snippet ----

  const double scale = duet::max(duet::abs(expected), {}, false).item();
  EXPECT_LE(duet::max(duet::abs(duet::sub(logits, expected)), {}, false).item(), 1e-4 * scale);
  EXPECT_GT(freed, 0);
  EXPECT_EQ(blocked, duet::simd::kernel_isa() == duet::simd::Isa::avx512);
  // A second run gives the same logits from the packed weights alone (run() returns views of
  // the executable's memory, valid until the next run: keep a copy of the first).
  const duet::Tensor first = logits.clone();
  const duet::Tensor second = exe.run({{"x", x}})[0];
  EXPECT_EQ(second.to_vector<float>(), first.to_vector<float>());
}

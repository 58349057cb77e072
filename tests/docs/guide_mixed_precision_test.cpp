// docs/guide.md, "Mixed precision": its snippet, run, with what its comments promise checked
// (dtypes of the logits, the loss, the parameters and their gradients; the graph step runs).
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>

#include "duet/duet.h"
#include "duet/models/fashion_cnn.h"

TEST(GuideMixedPrecision, AutocastEagerAndGraph) {
  // ---- the snippet ----
  duet::Generator gen(0);
  auto net = duet::models::fashion_cnn(gen, /*dropout=*/0.0);
  duet::optim::SGD opt(net->parameters(), 0.05, 0.9);
  duet::Tensor x = duet::Tensor::randn({8, 1, 28, 28}, gen);
  duet::Tensor y = duet::argmax(duet::Tensor::randn({8, 10}, gen), 1);

  // eager
  duet::Tensor logits, loss;
  {
    auto scope = duet::autocast(duet::bfloat16);
    logits = (*net)(x);                     // bfloat16 (the last layer is a linear)
    loss = duet::cross_entropy(logits, y);  // float32
  }
  loss.backward();  // every parameter and its gradient: float32
  opt.step();

  // graph: the "autocast" pass inserts the same casts before autodiff
  duet::Graph g({.training = true});
  duet::Tensor l =
      duet::cross_entropy((*net)(g.input("x", {8, 1, 28, 28})), g.input("y", {8}, duet::int64));
  duet::Executable step =
      duet::compile(g, {l}, {.training = true, .optimizer = &opt, .autocast = duet::bfloat16});
  double graph_loss = step.run({{"x", x}, {"y", y}})[0].item();
  // ---- end of the snippet ----

  EXPECT_EQ(logits.dtype(), duet::bfloat16);
  EXPECT_EQ(loss.dtype(), duet::float32);
  EXPECT_TRUE(std::isfinite(graph_loss));
  EXPECT_NE(step.dump().find("bfloat16"), std::string::npos);
  for (const duet::Tensor& p : net->parameters()) {  // the gradients of the eager step are kept
    EXPECT_EQ(p.dtype(), duet::float32);
    ASSERT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().dtype(), duet::float32);
  }
}

TEST(GuideMixedPrecision, GradScalerLoop) {
  // ---- the snippet ----
  duet::Generator gen(0);
  auto net = duet::models::fashion_cnn(gen, /*dropout=*/0.0);
  duet::optim::SGD opt(net->parameters(), 0.05, 0.9);
  duet::Tensor x = duet::Tensor::randn({8, 1, 28, 28}, gen);
  duet::Tensor y = duet::argmax(duet::Tensor::randn({8, 10}, gen), 1);

  duet::amp::GradScaler scaler;  // scale 2^16, halved on an overflow, doubled after 2000 steps
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    duet::Tensor scaled;
    {
      auto scope = duet::autocast(duet::float16);
      scaled = scaler.scale(duet::cross_entropy((*net)(x), y));  // loss * scale
    }
    scaled.backward();
    bool stepped = scaler.step(opt);  // unscales the gradients; false: an inf/NaN, no step
    scaler.update();
    std::cout << "step " << i << (stepped ? " taken" : " skipped") << ", scale "
              << scaler.get_scale() << "\n";
  }
  // ---- end of the snippet ----

  // Each skipped step (a float16 gradient overflowed at that scale) halved the scale; the
  // parameters only ever saw finite, unscaled gradients. (Here the third step overflows at
  // 2^16 and is skipped; the count is not asserted, as it depends on the kernels' bits.)
  const int64_t skipped = scaler.skipped_steps();
  EXPECT_LE(skipped, 3);
  EXPECT_EQ(scaler.get_scale(), 65536.0 / std::pow(2.0, static_cast<double>(skipped)));
  for (const duet::Tensor& p : net->parameters())
    for (float v : p.to_vector<float>()) ASSERT_TRUE(std::isfinite(v));
  for (const duet::Tensor& p : net->parameters()) {
    EXPECT_EQ(p.dtype(), duet::float32);
    ASSERT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().dtype(), duet::float32);  // (a skipped step's may hold inf/NaN)
  }
}

#include "duet/graph.h"
#include "test_util.h"

using namespace duet;

// Hand-counted: conv (2, 3, 8, 8) * w (4, 3, 3, 3), pad 1 -> (2, 4, 8, 8): 512 outputs x 27
// products; depthwise (2, 4, 8, 8) * w (4, 1, 3, 3), stride 2 -> (2, 4, 4, 4): 128 x 9;
// linear (2, 64) * w (10, 64)^T: 20 x 64; matmul (2, 10) @ (10, 5): 10 x 10.
TEST(MultiplyAdds, CountsConvLinearMatmul) {
  Generator gen(0);
  Tensor w1 = Tensor::randn({4, 3, 3, 3}, gen), w2 = Tensor::randn({4, 1, 3, 3}, gen);
  Tensor w3 = Tensor::randn({10, 64}, gen), m = Tensor::randn({10, 5}, gen);
  Graph g;
  Tensor x = g.input("x", {2, 3, 8, 8});
  Tensor h = relu(conv2d(x, w1, Tensor(), {.padding = {1, 1}}));                    // (2, 4, 8, 8)
  h = conv2d(h, w2, Tensor(), {.stride = {2, 2}, .padding = {1, 1}, .groups = 4});  // (2, 4, 4, 4)
  Tensor y = matmul(linear(reshape(h, {2, 64}), w3), m);                            // (2, 5)
  g.end_build();
  EXPECT_EQ(multiply_adds(g), 512 * 27 + 128 * 9 + 20 * 64 + 10 * 10);
  (void)y;
}

// A training graph also counts the two convolution backward passes (same products each).
TEST(MultiplyAdds, TrainingGraphCountsBackward) {
  Generator gen(0);
  Tensor w = Tensor::randn({4, 3, 3, 3}, gen).requires_grad_();
  Graph g({.training = true});
  Tensor x = g.input("x", {2, 3, 8, 8});
  Tensor loss = sum(conv2d(x, w, Tensor(), {.padding = {1, 1}}));
  std::vector<Tensor> grads = gradients(loss, {x, w});
  g.end_build();
  EXPECT_EQ(multiply_adds(g), 3 * 512 * 27);
  (void)grads;
}

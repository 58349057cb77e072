#include "test_util.h"

using namespace duet;
using namespace duet::test;

// Each op's gradient against finite differences, on broadcasting, 0-d and empty samples:
// the op table's test (tests/ops_table/, Gradient). Here: chains of views, where one op's
// input is another's non-contiguous output, a round trip through float32, and where() of a
// comparison.
TEST(Autograd, ViewChainGradients) {
  Tensor a = rand64({2, 3, 4}, 6);
  gradcheck(
      [](const std::vector<Tensor>& x) {
        return x[0].slice(1, 0, 2).expand({5, 2, 2, 4});
      },
      {a});
  gradcheck(
      [](const std::vector<Tensor>& x) {
        return pad(x[0].permute({2, 0, 1}).slice(0, 1, 4, 2), {1, 0}, 2.0).reshape({-1});
      },
      {a});
  gradcheck([](const std::vector<Tensor>& x) { return x[0].to(float32).to(float64); }, {a}, 1e-3,
            1e-3, 1e-4);
  gradcheck([](const std::vector<Tensor>& x) { return where(gt(x[0], 0.0), x[0], x[1]); },
            {a, rand64({4}, 8)});
}

TEST(Autograd, AccumulatesAndZeroGrad) {
  Tensor w = Tensor::from_vector({1, 2}, {2}, float64).requires_grad_();
  Tensor g = Tensor::ones({2}, float64);
  (w * 3.0).backward(g);
  expect_values(w.grad(), {3, 3});
  (w * w).backward(g);
  expect_values(w.grad(), {5, 7});  // 3 + 2w
  w.zero_grad();
  EXPECT_FALSE(w.grad().defined());
}

TEST(Autograd, SharedSubexpressionAccumulates) {
  Tensor x = Tensor::from_vector({2.0}, {1}, float64).requires_grad_();
  Tensor y = x * x;      // 4
  Tensor z = y * y + y;  // x^4 + x^2 -> dz/dx = 4x^3 + 2x = 36
  z.backward();
  expect_values(x.grad(), {36});
}

TEST(Autograd, NoGradAndDetach) {
  Tensor x = Tensor::ones({2}).requires_grad_();
  {
    NoGradGuard ng;
    Tensor y = x * 2.0;
    EXPECT_FALSE(y.requires_grad());
  }
  Tensor d = (x * 2.0).detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.is_leaf());
  EXPECT_TRUE((x * 2.0).requires_grad());
}

TEST(Autograd, Errors) {
  Tensor x = Tensor::ones({3}).requires_grad_();
  Tensor y = x * 2.0;
  EXPECT_DUET_ERROR(y.backward(), "backward", "non-scalar", "(3,)");
  Tensor c = Tensor::ones({1});
  EXPECT_DUET_ERROR(c.backward(), "backward", "does not require grad");
  Tensor z = (x * x).slice(0, 0, 1);
  z.backward();
  EXPECT_DUET_ERROR(z.backward(), "backward", "second time", "mul", "retain_graph");
  Tensor w = (x * x).slice(0, 0, 1);
  w.backward(Tensor(), /*retain_graph=*/true);
  w.backward();
  expect_values(x.grad(), {2 + 2 + 2, 0, 0});
  Tensor l = Tensor::ones({2}).requires_grad_();
  EXPECT_DUET_ERROR(l.fill_(1), "fill_", "leaf", "NoGradGuard");
  // Mixed dtypes promote (PyTorch's promote_types; tests/lowp/dtype_promotion_test.cpp).
  EXPECT_EQ(add(Tensor::ones({2}), Tensor::ones({2}, float64)).dtype(), float64);
  EXPECT_DUET_ERROR(add(Tensor::ones({2}), Tensor::ones({3})), "add", "(2,)", "(3,)", "broadcast");
}

TEST(Autograd, InPlaceModificationOfSavedTensorIsCaught) {
  Tensor x = Tensor::ones({2}).requires_grad_();
  Tensor a = x * 1.0;
  Tensor b = Tensor::ones({2});
  Tensor y = a * b;  // saves b
  {
    NoGradGuard ng;
    b.fill_(3);
  }
  EXPECT_DUET_ERROR(y.backward(Tensor::ones({2})), "backward", "modified in place", "mul");
}

// Eager autocast (duet/amp.h): the scope (nesting, enabled = false, dtype errors), the op
// policy (output dtypes of lower / float32 / none ops), master weights (float32 parameters
// with float32 gradients) and backward running outside the policy.
#include <thread>

#include "amp/autocast.h"
#include "duet/amp.h"
#include "duet/nn.h"
#include "test_util.h"

using namespace duet;

namespace {

Tensor randn(const Shape& s, uint64_t seed) {
  Generator gen(seed);
  return Tensor::randn(s, gen);
}

}  // namespace

TEST(AutocastScope, NestsAndRestores) {
  EXPECT_FALSE(autocast_dtype().has_value());
  {
    auto outer = autocast(bfloat16);
    EXPECT_EQ(autocast_dtype(), bfloat16);
    {
      auto inner = autocast(float16);
      EXPECT_EQ(autocast_dtype(), float16);
      {
        auto off = autocast(bfloat16, /*enabled=*/false);
        EXPECT_FALSE(autocast_dtype().has_value());
      }
      EXPECT_EQ(autocast_dtype(), float16);
    }
    EXPECT_EQ(autocast_dtype(), bfloat16);
  }
  EXPECT_FALSE(autocast_dtype().has_value());
}

TEST(AutocastScope, RejectsOtherDtypes) {
  for (DType t : {float32, float64, int64, bool_}) {
    try {
      auto scope = autocast(t);
      FAIL() << "autocast(" << dtype_name(t) << ") did not throw";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("autocast"), std::string::npos) << msg;
      EXPECT_NE(msg.find(dtype_name(t)), std::string::npos) << msg;
      EXPECT_NE(msg.find("bfloat16 or float16"), std::string::npos) << msg;
    }
    EXPECT_FALSE(autocast_dtype().has_value());  // a failed guard changes nothing
  }
}

TEST(AutocastScope, ThreadLocal) {
  auto scope = autocast(bfloat16);
  std::optional<DType> seen = bfloat16;
  std::thread t([&] { seen = autocast_dtype(); });
  t.join();
  EXPECT_FALSE(seen.has_value());
}

TEST(AutocastPolicy, TargetRule) {
  using detail::autocast_target;
  using P = AutocastPolicy;
  EXPECT_EQ(autocast_target(P::lower, float32, bfloat16), bfloat16);
  EXPECT_EQ(autocast_target(P::lower, float16, bfloat16), bfloat16);
  EXPECT_EQ(autocast_target(P::lower, bfloat16, bfloat16), std::nullopt);
  EXPECT_EQ(autocast_target(P::lower, float64, bfloat16), std::nullopt);
  EXPECT_EQ(autocast_target(P::lower, int64, float16), std::nullopt);
  EXPECT_EQ(autocast_target(P::lower, bool_, float16), std::nullopt);
  EXPECT_EQ(autocast_target(P::float32, bfloat16, bfloat16), float32);
  EXPECT_EQ(autocast_target(P::float32, float16, bfloat16), float32);
  EXPECT_EQ(autocast_target(P::float32, float32, bfloat16), std::nullopt);
  EXPECT_EQ(autocast_target(P::float32, float64, bfloat16), std::nullopt);
  EXPECT_EQ(autocast_target(P::none, float32, bfloat16), std::nullopt);
}

// The declarations on the ops (the full list is checked against the docs in
// autocast_docs_test.cpp).
TEST(AutocastPolicy, KeyOps) {
  for (const char* name : {"conv2d", "conv2d_fused", "linear", "linear_fused", "matmul"})
    EXPECT_EQ(find_op(name)->autocast, AutocastPolicy::lower) << name;
  for (const char* name :
       {"sum", "mean", "softmax", "log_softmax", "cross_entropy", "exp", "log", "pow"})
    EXPECT_EQ(find_op(name)->autocast, AutocastPolicy::float32) << name;
  // Batch norm keeps a low-precision x (float32 statistics inside the op).
  for (const char* name :
       {"relu", "add", "mul", "max_pool2d", "reshape", "cast", "sgd_step_", "adam_step_",
        "conv2d_backward_input", "batch_norm_train", "channel_affine"}) {
    EXPECT_EQ(find_op(name)->autocast, AutocastPolicy::none) << name;
  }
  // Backward ops never carry a policy: gradients run in the dtypes the forward chose.
  for (const OpDef* op : all_ops()) {
    if (op->has(OpTrait::backward) || op->has(OpTrait::optimizer_update) ||
        op->has(OpTrait::mutates)) {
      EXPECT_EQ(op->autocast, AutocastPolicy::none) << op->name;
    }
  }
}

class AutocastEager : public ::testing::TestWithParam<DType> {};

TEST_P(AutocastEager, OutputDtypesFollowThePolicy) {
  const DType lowp = GetParam();
  Tensor x = randn({4, 8}, 1), w = randn({6, 8}, 2), b = randn({6}, 3);
  Tensor img = randn({2, 3, 6, 6}, 4), k = randn({5, 3, 3, 3}, 5);
  Tensor labels = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 3}, {4});
  auto scope = autocast(lowp);
  Tensor h = linear(x, w, b);
  EXPECT_EQ(h.dtype(), lowp);
  EXPECT_EQ(matmul(x, w.transpose(0, 1)).dtype(), lowp);
  EXPECT_EQ(conv2d(img, k).dtype(), lowp);
  EXPECT_EQ(relu(h).dtype(), lowp);           // none: runs in the input dtype
  EXPECT_EQ(softmax(h, 1).dtype(), float32);  // float32
  EXPECT_EQ(log_softmax(h, 1).dtype(), float32);
  EXPECT_EQ(sum(h).dtype(), float32);
  EXPECT_EQ(mean(h).dtype(), float32);
  EXPECT_EQ(exp(h).dtype(), float32);
  EXPECT_EQ(cross_entropy(h, labels).dtype(), float32);
  EXPECT_EQ(add(h, randn({4, 6}, 7)).dtype(), float32);       // none, promoted (lowp + float32)
  EXPECT_EQ(mse_loss(h, randn({4, 6}, 6)).dtype(), float32);  // composite on the float32 list
  EXPECT_EQ(mse_loss(h, cast(randn({4, 6}, 6), lowp)).dtype(), float32);
  EXPECT_EQ(linear(x.to(float64), w.to(float64)).dtype(), float64);  // float64 left alone
  // The values are the float32 op on rounded inputs, rounded: compare with a float32
  // reference within the dtype's precision.
  Tensor ref;
  {
    auto off = autocast(lowp, false);
    ref = linear(x, w, b);
  }
  test::expect_close(h.to(float32), ref, lowp == bfloat16 ? 3e-2 : 4e-3, 3e-2);
}

TEST_P(AutocastEager, MasterWeightsGetFloat32Gradients) {
  const DType lowp = GetParam();
  Generator gen(0);
  nn::Linear fc1(8, 16, true, gen), fc2(16, 4, true, gen);
  Tensor x = randn({5, 8}, 9);
  Tensor labels = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 3, 0}, {5});
  Tensor loss;
  {
    auto scope = autocast(lowp);
    Tensor logits = fc2(relu(fc1(x)));
    EXPECT_EQ(logits.dtype(), lowp);
    loss = cross_entropy(logits, labels);
  }
  EXPECT_EQ(loss.dtype(), float32);
  loss.backward();
  for (nn::Linear* m : {&fc1, &fc2})
    for (const Tensor& p : m->parameters()) {
      EXPECT_EQ(p.dtype(), float32);
      ASSERT_TRUE(p.grad().defined());
      EXPECT_EQ(p.grad().dtype(), float32);
    }
  // Against the float32 gradient: close, not equal (the forward ran in low precision).
  Generator gen2(0);
  nn::Linear r1(8, 16, true, gen2), r2(16, 4, true, gen2);
  cross_entropy(r2(relu(r1(x))), labels).backward();
  test::expect_close(fc1.weight.grad(), r1.weight.grad(), 0.1, 2e-2);
}

// Backward runs without the policy even when called inside the scope: the gradient of a
// float32 op on a low-precision value arrives in low precision through the cast, and the
// gradient rules' own reductions are not cast to float32.
TEST_P(AutocastEager, BackwardDoesNotApplyThePolicy) {
  const DType lowp = GetParam();
  Tensor x = randn({3, 4}, 1).requires_grad_();
  Tensor w = randn({2, 4}, 2).requires_grad_();
  auto scope = autocast(lowp);
  Tensor h = linear(x, w);    // lowp
  Tensor l = sum(mul(h, h));  // mul: lowp; sum: float32
  EXPECT_EQ(l.dtype(), float32);
  l.backward();
  EXPECT_EQ(x.grad().dtype(), float32);
  EXPECT_EQ(w.grad().dtype(), float32);
  // The same numbers as running the recorded casts by hand, without autocast.
  Tensor x2 = x.detach().requires_grad_(), w2 = w.detach().requires_grad_();
  {
    auto off = autocast(lowp, false);
    Tensor h2 = linear(cast(x2, lowp), cast(w2, lowp));
    sum(cast(mul(h2, h2), float32)).backward();
  }
  EXPECT_EQ(x.grad().to_vector<float>(), x2.grad().to_vector<float>());
  EXPECT_EQ(w.grad().to_vector<float>(), w2.grad().to_vector<float>());
}

// Batch norm under autocast: the output keeps the convolution's low dtype, the batch and
// running statistics, the parameters and their gradients are float32.
TEST_P(AutocastEager, BatchNormStatisticsStayFloat32) {
  const DType lowp = GetParam();
  Generator gen(0);
  nn::Conv2d conv(3, 4, 3, {.padding = 1}, false, gen);
  nn::BatchNorm2d bn(4);
  Tensor x = randn({2, 3, 5, 5}, 1);
  Tensor y;
  {
    auto scope = autocast(lowp);
    y = relu(bn(conv(x)));
    EXPECT_EQ(y.dtype(), lowp);
    y = sum(y);
  }
  EXPECT_EQ(y.dtype(), float32);
  y.backward();
  EXPECT_EQ(bn.running_mean.dtype(), float32);
  EXPECT_EQ(bn.running_var.dtype(), float32);
  EXPECT_EQ(bn.weight.grad().dtype(), float32);
  EXPECT_EQ(conv.weight.grad().dtype(), float32);
  // The running mean moved towards the batch mean of the (low-precision) conv output.
  Tensor c;
  {
    auto scope = autocast(lowp);
    NoGradGuard ng;
    c = conv(x).to(float32);
  }
  test::expect_close(bn.running_mean, mul(mean(c, {0, 2, 3}), 0.1), 1e-4, 1e-5);
  // Eval mode: channel_affine on the low-precision x, output low precision.
  bn.eval();
  auto scope = autocast(lowp);
  EXPECT_EQ(bn(conv(x)).dtype(), lowp);
}

TEST_P(AutocastEager, IntegerInputsAreLeftAlone) {
  const DType lowp = GetParam();
  Tensor logits = randn({4, 3}, 1);
  Tensor labels = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 1}, {4});
  auto scope = autocast(lowp);
  Tensor l = cross_entropy(cast(logits, lowp), labels);
  EXPECT_EQ(l.dtype(), float32);
  Tensor expected;
  {
    auto off = autocast(lowp, false);
    expected = cross_entropy(cast(cast(logits, lowp), float32), labels);
  }
  EXPECT_EQ(l.item(), expected.item());
}

INSTANTIATE_TEST_SUITE_P(Dtypes, AutocastEager, ::testing::Values(bfloat16, float16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

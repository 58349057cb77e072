// duet/autograd.h's hooks: grad-ready hooks on leaves and end-of-backward callbacks (what
// DistributedDataParallel overlaps its all-reduces with).
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/op_def.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

// Removes its hooks at the end of a test, so that no hook outlives it.
struct Hooks {
  std::vector<int64_t> ids;
  int64_t add(const Tensor& leaf, GradReadyHook fn) {
    ids.push_back(add_grad_ready_hook(leaf, std::move(fn)));
    return ids.back();
  }
  ~Hooks() {
    for (int64_t id : ids) remove_grad_ready_hook(id);
  }
};

}  // namespace

TEST(GradHooks, ParameterUsedTwiceFiresOnceAfterBothContributions) {
  Tensor w = Tensor::from_vector({1, 2}, {2}, float64).requires_grad_();
  Tensor a = Tensor::from_vector({3, 4}, {2}, float64);
  Tensor b = Tensor::from_vector({5, 7}, {2}, float64);
  std::vector<std::vector<double>> seen;
  Hooks hooks;
  hooks.add(w, [&](const Tensor& leaf) {
    EXPECT_TRUE(leaf.is_same(w));
    EXPECT_TRUE(in_backward());
    seen.push_back(leaf.grad().to_vector<double>());
  });
  // d/dw sum(w * a + exp(w) * b) = a + exp(w) * b: two edges into w, on different paths.
  sum(add(mul(w, a), mul(exp(w), b))).backward();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_NEAR(seen[0][0], 3 + std::exp(1.0) * 5, 1e-12);
  EXPECT_NEAR(seen[0][1], 4 + std::exp(2.0) * 7, 1e-12);
  expect_values(w.grad(), seen[0], 1e-15);
}

TEST(GradHooks, FiringFollowsBackwardOrder) {
  // A chain: w1 is used first in forward, so its gradient is final last in backward.
  Tensor x = Tensor::from_vector({0.5, -1}, {2}, float64);
  std::vector<Tensor> w;
  for (int i = 0; i < 4; ++i)
    w.push_back(Tensor::full({2}, 1.0 + 0.25 * i, float64).requires_grad_());
  std::vector<int> order;
  Hooks hooks;
  for (int i = 0; i < 4; ++i) hooks.add(w[i], [&order, i](const Tensor&) { order.push_back(i); });
  Tensor h = x;
  for (int i = 0; i < 4; ++i) h = tanh(mul(h, w[i]));
  sum(h).backward();
  EXPECT_EQ(order, (std::vector<int>{3, 2, 1, 0}));
}

TEST(GradHooks, OnlyLeavesThisBackwardReachesFire) {
  Tensor u = Tensor::full({3}, 2.0, float64).requires_grad_();
  Tensor v = Tensor::full({3}, 3.0, float64).requires_grad_();
  int fired_u = 0, fired_v = 0;
  Hooks hooks;
  hooks.add(u, [&](const Tensor&) { ++fired_u; });
  hooks.add(v, [&](const Tensor&) { ++fired_v; });
  sum(mul(u, u)).backward();
  EXPECT_EQ(fired_u, 1);
  EXPECT_EQ(fired_v, 0);
  sum(mul(u, v)).backward();  // once per backward
  EXPECT_EQ(fired_u, 2);
  EXPECT_EQ(fired_v, 1);
  // A root that is itself a hooked leaf.
  v.backward(Tensor::ones({3}, float64));
  EXPECT_EQ(fired_v, 2);
  // Multi-root backward: one firing after both roots' contributions.
  std::vector<double> at_fire;
  hooks.add(u, [&](const Tensor& leaf) { at_fire = leaf.grad().to_vector<double>(); });
  u.zero_grad();
  backward({sum(u), sum(mul(u, 2.0))});
  EXPECT_EQ(fired_u, 3);
  EXPECT_EQ(at_fire, (std::vector<double>{3, 3, 3}));
}

TEST(GradHooks, RemovedHooksStopFiring) {
  Tensor w = Tensor::full({2}, 1.0, float64).requires_grad_();
  int a = 0, b = 0;
  int64_t ida = add_grad_ready_hook(w, [&](const Tensor&) { ++a; });
  int64_t idb = add_grad_ready_hook(w, [&](const Tensor&) { ++b; });
  sum(w * 2.0).backward();
  remove_grad_ready_hook(ida);
  sum(w * 2.0).backward();
  remove_grad_ready_hook(idb);
  remove_grad_ready_hook(idb);  // twice: a no-op
  sum(w * 2.0).backward();
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 2);
  expect_values(w.grad(), {6, 6});
}

TEST(GradHooks, HooksDoNotChangeGradients) {
  auto run = [](bool hooked) {
    Generator g(7);
    Tensor w1 = Tensor::uniform({3, 4}, -1, 1, g, float64).requires_grad_();
    Tensor w2 = Tensor::uniform({4, 2}, -1, 1, g, float64).requires_grad_();
    Tensor x = Tensor::uniform({5, 3}, -1, 1, g, float64);
    Hooks hooks;
    int fired = 0;
    if (hooked) {
      hooks.add(w1, [&](const Tensor&) { ++fired; });
      hooks.add(w2, [&](const Tensor&) { ++fired; });
    }
    Tensor h = relu(matmul(x, w1));
    sum(mul(matmul(h, w2), matmul(h, w2))).backward();
    EXPECT_EQ(fired, hooked ? 2 : 0);
    std::vector<double> out = w1.grad().to_vector<double>();
    for (double v : w2.grad().to_vector<double>()) out.push_back(v);
    return out;
  };
  EXPECT_EQ(run(false), run(true));
}

TEST(GradHooks, EdgesWithoutAGradientCountAsProcessed) {
  // dropout's second output is its mask; a gradient reaching only the mask gives dropout's
  // input no gradient, so the mul node before it never runs: its edge into w still counts.
  Tensor w = Tensor::full({4}, 1.0, float64).requires_grad_();
  int fired = 0;
  bool had_grad = false;
  Hooks hooks;
  hooks.add(w, [&](const Tensor& leaf) {
    ++fired;
    had_grad = leaf.grad().defined();
  });
  auto masked = [&] {
    return call_op(op_def(OpId::dropout), {mul(w, 2.0)},
                   Attrs().set("p", 0.5).set("seed", static_cast<int64_t>(3)))[1];
  };
  add(sum(masked()), sum(mul(w, 3.0))).backward();
  EXPECT_EQ(fired, 1);
  expect_values(w.grad(), {3, 3, 3, 3});
  w.zero_grad();
  sum(masked()).backward();  // no gradient reaches w at all, yet its edge was processed
  EXPECT_EQ(fired, 2);
  EXPECT_FALSE(had_grad);
  EXPECT_FALSE(w.grad().defined());
}

TEST(GradHooks, CallbacksRunAtTheEnd) {
  Tensor w1 = Tensor::full({2}, 1.0, float64).requires_grad_();
  Tensor w2 = Tensor::full({2}, 2.0, float64).requires_grad_();
  std::vector<std::string> log;
  Hooks hooks;
  hooks.add(w2, [&](const Tensor&) {
    log.push_back("w2");
    // Queued by the first hook; runs after every gradient, w1's included.
    queue_backward_callback([&] {
      EXPECT_TRUE(in_backward());
      EXPECT_FALSE(grad_enabled());
      log.push_back("callback, w1.grad = " + std::to_string(w1.grad().to_vector<double>()[0]));
      queue_backward_callback([&] { log.push_back("nested callback"); });
    });
  });
  hooks.add(w1, [&](const Tensor&) { log.push_back("w1"); });
  EXPECT_FALSE(in_backward());
  sum(mul(mul(w1, 3.0), w2)).backward();
  EXPECT_FALSE(in_backward());
  EXPECT_EQ(log, (std::vector<std::string>{"w2", "w1", "callback, w1.grad = 6.000000",
                                           "nested callback"}));
  EXPECT_DUET_ERROR(queue_backward_callback([] {}), "no backward is running");
}

TEST(GradHooks, CallbacksRunWhenBackwardThrows) {
  Tensor w = Tensor::full({2}, 1.0, float64).requires_grad_();
  Tensor x = Tensor::full({2}, 0.5, float64).requires_grad_();
  bool ran = false, error_pending = false;
  Hooks hooks;
  hooks.add(w, [&](const Tensor&) {
    queue_backward_callback([&] {
      ran = true;
      error_pending = std::current_exception() != nullptr;
    });
  });
  // exp saves its output; writing over it after the forward makes backward throw, after w's
  // hook (w's gradient comes first in backward).
  Tensor e = exp(x);
  Tensor loss = sum(mul(add(e, 0.0), w));
  e.fill_(2.0);
  EXPECT_DUET_ERROR(loss.backward(), "modified in place");
  EXPECT_TRUE(ran);
  EXPECT_TRUE(error_pending);
  EXPECT_FALSE(in_backward());

  // A hook that throws: its error comes out of backward, after the callbacks ran.
  ran = false;
  hooks.add(w, [](const Tensor&) { throw std::runtime_error("hook failed"); });
  EXPECT_THROW(sum(mul(w, 2.0)).backward(), std::runtime_error);
  EXPECT_TRUE(ran);
  EXPECT_FALSE(in_backward());
}

TEST(GradHooks, Errors) {
  Tensor w = Tensor::full({2}, 1.0, float64).requires_grad_();
  EXPECT_DUET_ERROR(add_grad_ready_hook(mul(w, 2.0), [](const Tensor&) {}), "not a leaf");
  EXPECT_DUET_ERROR(add_grad_ready_hook(Tensor::ones({2}), [](const Tensor&) {}),
                    "does not require grad");
  EXPECT_DUET_ERROR(add_grad_ready_hook(w, nullptr), "empty");
}

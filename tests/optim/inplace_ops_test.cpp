// increment_: the in-place counter op (BatchNorm2d's num_batches_tracked), eager and graph.
#include "duet/autograd.h"
#include "duet/graph.h"
#include "duet/ops.h"
#include "ops/op_def.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

TEST(Increment, AddsInPlaceForIntAndFloat) {
  Tensor counter = Tensor::zeros({}, int64);
  const void* data = counter.data_ptr();
  increment_(counter);
  increment_(counter);
  EXPECT_EQ(counter.item<int64_t>(), 2);
  EXPECT_EQ(counter.data_ptr(), data);  // the same storage, written in place
  increment_(counter, 5);
  EXPECT_EQ(counter.item<int64_t>(), 7);
  increment_(counter, -10);
  EXPECT_EQ(counter.item<int64_t>(), -3);

  Tensor f = Tensor::from_vector({1.0, 2.0, 3.0, 4.0}, {2, 2});
  increment_(f, 0.5);
  expect_values(f, {1.5, 2.5, 3.5, 4.5}, 0);
  Tensor d = Tensor::from_vector({1.0, -1.0}, {2}, float64);
  increment_(d, 0.25);
  expect_values(d, {1.25, -0.75}, 0);
  // Large enough for the parallel path.
  Tensor big = Tensor::zeros({100000}, int64);
  increment_(big, 3);
  for (int64_t v : big.to_vector<int64_t>()) ASSERT_EQ(v, 3);

  const OpDef* op = find_op("increment_");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(op->num_outputs, 0);
  EXPECT_EQ(op->mutates_inputs, 1u);
  EXPECT_EQ(op->grad, nullptr);
}

TEST(Increment, Errors) {
  EXPECT_DUET_ERROR(increment_(Tensor::zeros({2}, bool_)), "increment_", "bool", "int64");
  EXPECT_DUET_ERROR(increment_(Tensor()), "increment_", "undefined");
  // A leaf that requires grad is written outside autograd: the function guards it itself.
  Tensor w = Tensor::zeros({2}).requires_grad_();
  increment_(w, 1.0);
  expect_values(w, {1, 1}, 0);
}

TEST(Increment, GraphRunsTheIncrementEachStep) {
  Tensor counter = Tensor::zeros({}, int64);
  Graph g;
  Tensor x = g.input("x", {2});
  increment_(counter);  // recorded: nothing runs while building
  Tensor y = mul(x, 2.0);
  const std::string dump = g.dump();
  EXPECT_NE(dump.find("increment_(%"), std::string::npos) << dump;
  EXPECT_NE(dump.find("(in place)"), std::string::npos) << dump;
  Executable exe = compile(g, {y});
  EXPECT_EQ(counter.item<int64_t>(), 0);
  for (int i = 1; i <= 3; ++i) {
    exe.run({{"x", Tensor::ones({2})}});
    EXPECT_EQ(counter.item<int64_t>(), i);
  }
}

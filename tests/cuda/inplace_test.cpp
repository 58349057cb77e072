// The graph planner may write output 0 of an op over its input `inplace_input` (OpDef) when
// that input dies there. Every op that allows it is checked on its samples, CUDA kernel
// aliased against a separate output, by the op table's test (CudaInplace in
// tests/cuda/op_table_cuda_test.cpp). The cases here are the shapes the samples are too small
// for: reductions along rows that span several warps or more than a block (softmax and its
// gradients along each axis of (3, 5, 67), rows of 3000, cross entropy over 67 classes).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "duet/cuda.h"
#include "duet/duet.h"
#include "op_samples.h"

using namespace duet;
using namespace duet::test;

namespace {

Tensor normal(const Shape& s, uint64_t seed, DType dt = float32) {
  Generator g(seed);
  return Tensor::randn(s, g, dt).to(cuda);
}

struct AliasCase {
  OpId op;
  std::vector<Tensor> inputs;  // on the GPU
  Attrs attrs;
};

std::vector<AliasCase> cases() {
  const Shape s{3, 5, 67};
  const Tensor a = normal(s, 1), b = normal(s, 2);
  std::vector<AliasCase> c;
  for (int64_t axis : {0, 1, 2}) {
    const Attrs ax = Attrs().set("axis", axis);
    c.push_back({OpId::softmax, {a}, ax});
    c.push_back({OpId::softmax_backward, {b, a}, ax});
    c.push_back({OpId::log_softmax_backward, {b, normal(s, 5)}, ax});
  }
  // Rows longer than a block, so a row's reduction spans the whole block.
  const Tensor wide = normal({4, 3000}, 6);
  c.push_back({OpId::softmax, {wide}, Attrs().set("axis", int64_t{1})});
  c.push_back(
      {OpId::softmax_backward, {normal({4, 3000}, 7), wide}, Attrs().set("axis", int64_t{1})});
  const Tensor labels = Tensor::from_vector(std::vector<int64_t>{0, 66, 3, 7, 1}, {5}, int64);
  for (double eps : {0.0, 0.1})
    c.push_back({OpId::cross_entropy_backward,
                 {Tensor::scalar(2.0).to(cuda), normal({5, 67}, 8), labels.to(cuda)},
                 Attrs().set("label_smoothing", eps)});
  return c;
}

}  // namespace

TEST(CudaInplace, WideRowsOutputOverInputMatchesSeparateOutput) {
  DUET_REQUIRE_CUDA();
  for (const AliasCase& a : cases()) {
    const OpDef& op = op_def(a.op);
    OpCase c{&op, {.attrs = a.attrs}, 0, float32, op.name + " " + a.attrs.str()};
    SCOPED_TRACE(c.name);
    ASSERT_GE(op.inplace_input, 0);
    EXPECT_TRUE(aliased_output_matches(c, a.inputs));
  }
}

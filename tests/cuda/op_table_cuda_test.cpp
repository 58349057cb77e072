// The table-driven op test on the GPU (label cuda; skipped without a device): every op of the
// op table with a CUDA kernel (or a view function), on every one of its samples
// (OpDef::samples) in float32 and float64, against the CPU; and every op that may write
// output 0 over an input, with the CUDA kernel aliased, bit for bit. The CPU checks
// (float64 reference, gradients, graph, CPU aliasing): tests/ops_table/op_table_test.cpp.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "op_samples.h"

using namespace duet;
using namespace duet::test;

namespace {

bool may_write_over_input(const OpDef& op) {
  return op.inplace_input >= 0;
}

std::string op_param_name(const ::testing::TestParamInfo<int>& info) {
  return op_at(info.param).name;
}

bool runs_on_cuda(const OpDef& op) {
  return op.view || op.kernels[static_cast<int>(DeviceType::cuda)];
}

class CudaOpTest : public ::testing::TestWithParam<int> {
 protected:
  const OpDef& op() const { return op_at(GetParam()); }
};

}  // namespace

// GPU outputs (and written inputs) against the CPU's: float32 to 1e-4, float64 to 1e-10
// (|a - e| <= tol (1 + |e|)); integer outputs exactly.
using CudaForward = CudaOpTest;
TEST_P(CudaForward, MatchesCpu) {
  DUET_REQUIRE_CUDA();
  if (!runs_on_cuda(op())) GTEST_SKIP() << op().name << " has no CUDA kernel";
  for (const OpCase& c : op_cases(op())) {
    if (c.skips(SampleCheck::no_cuda)) continue;
    SCOPED_TRACE(c.name);
    const std::vector<Tensor> in = make_inputs(c);
    const std::vector<Tensor> expected = run_op(c, in);
    std::vector<Tensor> in_gpu;
    for (const Tensor& t : in) in_gpu.push_back(t.to(cuda));
    const std::vector<Tensor> actual = run_op(c, in_gpu);
    ASSERT_EQ(actual.size(), expected.size());
    const double tol = c.dtype == float64 ? 1e-10 : 1e-4;
    for (size_t j = 0; j < actual.size(); ++j) {
      EXPECT_TRUE(close(actual[j].to(cpu), expected[j], tol)) << "output " << j;
    }
  }
}

// The graph planner may write output 0 over input inplace_input when that input dies there:
// the CUDA kernel must give the same bits as with a separate output.
using CudaInplace = CudaOpTest;
TEST_P(CudaInplace, AliasedOutputMatches) {
  DUET_REQUIRE_CUDA();
  if (!op().kernels[static_cast<int>(DeviceType::cuda)]) GTEST_SKIP() << "no CUDA kernel";
  for (const OpCase& c : op_cases(op())) {
    if (c.skips(SampleCheck::no_inplace) || c.skips(SampleCheck::no_cuda)) continue;
    SCOPED_TRACE(c.name);
    EXPECT_TRUE(aliased_output_matches(c, make_inputs(c, cuda)));
  }
}

INSTANTIATE_TEST_SUITE_P(OpTable, CudaForward, ::testing::ValuesIn(op_indices()), op_param_name);
INSTANTIATE_TEST_SUITE_P(OpTable, CudaInplace,
                         ::testing::ValuesIn(op_indices(may_write_over_input)), op_param_name);

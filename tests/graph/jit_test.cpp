#include "duet/jit.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

TEST(Jit, CachesBySignatureAndLogsWhy) {
  Generator gen(5);
  Tensor w = Tensor::randn({4, 3}, gen);
  int traces = 0;
  auto f = jit(
      [&](const std::vector<Tensor>& in) {
        ++traces;
        return std::vector<Tensor>{relu(matmul(in[0], w.transpose(0, 1)))};
      },
      {}, "f");
  Tensor a = Tensor::randn({2, 3}, gen), b = Tensor::randn({2, 3}, gen);
  expect_close(f({a})[0], relu(matmul(a, w.transpose(0, 1))), 0, 0);
  expect_close(f({b})[0], relu(matmul(b, w.transpose(0, 1))), 0, 0);
  EXPECT_EQ(traces, 1);
  EXPECT_EQ(f.num_compiles(), 1u);
  Tensor c = Tensor::randn({5, 3}, gen);
  testing::internal::CaptureStderr();
  expect_close(f({c})[0], relu(matmul(c, w.transpose(0, 1))), 0, 0);
  std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(traces, 2);
  EXPECT_NE(log.find("jit 'f' recompiling: input 0 shape changed from (2, 3) to (5, 3)"),
            std::string::npos)
      << log;
  EXPECT_EQ(f.last_recompile_reason(), "input 0 shape changed from (2, 3) to (5, 3)");
  // Back to the first signature: cached, no new trace, no log.
  testing::internal::CaptureStderr();
  f({a});
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(traces, 2);
  Tensor d = Tensor::randn({2, 3}, gen, float64);
  EXPECT_DUET_ERROR(f({d}), "matmul", "float64", "float32");
}

TEST(Jit, WarnsWhenTracingReadsAHostValue) {
  Tensor scale = Tensor::scalar(3.0);
  auto f = jit([&](const std::vector<Tensor>& in) {
    double s = scale.item<double>();  // baked in
    return std::vector<Tensor>{in[0] * s};
  });
  testing::internal::CaptureStderr();
  Tensor y = f({Tensor::ones({2})})[0];
  std::string log = testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("read on the host while tracing"), std::string::npos) << log;
  expect_values(y, {3, 3});
}

TEST(Jit, DataDependentControlFlowIsAnError) {
  auto f = jit([&](const std::vector<Tensor>& in) {
    if (sum(in[0]).item<float>() > 0) return std::vector<Tensor>{in[0]};
    return std::vector<Tensor>{neg(in[0])};
  });
  EXPECT_DUET_ERROR(f({Tensor::ones({2})}), "symbolic", "sum", "data-dependent");
}

// GradientReducer's buckets (src/distributed/buckets.h): reverse registration order, the cap,
// one dtype per bucket, parameters that do not require grad left out; and the layout checks'
// descriptions. Multi-rank behaviour: tests/mpirun/ddp_eager_test.cpp.
#include <vector>

#include "distributed/buckets.h"
#include "test_util.h"

using namespace duet;
using duet::distributed::GradientReducer;
using duet::distributed::detail::assign_buckets;

namespace {

Tensor param(const Shape& shape, DType dtype = float32) {
  return Tensor::zeros(shape, dtype).requires_grad_();
}

std::vector<std::vector<int64_t>> indices(const std::vector<GradientReducer::BucketInfo>& b) {
  std::vector<std::vector<int64_t>> out;
  for (const auto& x : b) out.push_back(x.params);
  return out;
}

}  // namespace

TEST(Buckets, ReverseOrderUnderTheCap) {
  // 1 MiB of float32 = 262144 elements. Sizes (elements): 100000, 100000, 100000, 50000, 300000.
  std::vector<Tensor> p{param({100000}), param({1000, 100}), param({100000}), param({50000}),
                        param({300000})};
  auto b = assign_buckets(p, 1.0);
  // Reverse: 4 (300000 > cap: alone), then 3 + 2 (150000), 1 would make 250000 (fits), 0
  // would make 350000: new bucket.
  EXPECT_EQ(indices(b), (std::vector<std::vector<int64_t>>{{4}, {3, 2, 1}, {0}}));
  EXPECT_EQ(b[0].numel, 300000);
  EXPECT_EQ(b[1].numel, 250000);
  EXPECT_EQ(b[2].numel, 100000);
  for (const auto& x : b) EXPECT_EQ(x.dtype, float32);

  // The default cap (25 MiB): one bucket, reverse order.
  EXPECT_EQ(indices(assign_buckets(p, 25)), (std::vector<std::vector<int64_t>>{{4, 3, 2, 1, 0}}));
  // A tiny cap: one bucket per parameter.
  EXPECT_EQ(indices(assign_buckets(p, 1e-6)),
            (std::vector<std::vector<int64_t>>{{4}, {3}, {2}, {1}, {0}}));
  // Exactly at the cap fits: 262144 float32 elements = 1 MiB.
  std::vector<Tensor> q{param({131072}), param({131071}), param({1})};
  EXPECT_EQ(indices(assign_buckets(q, 1.0)), (std::vector<std::vector<int64_t>>{{2, 1, 0}}));
  q.push_back(param({1}));
  EXPECT_EQ(indices(assign_buckets(q, 1.0)), (std::vector<std::vector<int64_t>>{{3, 2, 1}, {0}}));
}

TEST(Buckets, OneDtypePerBucketAndFrozenParametersLeftOut) {
  Tensor frozen = Tensor::zeros({10});  // does not require grad
  std::vector<Tensor> p{param({4}, float64), param({4}, float64), frozen,
                        param({8}),          param({8}),          param({2}, float64)};
  auto b = assign_buckets(p, 25);
  EXPECT_EQ(indices(b), (std::vector<std::vector<int64_t>>{{5}, {4, 3}, {1, 0}}));
  EXPECT_EQ(b[0].dtype, float64);
  EXPECT_EQ(b[1].dtype, float32);
  EXPECT_EQ(b[1].numel, 16);
  EXPECT_EQ(b[2].dtype, float64);
  // The cap counts bytes: 4 float64 elements = 32 bytes, 8 float32 = 32 bytes.
  std::vector<Tensor> r{param({4}, float64), param({4}, float64), param({8}), param({8})};
  EXPECT_EQ(indices(assign_buckets(r, 64.0 / (1024 * 1024))),
            (std::vector<std::vector<int64_t>>{{3, 2}, {1, 0}}));
  EXPECT_TRUE(assign_buckets({frozen}, 25).empty());
  EXPECT_DUET_ERROR(assign_buckets(r, 0), "bucket_cap_mb = 0");
}

TEST(Buckets, LayoutEntriesDescribeThemselves) {
  std::vector<Tensor> p{param({2, 3}), param({4}, float64)};
  auto b = assign_buckets(p, 25);
  auto layout = duet::distributed::detail::bucket_layout(b, p);
  ASSERT_EQ(layout.size(), 4u);  // 2 buckets (dtypes differ), 2 parameters
  EXPECT_EQ(duet::distributed::detail::describe_bucket_entry(layout[0]),
            "a bucket of 1 parameters (float64, 4 elements)");
  EXPECT_EQ(duet::distributed::detail::describe_bucket_entry(layout[2]),
            "a parameter float32 (2, 3)");
  auto e = duet::distributed::detail::named_tensor_entry("fc.weight", p[0]);
  EXPECT_EQ(duet::distributed::detail::describe_named_tensor_entry(e),
            "'fc.weight' float32 (2, 3)");
}

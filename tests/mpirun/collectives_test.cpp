// The collectives of duet/distributed.h on 2 ranks (mpirun -np 2, tests/mpirun/tests.cmake):
// every collective x every dtype x every reduce op against values computed here by hand from
// what each rank holds; async collectives in flight together; shapes that differ across ranks;
// large buffers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "duet/distributed.h"
#include "duet/error.h"
#include "duet/tensor.h"

namespace dist = duet::distributed;
using duet::Tensor;

namespace {

class Collectives : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!dist::is_initialized()) {
      dist::InitOptions o;
      o.timeout = std::chrono::seconds(60);
      dist::init(o);
    }
    r = dist::rank();
    n = dist::world_size();
    ASSERT_GE(n, 2) << "run under mpirun -np 2 (or more)";
  }
  int r = 0, n = 1;
};

// What rank `rank` holds at element i, per dtype; signs alternate so min and max differ from
// the first and last rank.
double value_f(int rank, int64_t i) {
  const double v = (rank + 1) * 0.5 + static_cast<double>(i) * 0.25;
  return i % 2 ? -v : v;
}
int64_t value_i(int rank, int64_t i) {
  const int64_t v = (int64_t{1} << 40) * (rank + 1) + i * 7 + rank;  // beyond int32
  return i % 3 == 1 ? -v : v;
}
bool value_b(int rank, int64_t i) {
  return ((i >> rank) & 1) != 0;
}  // per-rank bit patterns

Tensor make(duet::DType dtype, int rank, int64_t count) {
  std::vector<double> vals;
  if (dtype == duet::int64) {
    std::vector<int64_t> iv(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) iv[static_cast<size_t>(i)] = value_i(rank, i);
    return Tensor::from_vector(iv, {count});
  }
  if (dtype == duet::bool_) {
    Tensor t = Tensor::empty({count}, duet::bool_);
    for (int64_t i = 0; i < count; ++i) t.data<bool>()[i] = value_b(rank, i);
    return t;
  }
  for (int64_t i = 0; i < count; ++i) vals.push_back(value_f(rank, i));
  return Tensor::from_vector(vals, {count}, dtype);
}

// op over ranks 0 .. n-1 of element i, as double (exact for these values).
double expected_f(dist::ReduceOp op, int n, int64_t i) {
  double acc = value_f(0, i);
  for (int k = 1; k < n; ++k) {
    const double v = value_f(k, i);
    if (op == dist::ReduceOp::sum || op == dist::ReduceOp::avg) acc += v;
    if (op == dist::ReduceOp::min) acc = std::min(acc, v);
    if (op == dist::ReduceOp::max) acc = std::max(acc, v);
  }
  return op == dist::ReduceOp::avg ? acc / n : acc;
}
int64_t expected_i(dist::ReduceOp op, int n, int64_t i) {
  int64_t acc = value_i(0, i);
  for (int k = 1; k < n; ++k) {
    const int64_t v = value_i(k, i);
    if (op == dist::ReduceOp::sum) acc += v;
    if (op == dist::ReduceOp::min) acc = std::min(acc, v);
    if (op == dist::ReduceOp::max) acc = std::max(acc, v);
  }
  return acc;
}
bool expected_b(dist::ReduceOp op, int n, int64_t i) {  // sum, max: or; min: and
  bool any = false, all = true;
  for (int k = 0; k < n; ++k) {
    any = any || value_b(k, i);
    all = all && value_b(k, i);
  }
  return op == dist::ReduceOp::min ? all : any;
}

// Checks element i of t (an all_reduce of make(dtype, *, count) with op) for every i;
// `offset` shifts the element index (reduce_scatter's slice).
void expect_reduced(const Tensor& t, dist::ReduceOp op, int n, int64_t offset = 0) {
  const int64_t count = t.numel();
  for (int64_t j = 0; j < count; ++j) {
    const int64_t i = j + offset;
    switch (t.dtype()) {
      case duet::DType::float32:
        ASSERT_EQ(t.data<float>()[j], static_cast<float>(expected_f(op, n, i)))
            << dist::reduce_op_name(op) << " float32 at " << i;
        break;
      case duet::DType::float64:
        ASSERT_EQ(t.data<double>()[j], expected_f(op, n, i))
            << dist::reduce_op_name(op) << " float64 at " << i;
        break;
      case duet::DType::int64:
        ASSERT_EQ(t.data<int64_t>()[j], expected_i(op, n, i))
            << dist::reduce_op_name(op) << " int64 at " << i;
        break;
      case duet::DType::bool_:
        ASSERT_EQ(t.data<bool>()[j], expected_b(op, n, i))
            << dist::reduce_op_name(op) << " bool at " << i;
        break;
      default:
        FAIL() << "unexpected dtype";
    }
  }
}

const duet::DType kDTypes[] = {duet::float32, duet::float64, duet::int64, duet::bool_};
const dist::ReduceOp kOps[] = {dist::ReduceOp::sum, dist::ReduceOp::avg, dist::ReduceOp::min,
                               dist::ReduceOp::max};

bool op_allowed(duet::DType dtype, dist::ReduceOp op) {
  return op != dist::ReduceOp::avg || dtype == duet::float32 || dtype == duet::float64;
}

TEST_F(Collectives, AllReduceEveryDtypeAndOp) {
  for (duet::DType dtype : kDTypes)
    for (dist::ReduceOp op : kOps) {
      Tensor t = make(dtype, r, 37);
      if (!op_allowed(dtype, op)) {
        EXPECT_THROW(dist::all_reduce(t, op), duet::Error);
        continue;
      }
      dist::all_reduce(t, op);
      expect_reduced(t, op, n);
    }
}

TEST_F(Collectives, AvgOfIntegersNamesTheDtype) {
  Tensor t = make(duet::int64, r, 4);
  try {
    dist::all_reduce(t, dist::ReduceOp::avg);
    FAIL() << "no error";
  } catch (const duet::Error& e) {
    EXPECT_NE(std::string(e.what()).find("avg needs a floating dtype"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("int64"), std::string::npos) << e.what();
  }
  dist::barrier();  // the group still works, in step
}

TEST_F(Collectives, BroadcastEveryDtypeFromEveryRoot) {
  for (duet::DType dtype : kDTypes)
    for (int root = 0; root < n; ++root) {
      Tensor t = make(dtype, r, 11);
      dist::broadcast(t, root);
      const Tensor want = make(dtype, root, 11);
      const auto got_v = t.to(duet::float64).to_vector<double>();
      const auto want_v = want.to(duet::float64).to_vector<double>();
      if (dtype == duet::int64) {
        EXPECT_EQ(t.to_vector<int64_t>(), want.to_vector<int64_t>()) << "root " << root;
      } else {
        EXPECT_EQ(got_v, want_v) << duet::dtype_name(dtype) << " root " << root;
      }
    }
}

TEST_F(Collectives, AllGatherEveryDtypeConcatenatesInRankOrder) {
  for (duet::DType dtype : kDTypes) {
    Tensor t = make(dtype, r, 6).reshape({2, 3});
    Tensor all = dist::all_gather(t);
    ASSERT_EQ(all.shape(), duet::Shape({2 * n, 3}));
    for (int k = 0; k < n; ++k) {
      const Tensor part = all.slice(0, 2 * k, 2 * k + 2).contiguous();
      const Tensor want = make(dtype, k, 6).reshape({2, 3});
      if (dtype == duet::int64) {
        EXPECT_EQ(part.to_vector<int64_t>(), want.to_vector<int64_t>()) << "rank " << k;
      } else {
        EXPECT_EQ(part.to(duet::float64).to_vector<double>(),
                  want.to(duet::float64).to_vector<double>())
            << duet::dtype_name(dtype) << " rank " << k;
      }
    }
  }
  // A 0-d tensor gathers to (world_size).
  Tensor s = Tensor::scalar(10.0 * (r + 1), duet::float64);
  Tensor all = dist::all_gather(s);
  ASSERT_EQ(all.shape(), duet::Shape({n}));
  for (int k = 0; k < n; ++k) EXPECT_EQ(all.data<double>()[k], 10.0 * (k + 1));
}

TEST_F(Collectives, ReduceScatterEveryDtypeAndOp) {
  const int64_t per = 5;
  for (duet::DType dtype : kDTypes)
    for (dist::ReduceOp op : kOps) {
      Tensor t = make(dtype, r, per * n);
      if (!op_allowed(dtype, op)) {
        EXPECT_THROW(dist::reduce_scatter(t, op), duet::Error);
        continue;
      }
      Tensor mine = dist::reduce_scatter(t, op);
      ASSERT_EQ(mine.shape(), duet::Shape({per}));
      expect_reduced(mine, op, n, /*offset=*/per * r);
    }
  // (4, 3) over 2 ranks: rows [2r, 2r + 2) of the sum.
  Tensor m = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {4, 3});
  if (n == 2) {
    Tensor mine = dist::reduce_scatter(m);
    ASSERT_EQ(mine.shape(), duet::Shape({2, 3}));
    const std::vector<float> want = r == 0 ? std::vector<float>{2, 4, 6, 8, 10, 12}
                                           : std::vector<float>{14, 16, 18, 20, 22, 24};
    EXPECT_EQ(mine.to_vector<float>(), want);
  }
}

TEST_F(Collectives, IndivisibleReduceScatterIsAnErrorOnEveryRank) {
  Tensor t = Tensor::zeros({2 * n + 1, 2});
  try {
    dist::reduce_scatter(t);
    FAIL() << "no error";
  } catch (const duet::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not divisible by the world size"), std::string::npos)
        << e.what();
  }
  dist::barrier();
}

TEST_F(Collectives, BarrierAndQueries) {
  dist::barrier();
  // mpirun runs this as mpi; tests/mpirun/gloo.cmake runs it again over Gloo (RANK, WORLD_SIZE).
  const bool gloo_launch = std::getenv("RANK") && !std::getenv("OMPI_COMM_WORLD_SIZE");
  EXPECT_EQ(dist::backend(), gloo_launch ? dist::Backend::gloo : dist::Backend::mpi);
  EXPECT_EQ(dist::is_main_process(), r == 0);
  EXPECT_GE(dist::local_rank(), 0);
  EXPECT_LT(dist::local_rank(), n);
  // local_rank: the ranks on this host are 0 .. n-1 (all ranks run here).
  Tensor lr = Tensor::from_vector(std::vector<int64_t>{dist::local_rank()}, {1});
  Tensor all = dist::all_gather(lr);
  std::vector<int64_t> v = all.to_vector<int64_t>();
  std::sort(v.begin(), v.end());
  for (int k = 0; k < n; ++k) EXPECT_EQ(v[static_cast<size_t>(k)], k);
}

TEST_F(Collectives, AsyncWorksOverlapAndCompleteInAnyWaitOrder) {
  std::vector<Tensor> ts;
  std::vector<std::shared_ptr<dist::Work>> works;
  for (int j = 0; j < 8; ++j) {
    ts.push_back(Tensor::full({1000 + j}, double(r + j), duet::float32));
    works.push_back(
        dist::all_reduce_async(ts.back(), j % 2 ? dist::ReduceOp::max : dist::ReduceOp::sum));
  }
  for (int j = 7; j >= 0; --j) {
    works[static_cast<size_t>(j)]->wait();
    EXPECT_TRUE(works[static_cast<size_t>(j)]->completed());
    double want = 0;
    for (int k = 0; k < n; ++k) want = j % 2 ? std::max(want, double(k + j)) : want + (k + j);
    const auto v = ts[static_cast<size_t>(j)].to_vector<float>();
    EXPECT_EQ(v.front(), static_cast<float>(want)) << "work " << j;
    EXPECT_EQ(v.back(), static_cast<float>(want)) << "work " << j;
  }
}

TEST_F(Collectives, AsyncKeepsItsTensorAlive) {
  std::shared_ptr<dist::Work> w;
  {
    Tensor t = Tensor::full({100000}, 1.0);
    w = dist::all_reduce_async(t);
  }  // the caller's handle is gone; the storage must outlive the collective
  w->wait();
  EXPECT_TRUE(w->completed());
}

// The error every rank must see, from check_same.
void expect_mismatch(const std::function<void()>& call, const std::string& want) {
  try {
    call();
    FAIL() << "no error; expected: " << want;
  } catch (const duet::Error& e) {
    EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
  }
}

TEST_F(Collectives, MismatchedShapesAreAnErrorOnBothRanks) {
  if (n != 2) {
    GTEST_SKIP() << "written for 2 ranks";
  }
  Tensor t = r == 0 ? Tensor::zeros({2, 3}) : Tensor::zeros({3, 2});
  expect_mismatch([&] { dist::all_reduce(t); },
                  "all_reduce: rank 0 has float32 (2, 3) but rank 1 has float32 (3, 2); "
                  "expected the same dtype and shape on every rank");
  Tensor d = r == 0 ? Tensor::zeros({4}) : Tensor::zeros({4}, duet::float64);
  expect_mismatch([&] { dist::broadcast(d, 0); },
                  "broadcast: rank 0 has float32 (4,) but rank 1 has float64 (4,)");
  Tensor g = r == 0 ? Tensor::zeros({2}) : Tensor::zeros({2, 1});
  expect_mismatch([&] { (void)dist::all_gather(g); },
                  "all_gather: rank 0 has float32 (2,) but rank 1 has float32 (2, 1)");
  // Different reduce ops, different collectives.
  Tensor s = Tensor::zeros({4});
  expect_mismatch([&] { dist::all_reduce(s, r == 0 ? dist::ReduceOp::sum : dist::ReduceOp::max); },
                  "all_reduce: rank 0 called all_reduce (sum) but rank 1 called all_reduce (max)");
  expect_mismatch(
      [&] {
        if (r == 0)
          dist::all_reduce(s);
        else
          dist::barrier();
      },
      "rank 0 called all_reduce (sum) but rank 1 called barrier");
  // The mismatch is found before any data moves: the group still works.
  Tensor ok = Tensor::full({3}, double(r + 1));
  dist::all_reduce(ok);
  EXPECT_EQ(ok.to_vector<float>(), std::vector<float>(3, 3.0f));
}

TEST_F(Collectives, LargeBuffers) {
  const int64_t count = 12'000'000;  // 48 MB of float32
  Tensor t = Tensor::empty({count});
  float* p = t.data<float>();
  for (int64_t i = 0; i < count; ++i) p[i] = static_cast<float>((i % 1000) * (r + 1));
  dist::all_reduce(t, dist::ReduceOp::avg);
  const float scale = static_cast<float>(n + 1) / 2.0f;  // avg of 1 .. n
  int64_t bad = 0;
  for (int64_t i = 0; i < count; ++i)
    if (p[i] != static_cast<float>(i % 1000) * scale) ++bad;
  EXPECT_EQ(bad, 0);
  Tensor b = Tensor::full({count}, double(r == 1 ? 7 : 0));
  dist::broadcast(b, 1);
  EXPECT_EQ(b.data<float>()[0], 7.0f);
  EXPECT_EQ(b.data<float>()[count - 1], 7.0f);
  // all_gather and reduce_scatter past the large-collective threshold (256 KB).
  const int64_t per = 1'000'000;
  Tensor mine = Tensor::full({per}, double(r + 1), duet::float64);
  Tensor all = dist::all_gather(mine);
  ASSERT_EQ(all.shape(), duet::Shape({per * n}));
  for (int k = 0; k < n; ++k) {
    EXPECT_EQ(all.data<double>()[k * per], k + 1.0) << "rank " << k;
    EXPECT_EQ(all.data<double>()[(k + 1) * per - 1], k + 1.0) << "rank " << k;
  }
  Tensor rs = dist::reduce_scatter(all, dist::ReduceOp::max);  // rank r: n copies of r + 1
  ASSERT_EQ(rs.shape(), duet::Shape({per}));
  EXPECT_EQ(rs.data<double>()[0], r + 1.0);
  EXPECT_EQ(rs.data<double>()[per - 1], r + 1.0);
}

TEST_F(Collectives, NonContiguousTensorIsAnError) {
  Tensor t = Tensor::zeros({3, 4}).transpose(0, 1);
  try {
    dist::all_reduce(t);
    FAIL() << "no error";
  } catch (const duet::Error& e) {
    EXPECT_NE(std::string(e.what()).find("is not contiguous"), std::string::npos) << e.what();
  }
}

}  // namespace

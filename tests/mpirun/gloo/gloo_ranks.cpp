// The Gloo engine on N processes (scripts/gloo_test.sh: RANK, WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT): every collective against hand-computed values for every dtype a tensor can
// have, and what a rank sees when its peer dies or goes silent.
//
//   bash scripts/gloo_test.sh 2 build/tests/duet_gloo_ranks
//   DUET_GLOO_TEST_MODE=peer_exit bash scripts/gloo_test.sh 2 build/tests/duet_gloo_ranks
//
// Modes (DUET_GLOO_TEST_MODE): unset: the GoogleTest cases below; peer_exit: rank 1 exits
// after a barrier and rank 0's all_reduce must fail at once with a duet::Error (connection
// closed); peer_silent: rank 1 stays alive but never calls, and rank 0's all_reduce must fail
// at the 2 s timeout.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "duet/distributed.h"
#include "duet/error.h"
#include "duet/tensor.h"

namespace dist = duet::distributed;
using duet::Tensor;

namespace {

int R() {
  return dist::rank();
}
int N() {
  return dist::world_size();
}

template <class T>
Tensor make(const std::vector<T>& v, duet::Shape shape = {}) {
  if (shape.empty()) shape = {static_cast<int64_t>(v.size())};
  Tensor t = Tensor::empty(shape, duet::dtype_of<T>());
  for (size_t i = 0; i < v.size(); ++i) t.data<T>()[i] = v[i];
  return t;
}
template <class T>
std::vector<T> values(const Tensor& t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.numel());
}
std::vector<bool> bools(const Tensor& t) {
  std::vector<bool> out;
  for (int64_t i = 0; i < t.numel(); ++i) out.push_back(t.data<bool>()[i]);
  return out;
}

TEST(Gloo, RankAndWorld) {
  EXPECT_EQ(dist::backend(), dist::Backend::gloo);
  EXPECT_EQ(N(), std::atoi(std::getenv("WORLD_SIZE")));
  EXPECT_EQ(R(), std::atoi(std::getenv("RANK")));
  // scripts/gloo_test.sh sets LOCAL_RANK = RANK, or (DUET_GLOO_SET_LOCAL_RANK=0) leaves the
  // ranks to count the lower ranks on their host: all of them here.
  EXPECT_EQ(dist::local_rank(), R());
  const char* set = std::getenv("DUET_GLOO_SET_LOCAL_RANK");
  EXPECT_EQ(std::getenv("LOCAL_RANK") != nullptr, !set || std::string(set) != "0");
}

TEST(Gloo, AllReduceFloat32SumAvgMinMax) {
  const float r = static_cast<float>(R() + 1), n = static_cast<float>(N());
  const float s = n * (n + 1) / 2;  // 1 + 2 + ... + N
  Tensor t = make<float>({r, 2 * r, -0.5f * r});
  dist::all_reduce(t);
  EXPECT_EQ(values<float>(t), (std::vector<float>{s, 2 * s, -0.5f * s}));
  t = make<float>({r, 2 * r});
  dist::all_reduce(t, dist::ReduceOp::avg);
  EXPECT_EQ(values<float>(t), (std::vector<float>{s / n, 2 * s / n}));
  t = make<float>({r, -r});
  dist::all_reduce(t, dist::ReduceOp::min);
  EXPECT_EQ(values<float>(t), (std::vector<float>{1, -n}));
  t = make<float>({r, -r});
  dist::all_reduce(t, dist::ReduceOp::max);
  EXPECT_EQ(values<float>(t), (std::vector<float>{n, -1}));
}

TEST(Gloo, AllReduceFloat64AndInt64Exact) {
  const int64_t n = N();
  Tensor d = make<double>({0.1 * (R() + 1), 1e300 * (R() % 2 ? -1 : 1)});
  dist::all_reduce(d, dist::ReduceOp::max);
  EXPECT_EQ(values<double>(d), (std::vector<double>{0.1 * n, 1e300}));
  // 2^60 + r: a double would lose the low bits; int64 must not.
  const int64_t big = int64_t{1} << 60;
  Tensor i = make<int64_t>({big + R(), -3 * (R() + 1)});
  dist::all_reduce(i);
  EXPECT_EQ(values<int64_t>(i),
            (std::vector<int64_t>{n * big + n * (n - 1) / 2, -3 * n * (n + 1) / 2}));
  i = make<int64_t>({big + R(), -R()});
  dist::all_reduce(i, dist::ReduceOp::min);
  EXPECT_EQ(values<int64_t>(i), (std::vector<int64_t>{big, -(n - 1)}));
}

TEST(Gloo, AllReduceBoolIsLogicalOr) {
  // [rank is 0, false, true, rank is the last]: or over the ranks = [1, 0, 1, 1].
  Tensor b = make<bool>({R() == 0, false, true, R() == N() - 1});
  dist::all_reduce(b);
  EXPECT_EQ(bools(b), (std::vector<bool>{true, false, true, true}));
  b = make<bool>({R() == 0, false, true, R() == N() - 1});
  dist::all_reduce(b, dist::ReduceOp::max);
  EXPECT_EQ(bools(b), (std::vector<bool>{true, false, true, true}));
}

TEST(Gloo, AllReduceLargerThanGlooSegments) {
  // 3 MiB of float32: Gloo's ring splits it into 1 MiB segments.
  const int64_t count = 3 * 262144 + 5;
  Tensor t = Tensor::empty({count}, duet::float32);
  for (int64_t k = 0; k < count; ++k) t.data<float>()[k] = static_cast<float>(k % 97 + R());
  dist::all_reduce(t);
  const int64_t n = N();
  int64_t wrong = 0;
  for (int64_t k = 0; k < count; ++k)
    wrong += t.data<float>()[k] != static_cast<float>(n * (k % 97) + n * (n - 1) / 2);
  EXPECT_EQ(wrong, 0);
}

TEST(Gloo, BroadcastEveryDtypeFromTheLastRank) {
  const int root = N() - 1;
  Tensor f = make<float>({1.5f * R(), -2.f * R()});
  dist::broadcast(f, root);
  EXPECT_EQ(values<float>(f), (std::vector<float>{1.5f * root, -2.f * root}));
  Tensor d = make<double>({0.25 * R()});
  dist::broadcast(d, root);
  EXPECT_EQ(values<double>(d), std::vector<double>{0.25 * root});
  Tensor i = make<int64_t>({(int64_t{1} << 62) + R(), -R()}, {2, 1});
  dist::broadcast(i, root);
  EXPECT_EQ(values<int64_t>(i), (std::vector<int64_t>{(int64_t{1} << 62) + root, -root}));
  Tensor b = make<bool>({R() == root, R() != root});
  dist::broadcast(b, root);
  EXPECT_EQ(bools(b), (std::vector<bool>{true, false}));
}

TEST(Gloo, AllGatherStacksRanksInOrder) {
  const int n = N();
  Tensor t = Tensor::empty({2, 3}, duet::float32);
  for (int k = 0; k < 6; ++k) t.data<float>()[k] = static_cast<float>(10 * R() + k);
  Tensor all = dist::all_gather(t);
  ASSERT_EQ(all.shape(), (duet::Shape{2 * n, 3}));
  for (int r = 0; r < n; ++r)
    for (int k = 0; k < 6; ++k) EXPECT_EQ(all.data<float>()[6 * r + k], 10 * r + k);
  Tensor scalar = Tensor::empty({}, duet::int64);
  scalar.data<int64_t>()[0] = 7 * R();
  Tensor s = dist::all_gather(scalar);
  ASSERT_EQ(s.shape(), duet::Shape{n});
  for (int r = 0; r < n; ++r) EXPECT_EQ(s.data<int64_t>()[r], 7 * r);
  Tensor b = dist::all_gather(make<bool>({R() % 2 == 1}));
  for (int r = 0; r < n; ++r) EXPECT_EQ(b.data<bool>()[r], r % 2 == 1);
  Tensor d = dist::all_gather(make<double>({-0.5 * R()}));
  for (int r = 0; r < n; ++r) EXPECT_EQ(d.data<double>()[r], -0.5 * r);
}

TEST(Gloo, ReduceScatterGivesEachRankItsRows) {
  const int64_t n = N();
  // Row k of rank r's (2N, 2) holds r + k: reduced, row k is N*k + N(N-1)/2.
  Tensor t = Tensor::empty({2 * n, 2}, duet::float64);
  for (int64_t k = 0; k < 2 * n; ++k)
    for (int c = 0; c < 2; ++c) t.data<double>()[2 * k + c] = static_cast<double>(R() + k);
  Tensor mine = dist::reduce_scatter(t);
  ASSERT_EQ(mine.shape(), (duet::Shape{2, 2}));
  for (int64_t k = 0; k < 2; ++k) {
    const int64_t row = 2 * R() + k;
    for (int c = 0; c < 2; ++c)
      EXPECT_EQ(mine.data<double>()[2 * k + c], static_cast<double>(n * row + n * (n - 1) / 2));
  }
  Tensor i = Tensor::empty({n}, duet::int64);
  for (int64_t k = 0; k < n; ++k) i.data<int64_t>()[k] = (R() + 1) * (k + 1);
  Tensor mi = dist::reduce_scatter(i, dist::ReduceOp::max);
  EXPECT_EQ(mi.data<int64_t>()[0], n * (R() + 1));
}

TEST(Gloo, BarrierAndManyCollectivesInOrder) {
  for (int k = 0; k < 50; ++k) {
    Tensor t = make<int64_t>({k + R()});
    dist::all_reduce(t);
    ASSERT_EQ(t.data<int64_t>()[0], N() * k + N() * (N() - 1) / 2);
    dist::barrier();
  }
}

TEST(Gloo, MismatchedShapesAreAnErrorOnEveryRank) {
  if (N() < 2) GTEST_SKIP() << "needs two ranks";
  Tensor t = Tensor::zeros({3 + R()});
  try {
    dist::all_reduce(t);
    FAIL() << "expected a shape mismatch error";
  } catch (const duet::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("all_reduce"), std::string::npos) << msg;
    EXPECT_NE(msg.find("float32 (3,)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("float32 (4,)"), std::string::npos) << msg;
  }
  // The group still works after a refused call.
  Tensor ok = make<int64_t>({1});
  dist::all_reduce(ok);
  EXPECT_EQ(ok.data<int64_t>()[0], N());
}

// peer_exit / peer_silent: rank 0's all_reduce must end in a duet::Error, not a hang.
int run_failure_mode(const std::string& mode) {
  dist::init(dist::InitOptions{.backend = dist::Backend::gloo, .timeout = std::chrono::seconds(2)});
  dist::barrier();
  if (dist::rank() != 0) {
    if (mode == "peer_silent") std::this_thread::sleep_for(std::chrono::seconds(6));
    std::cout << "rank " << dist::rank() << ": leaving without calling all_reduce" << std::endl;
    std::_Exit(0);
  }
  const auto start = std::chrono::steady_clock::now();
  try {
    Tensor t = Tensor::ones({16});
    dist::all_reduce(t);
    std::cout << "FAIL: all_reduce returned although rank 1 never called it" << std::endl;
    std::_Exit(1);
  } catch (const duet::Error& e) {
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "rank 0: all_reduce failed after " << s << " s: " << e.what() << std::endl;
    // The first collective to fail may be the shape check before the all_reduce (an
    // all_gather): either way Gloo's reason and this rank are named.
    const std::string msg = e.what();
    const bool ok =
        msg.find("failed on rank 0 of 2") != std::string::npos &&
        msg.find(mode == "peer_exit" ? "Connection " : "Timed out") != std::string::npos;
    std::_Exit(ok ? 0 : 1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = std::getenv("DUET_GLOO_TEST_MODE");
  if (mode && *mode) return run_failure_mode(mode);
  ::testing::InitGoogleTest(&argc, argv);
  dist::init(dist::Backend::gloo);
  int rc = RUN_ALL_TESTS();
  dist::shutdown();
  return rc;
}

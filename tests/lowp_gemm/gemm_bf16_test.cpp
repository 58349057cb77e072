// cpu_kernels::gemm_bf16 (kernels/cpu/gemm_lowp.h) on each path (plain, AVX-512 BF16, AMX; a
// path this CPU lacks is skipped) against a float64 reference of the same bfloat16 inputs:
// every transpose combination, odd shapes and edge tiles, padded leading dimensions, alpha and
// beta (beta 0 ignoring NaN in c), k = 0, 1 and 2 threads, calls inside a parallel_for chunk;
// and simd::set_bf16_path refusing a path above the best.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "cpu/gemm_lowp.h"
#include "duet/error.h"
#include "duet/simd.h"
#include "duet/threads.h"

namespace {

using duet::BFloat16;
using duet::cpu_kernels::gemm_bf16;
using duet::simd::Bf16Path;

// Forces a path and restores the default when the scope ends.
struct PathGuard {
  explicit PathGuard(Bf16Path p) { duet::simd::set_bf16_path(p); }
  ~PathGuard() { duet::simd::reset_bf16_path(); }
  PathGuard(const PathGuard&) = delete;
  PathGuard& operator=(const PathGuard&) = delete;
};

struct ThreadsGuard {
  explicit ThreadsGuard(int n) : saved(duet::num_threads()) { duet::set_num_threads(n); }
  ~ThreadsGuard() { duet::set_num_threads(saved); }
  int saved;
};

struct Shape3 {
  int64_t m, n, k;
};

// Operands and expected result of one product; values are bfloat16 in [-1, 1) with no
// subnormals (VDPBF16PS and TDPBF16PS flush those to zero).
struct Problem {
  bool ta = false, tb = false;
  Shape3 s{};
  float alpha = 1, beta = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
  std::vector<BFloat16> a, b;
  std::vector<float> c0;
  std::vector<double> ref, tol;  // (m, n)

  Problem(bool ta_, bool tb_, Shape3 s_, float alpha_, float beta_, int64_t pad, uint32_t seed)
      : ta(ta_), tb(tb_), s(s_), alpha(alpha_), beta(beta_) {
    lda = (ta ? s.m : s.k) + pad;
    ldb = (tb ? s.k : s.n) + pad;
    ldc = s.n + pad;
    a.resize(std::max<int64_t>(1, (ta ? s.k : s.m) * lda));
    b.resize(std::max<int64_t>(1, (tb ? s.n : s.k) * ldb));
    c0.resize(s.m * ldc);
    uint32_t state = seed;
    auto rnd = [&] {
      state = state * 1664525u + 1013904223u;
      return static_cast<float>(state >> 8) / static_cast<float>(1 << 23) - 1.f;
    };
    for (BFloat16& v : a) v = BFloat16(rnd());
    for (BFloat16& v : b) v = BFloat16(rnd());
    for (float& v : c0) v = beta == 0.f ? std::numeric_limits<float>::quiet_NaN() : rnd();
    ref.resize(s.m * s.n);
    tol.resize(s.m * s.n);
    // float32 accumulation of k exact products: |error| <= (k + 2) u sum |a b| (u = 2^-24),
    // doubled for the paths that round twice per pair; plus the rounding of beta c.
    const double u = std::ldexp(1.0, -24);
    for (int64_t i = 0; i < s.m; ++i)
      for (int64_t j = 0; j < s.n; ++j) {
        double sum = 0, abs_sum = 0;
        for (int64_t p = 0; p < s.k; ++p) {
          const double x = static_cast<float>(ta ? a[p * lda + i] : a[i * lda + p]);
          const double y = static_cast<float>(tb ? b[j * ldb + p] : b[p * ldb + j]);
          sum += x * y;
          abs_sum += std::abs(x * y);
        }
        const double cprev = beta == 0.f ? 0.0 : beta * static_cast<double>(c0[i * ldc + j]);
        ref[i * s.n + j] = alpha * sum + cprev;
        tol[i * s.n + j] =
            2 * (s.k + 4) * u * std::abs(alpha) * abs_sum + 4 * u * std::abs(cprev) + 1e-30;
      }
  }

  std::vector<float> run() const {
    std::vector<float> c = c0;
    gemm_bf16(ta, tb, s.m, s.n, s.k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
    return c;
  }

  void check(const std::vector<float>& c) const {
    SCOPED_TRACE(testing::Message()
                 << "m " << s.m << " n " << s.n << " k " << s.k << " ta " << ta << " tb " << tb
                 << " alpha " << alpha << " beta " << beta << " ldc " << ldc);
    int bad = 0;
    for (int64_t i = 0; i < s.m && bad < 5; ++i)
      for (int64_t j = 0; j < s.n && bad < 5; ++j) {
        const double got = c[i * ldc + j], want = ref[i * s.n + j];
        if (!(std::abs(got - want) <= tol[i * s.n + j])) {
          ADD_FAILURE() << "c[" << i << ", " << j << "] = " << got << ", expected " << want
                        << " (tolerance " << tol[i * s.n + j] << ")";
          ++bad;
        }
      }
    // The padding between rows of c is never written.
    for (int64_t i = 0; i < s.m; ++i)
      for (int64_t j = s.n; j < ldc; ++j) {
        const float got = c[i * ldc + j], was = c0[i * ldc + j];
        ASSERT_TRUE(got == was || (std::isnan(got) && std::isnan(was)))
            << "padding c[" << i << ", " << j << "] overwritten";
      }
  }
};

class GemmBf16 : public testing::TestWithParam<Bf16Path> {
 protected:
  void SetUp() override {
    if (GetParam() > duet::simd::best_bf16_path())
      GTEST_SKIP() << "this CPU (or OS) lacks the " << duet::simd::bf16_path_name(GetParam())
                   << " path (best: " << duet::simd::bf16_path_name(duet::simd::best_bf16_path())
                   << ")";
    guard_ = std::make_unique<PathGuard>(GetParam());
  }
  void TearDown() override { guard_.reset(); }
  std::unique_ptr<PathGuard> guard_;
};

const Shape3 kShapes[] = {{1, 1, 1},     {1, 17, 33},   {15, 1, 17},    {15, 17, 33},
                          {17, 15, 100}, {33, 100, 17}, {100, 33, 64},  {16, 16, 32},
                          {32, 48, 64},  {31, 49, 65},  {47, 130, 300}, {130, 47, 513}};

TEST_P(GemmBf16, AllTransposesOddShapesPaddedLeadingDims) {
  ThreadsGuard threads(1);
  uint32_t seed = 1;
  for (const Shape3& s : kShapes)
    for (int t = 0; t < 4; ++t)
      for (int64_t pad : {0, 3}) {
        Problem p(t & 1, t & 2, s, 1.f, 0.f, pad, ++seed);
        p.check(p.run());
      }
}

TEST_P(GemmBf16, AlphaBeta) {
  ThreadsGuard threads(1);
  uint32_t seed = 100;
  // 64 x 96 x 1100: whole AMX blocks over several k slices (c accumulates in place).
  for (const Shape3& s :
       {Shape3{15, 17, 33}, Shape3{64, 80, 96}, Shape3{33, 100, 70}, Shape3{64, 96, 1100}})
    for (int t = 0; t < 4; ++t)
      for (auto [alpha, beta] : {std::pair{1.f, 1.f}, {0.5f, -0.75f}, {-2.f, 0.f}}) {
        Problem p(t & 1, t & 2, s, alpha, beta, 2, ++seed);
        p.check(p.run());
      }
}

TEST_P(GemmBf16, BetaZeroIgnoresNaN) {
  Problem p(false, false, {40, 50, 60}, 1.f, 0.f, 1, 7);
  ASSERT_TRUE(std::isnan(p.c0[0]));
  const std::vector<float> c = p.run();
  for (int64_t i = 0; i < p.s.m; ++i)
    for (int64_t j = 0; j < p.s.n; ++j) ASSERT_FALSE(std::isnan(c[i * p.ldc + j]));
  p.check(c);
}

TEST_P(GemmBf16, KZeroScalesC) {
  for (float beta : {0.f, 1.f, 0.5f}) {
    Problem p(false, true, {5, 7, 0}, 1.f, beta, 1, 9);
    const std::vector<float> c = p.run();
    for (int64_t i = 0; i < 5; ++i)
      for (int64_t j = 0; j < 7; ++j)
        ASSERT_EQ(c[i * p.ldc + j], beta == 0.f ? 0.f : beta * p.c0[i * p.ldc + j]);
  }
}

// alpha 0: c = beta c and a, b are not read (BLAS), even when they hold NaN.
TEST_P(GemmBf16, AlphaZeroReadsNeitherOperand) {
  for (float beta : {0.f, 0.5f}) {
    Problem p(false, false, {20, 40, 30}, 0.f, beta, 1, 11);
    for (BFloat16& v : p.a) v = BFloat16(std::numeric_limits<float>::quiet_NaN());
    const std::vector<float> c = p.run();
    for (int64_t i = 0; i < 20; ++i)
      for (int64_t j = 0; j < 40; ++j)
        ASSERT_EQ(c[i * p.ldc + j], beta == 0.f ? 0.f : beta * p.c0[i * p.ldc + j]);
  }
}

// Large enough to be split over the threads (by columns, then by rows).
TEST_P(GemmBf16, OneAndTwoThreads) {
  for (const Shape3& s : {Shape3{70, 300, 130}, Shape3{300, 90, 200}})
    for (int t = 0; t < 4; ++t) {
      Problem p(t & 1, t & 2, s, 1.5f, 0.5f, 5, 40 + t);
      for (int threads : {1, 2}) {
        ThreadsGuard g(threads);
        SCOPED_TRACE(testing::Message() << threads << " threads");
        p.check(p.run());
      }
    }
}

// Called from parallel_for chunks (as a convolution does per image), each runs on its thread.
TEST_P(GemmBf16, InsideParallelFor) {
  ThreadsGuard threads(2);
  std::vector<Problem> problems;
  for (int i = 0; i < 6; ++i)
    problems.emplace_back(i & 1, i & 2, Shape3{40, 150, 90}, 1.f, 0.f, 0, 60 + i);
  std::vector<std::vector<float>> out(problems.size());
  duet::parallel::parallel_for(0, static_cast<int64_t>(problems.size()), 1,
                               [&](int64_t lo, int64_t hi) {
                                 for (int64_t i = lo; i < hi; ++i) out[i] = problems[i].run();
                               });
  for (size_t i = 0; i < problems.size(); ++i) problems[i].check(out[i]);
}

INSTANTIATE_TEST_SUITE_P(Paths, GemmBf16,
                         testing::Values(Bf16Path::plain, Bf16Path::avx512_bf16, Bf16Path::amx),
                         [](const testing::TestParamInfo<Bf16Path>& info) {
                           return std::string(duet::simd::bf16_path_name(info.param));
                         });

TEST(Bf16PathTest, NamesAndDefault) {
  EXPECT_STREQ(duet::simd::bf16_path_name(Bf16Path::plain), "plain");
  EXPECT_STREQ(duet::simd::bf16_path_name(Bf16Path::avx512_bf16), "avx512_bf16");
  EXPECT_STREQ(duet::simd::bf16_path_name(Bf16Path::amx), "amx");
  EXPECT_LE(duet::simd::bf16_path(), duet::simd::best_bf16_path());
  // No AVX-512 at all: no bfloat16 instructions either.
  if (duet::simd::best_isa() == duet::simd::Isa::generic) {
    EXPECT_EQ(duet::simd::best_bf16_path(), Bf16Path::plain);
  }
  duet::simd::set_bf16_path(Bf16Path::plain);
  EXPECT_EQ(duet::simd::bf16_path(), Bf16Path::plain);
  duet::simd::reset_bf16_path();
}

TEST(Bf16PathTest, SetAboveBestThrows) {
  const Bf16Path best = duet::simd::best_bf16_path();
  if (best == Bf16Path::amx) {
    GTEST_SKIP() << "this CPU has every path (amx)";
  }
  const Bf16Path above = static_cast<Bf16Path>(static_cast<int>(best) + 1);
  PathGuard plain(Bf16Path::plain);
  try {
    duet::simd::set_bf16_path(above);
    FAIL() << "set_bf16_path(" << duet::simd::bf16_path_name(above) << ") did not throw";
  } catch (const duet::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("set_bf16_path"), std::string::npos) << msg;
    EXPECT_NE(msg.find(duet::simd::bf16_path_name(above)), std::string::npos) << msg;
    EXPECT_NE(msg.find(duet::simd::bf16_path_name(best)), std::string::npos) << msg;
  }
  EXPECT_EQ(duet::simd::bf16_path(), Bf16Path::plain);  // the refused call changed nothing
}

}  // namespace

// cpu_kernels::gemm<float> (the packed AVX-512 kernel where available, Eigen otherwise)
// against a float64 reference: every transpose combination, edge tiles, several KC slices
// and NC blocks, alpha/beta, padded leading dimensions, and beta = 0 ignoring NaN in c.
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/gemm.h"
#include "cpu/sgemm_avx512.h"
#include "test_util.h"

using duet::cpu_kernels::gemm;
using duet::cpu_kernels::sgemm_avx512;
using duet::cpu_kernels::sgemm_avx512_available;

namespace {

struct Case {
  int64_t m, n, k;
};

using GemmFn = void (*)(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                        const float*, int64_t, float, float*, int64_t);

// gemm<float> routes shapes between the packed kernel and Eigen; both are checked directly.
void check_with(GemmFn fn, bool ta, bool tb, Case s, float alpha, float beta, int64_t pad) {
  SCOPED_TRACE(testing::Message() << "m " << s.m << " n " << s.n << " k " << s.k << " ta " << ta
                                  << " tb " << tb << " alpha " << alpha << " beta " << beta);
  const int64_t lda = (ta ? s.m : s.k) + pad, ldb = (tb ? s.k : s.n) + pad, ldc = s.n + pad;
  std::vector<float> a((ta ? s.k : s.m) * lda), b((tb ? s.n : s.k) * ldb), c(s.m * ldc);
  uint32_t state = 12345;
  auto rnd = [&] {
    state = state * 1664525u + 1013904223u;
    return static_cast<float>(state >> 8) / static_cast<float>(1 << 24) - 0.5f;
  };
  for (float& v : a) v = rnd();
  for (float& v : b) v = rnd();
  for (float& v : c) v = beta == 0.f ? std::numeric_limits<float>::quiet_NaN() : rnd();
  const std::vector<float> c0 = c;
  fn(ta, tb, s.m, s.n, s.k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
  double worst = 0;
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t j = 0; j < s.n; ++j) {
      double ref = 0;
      for (int64_t p = 0; p < s.k; ++p)
        ref += static_cast<double>(ta ? a[p * lda + i] : a[i * lda + p]) *
               static_cast<double>(tb ? b[j * ldb + p] : b[p * ldb + j]);
      ref = alpha * ref + (beta == 0.f ? 0.0 : beta * static_cast<double>(c0[i * ldc + j]));
      worst = std::max(worst, std::abs(c[i * ldc + j] - ref) / (1.0 + std::abs(ref)));
    }
  EXPECT_LT(worst, 1e-5);
  // Padding columns of c are never written.
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t j = s.n; j < ldc; ++j)
      EXPECT_TRUE(std::isnan(c[i * ldc + j]) || c[i * ldc + j] == c0[i * ldc + j]);
}

void check(bool ta, bool tb, Case s, float alpha, float beta, int64_t pad) {
  check_with(&gemm<float>, ta, tb, s, alpha, beta, pad);
  if (sgemm_avx512_available()) {
    SCOPED_TRACE("sgemm_avx512");
    check_with(&sgemm_avx512, ta, tb, s, alpha, beta, pad);
  }
}

}  // namespace

TEST(Gemm, MatchesReferenceOnEdgeTilesAndBlocks) {
  const std::vector<Case> cases = {{1, 1, 1},     {7, 5, 3},     {8, 48, 16},
                                   {9, 49, 17},   {17, 95, 193}, {145, 97, 7},
                                   {64, 49, 576}, {3, 3100, 5},  {150, 40, 400}};
  for (const Case& s : cases)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) check(ta, tb, s, 1.f, 0.f, 0);
  check(false, false, {33, 70, 200}, 0.5f, 2.f, 3);
  check(true, true, {33, 70, 200}, -1.f, 1.f, 5);
  check(false, true, {20, 50, 10}, 2.f, 0.f, 1);
}

TEST(Gemm, ZeroDepthScalesByBeta) {
  std::vector<float> c = {1, 2, 3, 4};
  gemm<float>(false, false, 2, 2, 0, 1.f, nullptr, 1, nullptr, 2, 0.5f, c.data(), 2);
  EXPECT_EQ(c, (std::vector<float>{0.5f, 1, 1.5f, 2}));
  if (!sgemm_avx512_available()) return;
  sgemm_avx512(false, false, 2, 2, 0, 1.f, nullptr, 1, nullptr, 2, 2.f, c.data(), 2);
  EXPECT_EQ(c, (std::vector<float>{1, 2, 3, 4}));
}

// gemm_bf16's AMX path (gemm_bf16_paths.h): TDPBF16PS on 16 x 16 float32 tiles of c, 2 x 2 of
// them at a time (tiles 0-3), fed by two A tiles (4, 5: 16 rows x 32 k) and two B tiles (6, 7:
// 16 k pairs x 16 columns x 2, the VNNI layout) from the packed panels of gemm_bf16_pack.h.
//
// Loops: NC columns of b -> KC deep slices (pack op(b)) -> MC rows of a (pack op(a)) -> 32
// columns (two B strips, 64 KiB) -> 32 rows (two A strips, streamed from L2) -> the 32-deep
// k steps. The packed panels are zero-padded to whole tiles, so every tile is full size: one
// tile configuration (palette 1, eight 16 x 64-byte tiles) serves every shape. The c tiles go
// through a small buffer, where alpha and beta are applied on the way to c (masked at the
// edges), or, for a whole block with alpha 1 and beta 0 or 1, straight between the tiles and c
// (TILELOADD / TILESTORED with c's row stride). TDPBF16PS, like VDPBF16PS, treats subnormal inputs
// as zero.
//
// The tile configuration belongs to the thread: each call loads it (LDTILECFG, a few dozen
// cycles against the thousands of a block), so a pool worker running its first AMX block, or a
// thread whose configuration other code released or replaced, is always ready. The tile
// permission itself is asked once per process (simd::best_bf16_path(), src/core/cpu_features.cpp)
// and nothing is released: Linux keeps the state for the thread's lifetime.
#include <immintrin.h>

#include <vector>

#include "cpu/gemm_bf16_pack.h"
#include "cpu/gemm_bf16_paths.h"

namespace duet::cpu_kernels::bf16_detail {
namespace {

// KC x NC of b packed (2 MiB: L2), MC x KC of a (256 KiB). Timed on a Xeon with AMX (2
// threads): KC 1024 / MC 128 beat 512 / 256, 1024 / 256 and 512 / 128 / NC 2048 by 10-40% on
// the square and convolution shapes of bench/bench_gemm_bf16.cpp.
constexpr int64_t kKc = 1024, kMc = 128, kNc = 1024;  // multiples of 32

// The LDTILECFG operand (64 bytes, palette 1).
struct alignas(64) TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};  // bytes per row of each tile
  uint8_t rows[16] = {};
};

void load_tile_config() {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  _tile_loadconfig(&cfg);
}

// c (16 MT rows, 16 NT columns) = alpha op(a) op(b) + beta c over kt_count k tiles; ap, bp:
// the first A and B strips, the next strip kstride elements on; rows, cols: the part of the
// block inside c.
template <int MT, int NT>
void micro(const uint16_t* ap, const uint16_t* bp, int64_t kstride, int64_t kt_count, float* c,
           int64_t ldc, int64_t rows, int64_t cols, float alpha, float beta) {
  // A whole block with alpha 1 and beta 0 or 1 (the usual case, and every KC slice after the
  // first) accumulates in c itself: the tiles start from c (or zero) and are stored back.
  const bool direct =
      alpha == 1.f && (beta == 0.f || beta == 1.f) && rows == 16 * MT && cols == 16 * NT;
  const int64_t ldc_bytes = ldc * static_cast<int64_t>(sizeof(float));
  if (direct && beta == 1.f) {
    _tile_loadd(0, c, ldc_bytes);
    if constexpr (NT == 2) _tile_loadd(1, c + 16, ldc_bytes);
    if constexpr (MT == 2) _tile_loadd(2, c + 16 * ldc, ldc_bytes);
    if constexpr (MT == 2 && NT == 2) _tile_loadd(3, c + 16 * ldc + 16, ldc_bytes);
  } else {
    _tile_zero(0);
    if constexpr (NT == 2) _tile_zero(1);
    if constexpr (MT == 2) _tile_zero(2);
    if constexpr (MT == 2 && NT == 2) _tile_zero(3);
  }
  for (int64_t kt = 0; kt < kt_count; ++kt) {
    const int64_t off = kt * kTileElems;
    _tile_loadd(4, ap + off, 64);
    _tile_loadd(6, bp + off, 64);
    if constexpr (NT == 2) _tile_loadd(7, bp + kstride + off, 64);
    if constexpr (MT == 2) _tile_loadd(5, ap + kstride + off, 64);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (NT == 2) _tile_dpbf16ps(1, 4, 7);
    if constexpr (MT == 2) _tile_dpbf16ps(2, 5, 6);
    if constexpr (MT == 2 && NT == 2) _tile_dpbf16ps(3, 5, 7);
  }
  if (direct) {
    _tile_stored(0, c, ldc_bytes);
    if constexpr (NT == 2) _tile_stored(1, c + 16, ldc_bytes);
    if constexpr (MT == 2) _tile_stored(2, c + 16 * ldc, ldc_bytes);
    if constexpr (MT == 2 && NT == 2) _tile_stored(3, c + 16 * ldc + 16, ldc_bytes);
    return;
  }
  alignas(64) float buf[4][16 * 16];
  _tile_stored(0, buf[0], 64);
  if constexpr (NT == 2) _tile_stored(1, buf[1], 64);
  if constexpr (MT == 2) _tile_stored(2, buf[2], 64);
  if constexpr (MT == 2 && NT == 2) _tile_stored(3, buf[3], 64);
  for (int mi = 0; mi < MT; ++mi)
    for (int ni = 0; ni < NT; ++ni) {
      const float* t = buf[mi * 2 + ni];
      const int64_t tc = cols - 16 * ni;
      if (tc <= 0) continue;
      for (int64_t r = 0; r < 16 && 16 * mi + r < rows; ++r)
        store_row(c + (16 * mi + r) * ldc + 16 * ni, _mm512_load_ps(t + 16 * r), tc, alpha, beta);
    }
}

}  // namespace

void gemm_bf16_amx(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const BFloat16* a, int64_t lda, const BFloat16* b, int64_t ldb, float beta,
                   float* c, int64_t ldc) {
  load_tile_config();
  thread_local std::vector<uint16_t> a_buf, b_buf;
  const int64_t kt_max = tiles(std::min(k, kKc), 32);
  const int64_t a_need = tiles(std::min(m, kMc), 16) * kt_max * kTileElems;
  const int64_t b_need = tiles(std::min(n, kNc), 16) * kt_max * kTileElems;
  if (static_cast<int64_t>(a_buf.size()) < a_need) a_buf.resize(a_need);
  if (static_cast<int64_t>(b_buf.size()) < b_need) b_buf.resize(b_need);
  for (int64_t j0 = 0; j0 < n; j0 += kNc) {
    const int64_t nc = std::min(kNc, n - j0);
    for (int64_t k0 = 0; k0 < k; k0 += kKc) {
      const int64_t kc = std::min(kKc, k - k0), kt_count = tiles(kc, 32);
      const int64_t kstride = kt_count * kTileElems;  // from one 16-wide strip to the next
      const float beta_k = k0 == 0 ? beta : 1.f;
      pack_b(trans_b, b, ldb, j0, nc, k0, kc, b_buf.data());
      for (int64_t i0 = 0; i0 < m; i0 += kMc) {
        const int64_t mc = std::min(kMc, m - i0);
        pack_a(trans_a, a, lda, i0, mc, k0, kc, a_buf.data());
        for (int64_t jj = 0; jj < nc; jj += 32) {
          const int64_t cols = std::min<int64_t>(32, nc - jj);
          const uint16_t* bp = b_buf.data() + (jj / 16) * kstride;
          for (int64_t ii = 0; ii < mc; ii += 32) {
            const int64_t rows = std::min<int64_t>(32, mc - ii);
            const uint16_t* ap = a_buf.data() + (ii / 16) * kstride;
            float* cp = c + (i0 + ii) * ldc + j0 + jj;
            if (rows > 16 && cols > 16)
              micro<2, 2>(ap, bp, kstride, kt_count, cp, ldc, rows, cols, alpha, beta_k);
            else if (rows > 16)
              micro<2, 1>(ap, bp, kstride, kt_count, cp, ldc, rows, cols, alpha, beta_k);
            else if (cols > 16)
              micro<1, 2>(ap, bp, kstride, kt_count, cp, ldc, rows, cols, alpha, beta_k);
            else
              micro<1, 1>(ap, bp, kstride, kt_count, cp, ldc, rows, cols, alpha, beta_k);
          }
        }
      }
    }
  }
}

}  // namespace duet::cpu_kernels::bf16_detail

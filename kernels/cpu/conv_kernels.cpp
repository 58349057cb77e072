#include "conv_kernels.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/dtype_dispatch.h"
#include "core/parallel.h"
#include "cpu/gemm.h"
#include "cpu/lowp_kernels.h"
#include "cpu/thread_scratch.h"
#include "geometry.h"

namespace duet::cpu_kernels {

using kernels::conv_geom;
using kernels::ConvGeom;

namespace {

// Which kernel a workspace size is for.
enum class ConvPass { forward, backward_input, backward_weight };

// ---------------------------------------------------------------------------------------
// Per-thread scratch buffers (cpu/thread_scratch.h): slot 0 im2col columns, slot 1 the rest.
template <class T>
T* scratch(int slot, int64_t count) {
  thread_local ThreadScratch s[2];
  return s[slot].get<T>(count, "conv2d");
}

int usable_threads() {
  return parallel::max_threads();
}

// Whether `count` equal work items are worth spreading over `threads` threads (one GEMM per
// thread) rather than running one after another with each GEMM split over the threads.
bool parallel_items(int64_t count, int threads) {
  return threads > 1 && (count >= 2 * threads || (count >= threads && count % threads == 0));
}

// Calls f(item, thread) for every item; `thread` (< threads) picks the per-thread scratch.
template <class F>
void run_items(int64_t count, bool parallel, int threads, F&& f) {
  if (parallel) {
    parallel::parallel_for(
        0, count, 1,
        [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) f(i, parallel::thread_index());
        },
        threads);
  } else {
    for (int64_t i = 0; i < count; ++i) f(i, 0);
  }
}

// ---------------------------------------------------------------------------------------
// Work split. A chunk is either a band of output rows of one image, or several whole
// images (small feature maps: a wider GEMM). Its im2col block (Kg x cols) is about 2 MB:
// measured on ResNet-18 shapes (1 MB L2 per core), 0.25-1 MB bands were up to 12% slower
// on the deep layers (narrow GEMMs) and no faster on the wide ones. Chunks run one per
// thread with single-threaded GEMMs: 10-25% faster than running them one after another
// with each GEMM split over the threads. At least 512 columns per chunk: the packed GEMM
// packs the weights once per call, so deep layers (K x O large, few columns) need wide
// chunks; 512 rather than 128 made ResNet-18 inference at 8x224 ~15% and ResNet-50 at 1x224
// ~8% faster (alternating runs, same machine).

constexpr int64_t kColBudgetBytes = 2048 * 1024;
constexpr int64_t kMinCols = 512;
constexpr int64_t kMaxCols = 4096;

struct ChunkPlan {
  int64_t images = 1;     // images per chunk
  int64_t rows = 0;       // output rows per chunk (all of them when images > 1)
  int64_t per_image = 1;  // chunks per image (images == 1)
  int64_t count = 0;

  struct Chunk {
    int64_t n0, n1, oh0, oh1;
  };
  Chunk at(int64_t i, const ConvGeom& g) const {
    if (images > 1 || per_image == 1) {
      const int64_t n0 = i * images;
      return {n0, std::min(g.n, n0 + images), 0, g.oh};
    }
    const int64_t n = i / per_image, r0 = (i % per_image) * rows;
    return {n, n + 1, r0, std::min(g.oh, r0 + rows)};
  }
};

ChunkPlan plan_chunks(const ConvGeom& g, size_t elem, bool split_images, int threads) {
  const int64_t k = std::max<int64_t>(g.kg(), 1);
  const int64_t target =
      std::clamp<int64_t>(kColBudgetBytes / (k * static_cast<int64_t>(elem)), kMinCols, kMaxCols);
  ChunkPlan p;
  const int64_t ohw = std::max<int64_t>(g.ohw(), 1);
  if (ohw >= target) {
    p.images = 1;
    p.rows = split_images ? std::max<int64_t>(1, target / std::max<int64_t>(g.ow, 1)) : g.oh;
    p.rows = std::min(p.rows, std::max<int64_t>(g.oh, 1));
    p.per_image = (g.oh + p.rows - 1) / p.rows;
    p.count = g.n * p.per_image;
  } else {
    const int64_t t = threads;
    p.images = std::max<int64_t>(1, target / ohw);
    p.images = std::min(p.images, std::max<int64_t>(1, (g.n + t - 1) / t));
    // Prefer a chunk count that the threads share evenly.
    while (p.images > 1 && ((g.n + p.images - 1) / p.images) % t != 0) --p.images;
    p.rows = g.oh;
    p.count = (g.n + p.images - 1) / p.images;
  }
  return p;
}

// Output columns ow in [lo, hi) read input columns iw = iw0 + ow * s inside [0, W).
inline void valid_range(int64_t iw0, int64_t s, int64_t w, int64_t ow, int64_t& lo, int64_t& hi) {
  lo = iw0 >= 0 ? 0 : -iw0 / s + (-iw0 % s != 0);  // ceil(-iw0 / s); -iw0 + s - 1 may overflow
  hi = w - 1 - iw0 < 0 ? 0 : std::min(ow, (w - 1 - iw0) / s + 1);
  lo = std::min(lo, ow);
  hi = std::max(hi, lo);
}

// One im2col row (a kernel tap) over output rows [oh0, oh1): out row oh, column j reads
// x[ih(oh), iw0 + j * sw] where valid (j in [lo, hi), ih in range), else 0. xc is the input
// channel (H, W); d receives (oh1 - oh0) * OW values. Input outside the valid range is never
// read.
template <class T>
void im2col_tap_generic(const ConvGeom& g, const T* xc, int64_t kh, int64_t kw, int64_t oh0,
                        int64_t oh1, T* d) {
  const int64_t ow = g.ow, iw0 = kw * g.dw - g.pw;
  int64_t lo, hi;
  valid_range(iw0, g.sw, g.w, ow, lo, hi);
  for (int64_t oh = oh0; oh < oh1; ++oh, d += ow) {
    const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
    if (ih < 0 || ih >= g.h) {
      std::fill(d, d + ow, T(0));
      continue;
    }
    const T* src = xc + ih * g.w + iw0;
    for (int64_t j = 0; j < lo; ++j) d[j] = T(0);
    if (g.sw == 1) {
      std::memcpy(d + lo, src + lo, static_cast<size_t>(hi - lo) * sizeof(T));
    } else {
      for (int64_t j = lo; j < hi; ++j) d[j] = src[j * g.sw];
    }
    for (int64_t j = hi; j < ow; ++j) d[j] = T(0);
  }
}

template <class T>
void im2col_tap(const ConvGeom& g, const T* xc, int64_t kh, int64_t kw, int64_t oh0, int64_t oh1,
                T* d) {
  im2col_tap_generic(g, xc, kh, kw, oh0, oh1, d);
}

#if defined(__AVX512F__)
// Bits [a, b) of a 32-bit mask (a, b clamped to [0, 32]).
inline uint32_t bit_range(int64_t a, int64_t b) {
  a = std::clamp<int64_t>(a, 0, 32);
  b = std::clamp<int64_t>(b, 0, 32);
  const uint64_t m = ((1ull << b) - 1) & ~((1ull << a) - 1);
  return static_cast<uint32_t>(m);
}

// float, stride 1 or 2: masked vector loads put the zero padding in place (masked-off lanes
// never fault), with the masks of a tap computed once for all its rows.
template <>
void im2col_tap<float>(const ConvGeom& g, const float* xc, int64_t kh, int64_t kw, int64_t oh0,
                       int64_t oh1, float* d) {
  const int64_t ow = g.ow, iw0 = kw * g.dw - g.pw, s = g.sw;
  constexpr int64_t kMaxVecs = 16;  // rows up to 256 wide
  if ((s != 1 && s != 2) || ow > 16 * kMaxVecs) {
    im2col_tap_generic(g, xc, kh, kw, oh0, oh1, d);
    return;
  }
  int64_t lo, hi;
  valid_range(iw0, s, g.w, ow, lo, hi);
  const int64_t nv = (ow + 15) / 16;
  __mmask16 st[kMaxVecs] = {}, m0[kMaxVecs] = {}, m1[kMaxVecs] = {};
  for (int64_t v = 0; v < nv; ++v) {
    const int64_t j = 16 * v;
    st[v] = static_cast<__mmask16>(bit_range(0, ow - j));
    if (s == 1) {
      m0[v] = static_cast<__mmask16>(bit_range(lo - j, hi - j));
    } else {  // lane e of the two loads holds src[2 j + e]; read only even lanes of valid j
      const uint32_t want = bit_range(2 * (lo - j), 2 * (hi - j)) & 0x55555555u;
      m0[v] = static_cast<__mmask16>(want);
      m1[v] = static_cast<__mmask16>(want >> 16);
    }
  }
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (int64_t oh = oh0; oh < oh1; ++oh, d += ow) {
    const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
    if (ih < 0 || ih >= g.h) {
      std::fill(d, d + ow, 0.0f);
      continue;
    }
    const float* src = xc + ih * g.w + iw0;
    if (s == 1) {
      for (int64_t v = 0; v < nv; ++v)
        _mm512_mask_storeu_ps(d + 16 * v, st[v], _mm512_maskz_loadu_ps(m0[v], src + 16 * v));
    } else {
      for (int64_t v = 0; v < nv; ++v) {
        const __m512 a = _mm512_maskz_loadu_ps(m0[v], src + 32 * v);
        const __m512 b = _mm512_maskz_loadu_ps(m1[v], src + 32 * v + 16);
        _mm512_mask_storeu_ps(d + 16 * v, st[v], _mm512_permutex2var_ps(a, even, b));
      }
    }
  }
}
#endif

// im2col for one image and one group: x points at the group's first channel (cg, H, W);
// writes the (cg * KH * KW, (oh1 - oh0) * OW) block with leading dimension ld into dst.
template <class T>
void im2col(const ConvGeom& g, const T* x, int64_t oh0, int64_t oh1, T* dst, int64_t ld) {
  // Called outside a parallel region (one chunk: small maps at batch 1), a large copy is
  // shared by the threads; inside one (a chunk per thread) it runs on the caller.
  const bool split = g.cg() >= 2 * parallel::max_threads() &&
                     g.cg() * g.kh * g.kw * (oh1 - oh0) * g.ow > (1 << 16);
  parallel::parallel_for_if(split, 0, g.cg(), [&](int64_t lo, int64_t hi) {
    for (int64_t ci = lo; ci < hi; ++ci)
      for (int64_t kh = 0; kh < g.kh; ++kh)
        for (int64_t kw = 0; kw < g.kw; ++kw)
          im2col_tap(g, x + ci * g.hw(), kh, kw, oh0, oh1,
                     dst + ((ci * g.kh + kh) * g.kw + kw) * ld);
  });
}

// The adjoint of im2col_tap: adds the (oh1 - oh0) * OW values of src back into the input
// channel gxc (H, W).
template <class T>
void col2im_tap(const ConvGeom& g, const T* src, int64_t kh, int64_t kw, int64_t oh0, int64_t oh1,
                T* gxc) {
  const int64_t ow = g.ow, iw0 = kw * g.dw - g.pw;
  int64_t lo, hi;
  valid_range(iw0, g.sw, g.w, ow, lo, hi);
  for (int64_t oh = oh0; oh < oh1; ++oh, src += ow) {
    const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
    if (ih < 0 || ih >= g.h) continue;
    T* d = gxc + ih * g.w + iw0;
    if (g.sw == 1) {
#pragma omp simd
      for (int64_t j = lo; j < hi; ++j) d[j] += src[j];
    } else {
      for (int64_t j = lo; j < hi; ++j) d[j * g.sw] += src[j];
    }
  }
}

// The adjoint of im2col: adds the block (cg * KH * KW, (oh1 - oh0) * OW) back into the
// group's input gradient gx (cg, H, W).
template <class T>
void col2im_add(const ConvGeom& g, const T* col, int64_t ld, int64_t oh0, int64_t oh1, T* gx) {
  for (int64_t ci = 0; ci < g.cg(); ++ci)
    for (int64_t kh = 0; kh < g.kh; ++kh)
      for (int64_t kw = 0; kw < g.kw; ++kw)
        col2im_tap(g, col + ((ci * g.kh + kh) * g.kw + kw) * ld, kh, kw, oh0, oh1,
                   gx + ci * g.hw());
}

// ---------------------------------------------------------------------------------------
// Row shifting (stride-1 convs, row bands of one image).
//
// Instead of im2col's KH * KW shifted copies of the input, build only KW column-shifted
// copies of the band's input rows (KH - 1 more rows than the band):
//   s (Cg * KW, nr = rows + (KH - 1) dh, OW)
//   s[(ci, kw), r, j] = x[ci, oh0 + r - ph, j sw + kw dw - pw]   (0 outside the input)
// Kernel row kh then reads s from row kh * dh on, so the conv is KH GEMMs with the weights
// regrouped per kernel row, wr (groups, KH, Og, Cg * KW):
//   y_g += wr[g, kh] (Og, Cg * KW) @ s[:, kh dh :, :] (Cg * KW, rows * OW; row stride nr * OW)
// A third of im2col's copying for 3x3 kernels; measured 5-10% faster on the stride-1
// ResNet-18 3x3 layers (forward and both backward ops).

// Row shifting regroups the weights on every call (O x Kg elements); im2col writes Kg x
// (N x OH x OW). Small maps with many channels (ResNet's 14x14 and 7x7 layers at batch 1)
// are cheaper through im2col: 1.5-2.5x faster there, measured.
inline bool use_row_shift(const ConvGeom& g, const ChunkPlan& plan) {
  return g.sh == 1 && g.kh > 1 && plan.images == 1 && g.n * g.ohw() >= g.o;
}

// Index of w[o, ci, kh, kw] in the regrouped layout (groups, KH, Og, Cg * KW).
inline int64_t regrouped_index(const ConvGeom& g, int64_t o, int64_t ci, int64_t kh, int64_t kw) {
  const int64_t og = g.og();
  return (((o / og) * g.kh + kh) * og + o % og) * (g.cg() * g.kw) + ci * g.kw + kw;
}

template <class T>
void regroup_by_kernel_row(const ConvGeom& g, const T* w, T* wr) {
  parallel::parallel_for_if(g.o * g.kg() > (1 << 16), 0, g.o, [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo; o < hi; ++o)
      for (int64_t ci = 0; ci < g.cg(); ++ci)
        for (int64_t kh = 0; kh < g.kh; ++kh)
          for (int64_t kw = 0; kw < g.kw; ++kw)
            wr[regrouped_index(g, o, ci, kh, kw)] = w[((o * g.cg() + ci) * g.kh + kh) * g.kw + kw];
  });
}

// Fills s (Cg * KW, nr, OW) for input rows starting at output row oh0; xg is the group's
// first input channel of one image.
template <class T>
void build_shifted(const ConvGeom& g, const T* xg, int64_t oh0, int64_t nr, T* s) {
  for (int64_t ci = 0; ci < g.cg(); ++ci)
    for (int64_t kw = 0; kw < g.kw; ++kw)
      im2col_tap(g, xg + ci * g.hw(), 0, kw, oh0, oh0 + nr, s + (ci * g.kw + kw) * nr * g.ow);
}

// The adjoint of build_shifted: adds s back into the group's input gradient gxg.
template <class T>
void add_shifted(const ConvGeom& g, const T* s, int64_t oh0, int64_t nr, T* gxg) {
  for (int64_t ci = 0; ci < g.cg(); ++ci)
    for (int64_t kw = 0; kw < g.kw; ++kw)
      col2im_tap(g, s + (ci * g.kw + kw) * nr * g.ow, 0, kw, oh0, oh0 + nr, gxg + ci * g.hw());
}

// ---------------------------------------------------------------------------------------
// Scratch of one GEMM-path call: per-thread buffers (slot 0: im2col columns or the shifted
// input; slot 1: gathered grad_out or a multi-image GEMM output) and shared ones (the
// regrouped weights; the weight gradient's per-thread accumulators). conv_work sizes them;
// they come from the op's workspace (planned by graph mode, from the caching allocator in
// eager mode) when it is large enough, else from thread-local buffers.

inline size_t round64(int64_t bytes) {
  return (static_cast<size_t>(bytes) + 63) / 64 * 64;
}

struct ConvWork {
  int threads = 1;           // per-thread slots
  int64_t slot[2] = {0, 0};  // elements per thread
  int64_t shared = 0;        // elements
  size_t bytes(size_t elem) const {
    const int64_t e = static_cast<int64_t>(elem);
    return round64(shared * e) + threads * (round64(slot[0] * e) + round64(slot[1] * e));
  }
};

ConvWork conv_work(const ConvGeom& g, size_t elem, ConvPass pass, int threads) {
  ConvWork w;
  if (g.depthwise()) return w;
  const bool split = pass != ConvPass::backward_input;
  const ChunkPlan plan = plan_chunks(g, elem, split, threads);
  const bool par = parallel_items(plan.count, threads);
  w.threads = par ? threads : 1;
  const bool rs = use_row_shift(g, plan);
  int64_t rows = plan.rows;  // most output rows of one image in a GEMM
  if (!split && plan.images == 1) {
    const ChunkPlan bands = plan_chunks(g, elem, true, threads);
    rows = bands.images == 1 ? bands.rows : g.oh;
  }
  const int64_t cols = plan.images * rows * g.ow;
  const int64_t lds = (rows + (g.kh - 1) * g.dh) * g.ow;
  if (rs)
    w.slot[0] = g.cg() * g.kw * lds;
  else if (!(plan.images == 1 && g.pointwise()))
    w.slot[0] = g.kg() * cols;
  if (plan.images > 1) w.slot[1] = g.og() * cols;
  if (pass == ConvPass::backward_weight)
    w.shared = (w.threads - (rs ? 0 : 1)) * g.o * g.kg();
  else if (rs)
    w.shared = g.o * g.kg();
  return w;
}

template <class T>
class Work {
 public:
  Work(const ConvWork& w, void* ws, size_t ws_size) : w_(w) {
    if (ws && ws_size >= w.bytes(sizeof(T))) {
      char* p = static_cast<char*>(ws);
      shared_ = reinterpret_cast<T*>(p);
      base_ = p + round64(w.shared * static_cast<int64_t>(sizeof(T)));
      off1_ = round64(w.slot[0] * static_cast<int64_t>(sizeof(T)));
      stride_ = off1_ + round64(w.slot[1] * static_cast<int64_t>(sizeof(T)));
    } else {
      own_.resize(static_cast<size_t>(w.shared));
      shared_ = own_.data();
    }
  }
  const ConvWork& sizes() const { return w_; }
  T* shared() { return shared_; }
  // Slot s of thread t, for `count` elements.
  T* slot(int s, int t, int64_t count) {
    if (!base_) return scratch<T>(s, count);
    DUET_ASSERT(count <= w_.slot[s] && t < w_.threads, "conv2d: scratch slot ", s, " of thread ", t,
                " holds ", w_.slot[s], " elements, ", count, " needed");
    return reinterpret_cast<T*>(base_ + t * stride_ + (s ? off1_ : 0));
  }

 private:
  ConvWork w_;
  T* shared_ = nullptr;
  char* base_ = nullptr;
  size_t off1_ = 0, stride_ = 0;
  std::vector<T> own_;
};

// ---------------------------------------------------------------------------------------
// GEMM path

// Adds bias b (og) to the (og, cols) block yc with leading dimension ld.
template <class T>
void add_bias(const T* b, int64_t og, int64_t cols, T* yc, int64_t ld) {
  for (int64_t o = 0; o < og; ++o) {
    T* r = yc + o * ld;
    const T bv = b[o];
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) r[j] += bv;
  }
}

// y (N, O, OH, OW) = conv(x, w) + b; per group: y_g (Og, cols) = w_g (Og, Kg) @ col (Kg, cols),
// or KH GEMMs on row-shifted input for stride-1 row bands.
template <class T>
void forward_gemm(const ConvGeom& g, const T* x, const T* w, const T* b, T* y, int threads,
                  Work<T>& ws) {
  const int64_t kg = g.kg(), og = g.og(), ohw = g.ohw(), hw = g.hw();
  const int64_t ckw = g.cg() * g.kw;
  const ChunkPlan plan = plan_chunks(g, sizeof(T), true, threads);
  const bool row_shift = use_row_shift(g, plan);
  T* wr = ws.shared();
  if (row_shift) regroup_by_kernel_row(g, w, wr);
  run_items(plan.count, parallel_items(plan.count, threads), threads, [&](int64_t i, int tid) {
    const ChunkPlan::Chunk ch = plan.at(i, g);
    const int64_t ni = ch.n1 - ch.n0, p0 = ch.oh0 * g.ow;
    const int64_t cols = ni * (ch.oh1 - ch.oh0) * g.ow;
    const bool direct_out = ni == 1;
    if (row_shift) {
      const int64_t nr = (ch.oh1 - ch.oh0) + (g.kh - 1) * g.dh, lds = nr * g.ow;
      T* sh = ws.slot(0, tid, ckw * lds);
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        build_shifted(g, x + (ch.n0 * g.c + grp * g.cg()) * hw, ch.oh0, nr, sh);
        T* yc = y + (ch.n0 * g.o + grp * og) * ohw + p0;
        for (int64_t kh = 0; kh < g.kh; ++kh)
          gemm<T>(false, false, og, cols, ckw, T(1), wr + (grp * g.kh + kh) * og * ckw, ckw,
                  sh + kh * g.dh * g.ow, lds, kh == 0 ? T(0) : T(1), yc, ohw);
        if (b) add_bias(b + grp * og, og, cols, yc, ohw);
      }
      return;
    }
    const bool direct_in = direct_out && g.pointwise();
    T* col = direct_in ? nullptr : ws.slot(0, tid, kg * cols);
    T* tmp = direct_out ? nullptr : ws.slot(1, tid, og * cols);
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* bm = col;
      int64_t ldb = cols;
      if (direct_in) {
        bm = x + (ch.n0 * g.c + grp * g.cg()) * hw + p0;
        ldb = hw;
      } else {
        for (int64_t k = 0; k < ni; ++k)
          im2col(g, x + ((ch.n0 + k) * g.c + grp * g.cg()) * hw, ch.oh0, ch.oh1, col + k * ohw,
                 cols);
      }
      const T* wg = w + grp * og * kg;
      const T* bg = b ? b + grp * og : nullptr;
      if (direct_out) {
        T* yc = y + (ch.n0 * g.o + grp * og) * ohw + p0;
        gemm<T>(false, false, og, cols, kg, T(1), wg, kg, bm, ldb, T(0), yc, ohw);
        if (bg) add_bias(bg, og, cols, yc, ohw);
      } else {
        gemm<T>(false, false, og, cols, kg, T(1), wg, kg, bm, ldb, T(0), tmp, cols);
        for (int64_t k = 0; k < ni; ++k) {
          for (int64_t o = 0; o < og; ++o) {
            const T* s = tmp + o * cols + k * ohw;
            T* d = y + ((ch.n0 + k) * g.o + grp * og + o) * ohw;
            const T bv = bg ? bg[o] : T(0);
#pragma omp simd
            for (int64_t j = 0; j < ohw; ++j) d[j] = s[j] + bv;
          }
        }
      }
    }
  });
}

// Copies grad_out of images [n0, n1), group grp, rows [oh0, oh1) into dst (Og, cols).
template <class T>
void gather_grad(const ConvGeom& g, const T* go, int64_t n0, int64_t n1, int64_t grp, T* dst,
                 int64_t cols) {
  const int64_t og = g.og(), ohw = g.ohw();
  for (int64_t k = 0; k < n1 - n0; ++k)
    for (int64_t o = 0; o < og; ++o)
      std::memcpy(dst + o * cols + k * ohw, go + ((n0 + k) * g.o + grp * og + o) * ohw,
                  static_cast<size_t>(ohw) * sizeof(T));
}

// gx (N, C, H, W): per group, col (Kg, cols) = w_g^T (Kg, Og) @ go_g (Og, cols), then col2im;
// for stride-1 convs the adjoint of row shifting: s = sum over kh of wr[g, kh]^T @ go_g placed
// at row kh * dh of s, then s is added back into gx.
// A chunk never splits an image across threads (col2im of neighbouring rows overlaps).
template <class T>
void backward_input_gemm(const ConvGeom& g, const T* go, const T* w, T* gx, int threads,
                         Work<T>& ws) {
  const int64_t kg = g.kg(), og = g.og(), ohw = g.ohw(), hw = g.hw();
  const int64_t ckw = g.cg() * g.kw;
  const ChunkPlan plan = plan_chunks(g, sizeof(T), false, threads);
  // Row bands within an image, processed in order by the image's thread.
  const ChunkPlan bands = plan_chunks(g, sizeof(T), true, threads);
  const int64_t band_rows = bands.images == 1 ? bands.rows : g.oh;
  const bool row_shift = use_row_shift(g, plan);
  T* wr = ws.shared();
  if (row_shift) regroup_by_kernel_row(g, w, wr);
  run_items(plan.count, parallel_items(plan.count, threads), threads, [&](int64_t i, int tid) {
    const ChunkPlan::Chunk ch = plan.at(i, g);
    const int64_t ni = ch.n1 - ch.n0;
    const bool direct = ni == 1 && g.pointwise();
    if (!direct) std::fill(gx + ch.n0 * g.c * hw, gx + ch.n1 * g.c * hw, T(0));
    const int64_t step = ni == 1 ? band_rows : g.oh;
    for (int64_t r0 = 0; r0 < g.oh; r0 += step) {
      const int64_t r1 = std::min(g.oh, r0 + step), p0 = r0 * g.ow;
      const int64_t cols = ni * (r1 - r0) * g.ow;
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const T* wg = w + grp * og * kg;
        const T* am = nullptr;
        int64_t lda = cols;
        if (ni == 1) {
          am = go + (ch.n0 * g.o + grp * og) * ohw + p0;
          lda = ohw;
        } else {
          T* tmp = ws.slot(1, tid, og * cols);
          gather_grad(g, go, ch.n0, ch.n1, grp, tmp, cols);
          am = tmp;
        }
        T* gxg = gx + (ch.n0 * g.c + grp * g.cg()) * hw;
        if (direct) {
          gemm<T>(true, false, kg, cols, og, T(1), wg, kg, am, lda, T(0), gxg + p0, hw);
          continue;
        }
        if (row_shift) {
          const int64_t nr = (r1 - r0) + (g.kh - 1) * g.dh, lds = nr * g.ow;
          T* sh = ws.slot(0, tid, ckw * lds);
          std::fill(sh, sh + ckw * lds, T(0));
          for (int64_t kh = 0; kh < g.kh; ++kh)
            gemm<T>(true, false, ckw, cols, og, T(1), wr + (grp * g.kh + kh) * og * ckw, ckw, am,
                    lda, T(1), sh + kh * g.dh * g.ow, lds);
          add_shifted(g, sh, r0, nr, gxg);
          continue;
        }
        T* col = ws.slot(0, tid, kg * cols);
        gemm<T>(true, false, kg, cols, og, T(1), wg, kg, am, lda, T(0), col, cols);
        for (int64_t k = 0; k < ni; ++k)
          col2im_add(g, col + k * ohw, cols, r0, r1, gxg + k * g.c * hw);
      }
    }
  });
}

// gw (O, Cg, KH, KW): per group, gw_g (Og, Kg) += go_g (Og, cols) @ col (Kg, cols)^T; for
// stride-1 row bands, wr[g, kh] (Og, Cg * KW) += go_g @ s[:, kh dh :, :]^T in the regrouped
// layout. Threads accumulate into private copies that are summed at the end.
template <class T>
void backward_weight_gemm(const ConvGeom& g, const T* go, const T* x, T* gw, int threads,
                          Work<T>& ws) {
  const int64_t kg = g.kg(), og = g.og(), ohw = g.ohw(), hw = g.hw();
  const int64_t ckw = g.cg() * g.kw, wn = g.o * kg;
  const ChunkPlan plan = plan_chunks(g, sizeof(T), true, threads);
  const bool row_shift = use_row_shift(g, plan);

  auto run = [&](int64_t i, int tid, T* acc) {
    const ChunkPlan::Chunk ch = plan.at(i, g);
    const int64_t ni = ch.n1 - ch.n0, p0 = ch.oh0 * g.ow;
    const int64_t cols = ni * (ch.oh1 - ch.oh0) * g.ow;
    const bool direct_in = ni == 1 && g.pointwise();
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* am;
      int64_t lda = cols;
      if (ni == 1) {
        am = go + (ch.n0 * g.o + grp * og) * ohw + p0;
        lda = ohw;
      } else {
        T* tmp = ws.slot(1, tid, og * cols);
        gather_grad(g, go, ch.n0, ch.n1, grp, tmp, cols);
        am = tmp;
      }
      if (row_shift) {
        const int64_t nr = (ch.oh1 - ch.oh0) + (g.kh - 1) * g.dh, lds = nr * g.ow;
        T* sh = ws.slot(0, tid, ckw * lds);
        build_shifted(g, x + (ch.n0 * g.c + grp * g.cg()) * hw, ch.oh0, nr, sh);
        for (int64_t kh = 0; kh < g.kh; ++kh)
          gemm<T>(false, true, og, ckw, cols, T(1), am, lda, sh + kh * g.dh * g.ow, lds, T(1),
                  acc + (grp * g.kh + kh) * og * ckw, ckw);
        continue;
      }
      const T* bm;
      int64_t ldb = cols;
      if (direct_in) {
        bm = x + (ch.n0 * g.c + grp * g.cg()) * hw + p0;
        ldb = hw;
      } else {
        T* col = ws.slot(0, tid, kg * cols);
        for (int64_t k = 0; k < ni; ++k)
          im2col(g, x + ((ch.n0 + k) * g.c + grp * g.cg()) * hw, ch.oh0, ch.oh1, col + k * ohw,
                 cols);
        bm = col;
      }
      gemm<T>(false, true, og, kg, cols, T(1), am, lda, bm, ldb, T(1), acc + grp * og * kg, kg);
    }
  };

  // Accumulators (ws.shared()): thread 0 adds straight into gw unless the layout is the
  // regrouped one.
  const bool par = parallel_items(plan.count, threads);
  const int nt = par ? threads : 1;
  const int first_extra = row_shift ? 0 : 1;
  T* extra = ws.shared();
  std::fill(extra, extra + (nt - first_extra) * wn, T(0));
  auto acc_of = [&](int t) { return t < first_extra ? gw : extra + (t - first_extra) * wn; };
  std::fill(gw, gw + wn, T(0));
  // Part t of nt takes a contiguous run of chunks (OpenMP's static split) and adds into
  // accumulator t, whichever thread runs it: the sum depends on nt, not on scheduling.
  const int used = nt;
  if (par) {
    parallel::parallel_for(
        0, nt, 1,
        [&](int64_t t0, int64_t t1) {
          const int tid = parallel::thread_index();
          for (int64_t t = t0; t < t1; ++t) {
            const int64_t q = plan.count / nt, r = plan.count % nt;
            const int64_t i0 = t * q + std::min(t, r), i1 = i0 + q + (t < r ? 1 : 0);
            T* acc = acc_of(static_cast<int>(t));
            for (int64_t i = i0; i < i1; ++i) run(i, tid, acc);
          }
        },
        threads);
  } else {
    for (int64_t i = 0; i < plan.count; ++i) run(i, 0, acc_of(0));
  }
  if (row_shift) {
    parallel::parallel_for_if(wn > (1 << 16), 0, g.o, [&](int64_t lo, int64_t hi) {
      for (int64_t o = lo; o < hi; ++o)
        for (int64_t ci = 0; ci < g.cg(); ++ci)
          for (int64_t kh = 0; kh < g.kh; ++kh)
            for (int64_t kw = 0; kw < g.kw; ++kw) {
              const int64_t r = regrouped_index(g, o, ci, kh, kw);
              T s = T(0);
              for (int t = 0; t < used; ++t) s += extra[t * wn + r];
              gw[((o * g.cg() + ci) * g.kh + kh) * g.kw + kw] = s;
            }
    });
  } else if (used > 1) {
    parallel::parallel_for(0, wn, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t j = lo; j < hi; ++j) {
        T s = gw[j];
        for (int t = 1; t < used; ++t) s += extra[(t - 1) * wn + j];
        gw[j] = s;
      }
    });
  }
}

// ---------------------------------------------------------------------------------------
// Depthwise path: one input channel per group (cg == 1), og = O / groups outputs each.
//
// Stride 1 works on zero-padded planes: with the input plane padded to (Hp, Wp) and the
// output laid out with row stride Wp (columns >= OW unused), every kernel tap is one long
// contiguous vector loop  y[p] += w * xp[p + kh dh Wp + kw dw]  over p < (OH - 1) Wp + OW,
// instead of OH short rows with ragged edges. Other strides use row loops.

// xp (Hp, Wp) = x (H, W) zero-padded by (ph, pw).
template <class T>
void pad_plane(const ConvGeom& g, const T* x, T* xp) {
  const int64_t wp = g.w + 2 * g.pw, hp = g.h + 2 * g.ph;
  std::fill(xp, xp + hp * wp, T(0));
  for (int64_t r = 0; r < g.h; ++r)
    std::memcpy(xp + (r + g.ph) * wp + g.pw, x + r * g.w, static_cast<size_t>(g.w) * sizeof(T));
}

// gp (OH, Wp) = go (OH, OW) with zero columns [OW, Wp).
template <class T>
void widen_plane(const ConvGeom& g, const T* go, T* gp) {
  const int64_t wp = g.w + 2 * g.pw;
  for (int64_t r = 0; r < g.oh; ++r) {
    std::memcpy(gp + r * wp, go + r * g.ow, static_cast<size_t>(g.ow) * sizeof(T));
    std::fill(gp + r * wp + g.ow, gp + (r + 1) * wp, T(0));
  }
}

template <class T>
void forward_depthwise_s1(const ConvGeom& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t og = g.og(), ohw = g.ohw(), hw = g.hw(), ksz = g.kh * g.kw;
  const int64_t wp = g.w + 2 * g.pw, hp = g.h + 2 * g.ph, len = (g.oh - 1) * wp + g.ow;
  const int64_t planes = g.n * g.c;
  parallel::parallel_for_if(
      planes > 1 && planes * og * len * ksz > 32768, 0, planes, [&](int64_t lo, int64_t hi) {
        for (int64_t pl = lo; pl < hi; ++pl) {
          const int64_t n = pl / g.c, c = pl % g.c;
          T* xp = scratch<T>(0, hp * wp);
          T* yp = scratch<T>(1, g.oh * wp);
          pad_plane(g, x + pl * hw, xp);
          for (int64_t o = c * og; o < (c + 1) * og; ++o) {
            std::fill(yp, yp + len, b ? b[o] : T(0));
            for (int64_t kh = 0; kh < g.kh; ++kh) {
              for (int64_t kw = 0; kw < g.kw; ++kw) {
                const T wv = w[o * ksz + kh * g.kw + kw];
                const T* xs = xp + kh * g.dh * wp + kw * g.dw;
#pragma omp simd
                for (int64_t p = 0; p < len; ++p) yp[p] += wv * xs[p];
              }
            }
            T* yo = y + (n * g.o + o) * ohw;
            for (int64_t r = 0; r < g.oh; ++r)
              std::memcpy(yo + r * g.ow, yp + r * wp, static_cast<size_t>(g.ow) * sizeof(T));
          }
        }
      });
}

template <class T>
void backward_input_depthwise_s1(const ConvGeom& g, const T* go, const T* w, T* gx) {
  const int64_t og = g.og(), ohw = g.ohw(), hw = g.hw(), ksz = g.kh * g.kw;
  const int64_t wp = g.w + 2 * g.pw, hp = g.h + 2 * g.ph, len = (g.oh - 1) * wp + g.ow;
  const int64_t planes = g.n * g.c;
  parallel::parallel_for_if(planes > 1 && planes * og * len * ksz > 32768, 0, planes,
                            [&](int64_t lo, int64_t hi) {
                              for (int64_t pl = lo; pl < hi; ++pl) {
                                const int64_t n = pl / g.c, c = pl % g.c;
                                T* gxp = scratch<T>(0, hp * wp);
                                T* gp = scratch<T>(1, g.oh * wp);
                                std::fill(gxp, gxp + hp * wp, T(0));
                                for (int64_t o = c * og; o < (c + 1) * og; ++o) {
                                  widen_plane(g, go + (n * g.o + o) * ohw, gp);
                                  for (int64_t kh = 0; kh < g.kh; ++kh) {
                                    for (int64_t kw = 0; kw < g.kw; ++kw) {
                                      const T wv = w[o * ksz + kh * g.kw + kw];
                                      T* xs = gxp + kh * g.dh * wp + kw * g.dw;
#pragma omp simd
                                      for (int64_t p = 0; p < len; ++p) xs[p] += wv * gp[p];
                                    }
                                  }
                                }
                                T* gxo = gx + pl * hw;
                                for (int64_t r = 0; r < g.h; ++r)
                                  std::memcpy(gxo + r * g.w, gxp + (r + g.ph) * wp + g.pw,
                                              static_cast<size_t>(g.w) * sizeof(T));
                              }
                            });
}

template <class T>
void backward_weight_depthwise_s1(const ConvGeom& g, const T* go, const T* x, T* gw) {
  const int64_t og = g.og(), ohw = g.ohw(), hw = g.hw(), ksz = g.kh * g.kw;
  const int64_t wp = g.w + 2 * g.pw, hp = g.h + 2 * g.ph, len = (g.oh - 1) * wp + g.ow;
  parallel::parallel_for_if(g.o > 1 && g.n * g.o * len * ksz > 32768, 0, g.o,
                            [&](int64_t lo, int64_t hi) {
                              for (int64_t o = lo; o < hi; ++o) {
                                const int64_t c = o / og;
                                T* xp = scratch<T>(0, hp * wp);
                                T* gp = scratch<T>(1, g.oh * wp);
                                T* acc = gw + o * ksz;
                                std::fill(acc, acc + ksz, T(0));
                                for (int64_t n = 0; n < g.n; ++n) {
                                  pad_plane(g, x + (n * g.c + c) * hw, xp);
                                  widen_plane(g, go + (n * g.o + o) * ohw, gp);
                                  for (int64_t kh = 0; kh < g.kh; ++kh) {
                                    for (int64_t kw = 0; kw < g.kw; ++kw) {
                                      const T* xs = xp + kh * g.dh * wp + kw * g.dw;
                                      T sum = 0;
#pragma omp simd reduction(+ : sum)
                                      for (int64_t p = 0; p < len; ++p) sum += gp[p] * xs[p];
                                      acc[kh * g.kw + kw] += sum;
                                    }
                                  }
                                }
                              }
                            });
}

template <class T>
void forward_depthwise(const ConvGeom& g, const T* x, const T* w, const T* b, T* y) {
  if (g.sh == 1 && g.sw == 1) return forward_depthwise_s1(g, x, w, b, y);
  const int64_t og = g.og(), ohw = g.ohw(), hw = g.hw(), ksz = g.kh * g.kw;
  const int64_t planes = g.n * g.o;
  parallel::parallel_for_if(planes > 1 && planes * ohw * ksz > 32768, 0, planes,
                            [&](int64_t p0, int64_t p1) {
                              for (int64_t pl = p0; pl < p1; ++pl) {
                                const int64_t n = pl / g.o, o = pl % g.o, c = o / og;
                                const T* xp = x + (n * g.c + c) * hw;
                                const T* wp = w + o * ksz;
                                T* yp = y + pl * ohw;
                                std::fill(yp, yp + ohw, b ? b[o] : T(0));
                                for (int64_t kh = 0; kh < g.kh; ++kh) {
                                  for (int64_t kw = 0; kw < g.kw; ++kw) {
                                    const T wv = wp[kh * g.kw + kw];
                                    const int64_t iw0 = kw * g.dw - g.pw;
                                    int64_t lo, hi;
                                    valid_range(iw0, g.sw, g.w, g.ow, lo, hi);
                                    for (int64_t oh = 0; oh < g.oh; ++oh) {
                                      const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
                                      if (ih < 0 || ih >= g.h) continue;
                                      const T* s = xp + ih * g.w + iw0;
                                      T* d = yp + oh * g.ow;
                                      if (g.sw == 1) {
#pragma omp simd
                                        for (int64_t j = lo; j < hi; ++j) d[j] += wv * s[j];
                                      } else {
                                        for (int64_t j = lo; j < hi; ++j) d[j] += wv * s[j * g.sw];
                                      }
                                    }
                                  }
                                }
                              }
                            });
}

template <class T>
void backward_input_depthwise(const ConvGeom& g, const T* go, const T* w, T* gx) {
  if (g.sh == 1 && g.sw == 1) return backward_input_depthwise_s1(g, go, w, gx);
  const int64_t og = g.og(), ohw = g.ohw(), hw = g.hw(), ksz = g.kh * g.kw;
  const int64_t planes = g.n * g.c;
  parallel::parallel_for_if(planes > 1 && planes * og * ohw * ksz > 32768, 0, planes,
                            [&](int64_t p0, int64_t p1) {
                              for (int64_t pl = p0; pl < p1; ++pl) {
                                const int64_t n = pl / g.c, c = pl % g.c;
                                T* xp = gx + pl * hw;
                                std::fill(xp, xp + hw, T(0));
                                for (int64_t o = c * og; o < (c + 1) * og; ++o) {
                                  const T* gp = go + (n * g.o + o) * ohw;
                                  const T* wp = w + o * ksz;
                                  for (int64_t kh = 0; kh < g.kh; ++kh) {
                                    for (int64_t kw = 0; kw < g.kw; ++kw) {
                                      const T wv = wp[kh * g.kw + kw];
                                      const int64_t iw0 = kw * g.dw - g.pw;
                                      int64_t lo, hi;
                                      valid_range(iw0, g.sw, g.w, g.ow, lo, hi);
                                      for (int64_t oh = 0; oh < g.oh; ++oh) {
                                        const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
                                        if (ih < 0 || ih >= g.h) continue;
                                        T* d = xp + ih * g.w + iw0;
                                        const T* s = gp + oh * g.ow;
                                        if (g.sw == 1) {
#pragma omp simd
                                          for (int64_t j = lo; j < hi; ++j) d[j] += wv * s[j];
                                        } else {
                                          for (int64_t j = lo; j < hi; ++j)
                                            d[j * g.sw] += wv * s[j];
                                        }
                                      }
                                    }
                                  }
                                }
                              }
                            });
}

template <class T>
void backward_weight_depthwise(const ConvGeom& g, const T* go, const T* x, T* gw) {
  if (g.sh == 1 && g.sw == 1) return backward_weight_depthwise_s1(g, go, x, gw);
  const int64_t og = g.og(), ohw = g.ohw(), hw = g.hw(), ksz = g.kh * g.kw;
  parallel::parallel_for_if(g.o > 1 && g.n * g.o * ohw * ksz > 32768, 0, g.o,
                            [&](int64_t p0, int64_t p1) {
                              for (int64_t o = p0; o < p1; ++o) {
                                const int64_t c = o / og;
                                for (int64_t kh = 0; kh < g.kh; ++kh) {
                                  for (int64_t kw = 0; kw < g.kw; ++kw) {
                                    const int64_t iw0 = kw * g.dw - g.pw;
                                    int64_t lo, hi;
                                    valid_range(iw0, g.sw, g.w, g.ow, lo, hi);
                                    T acc = 0;
                                    for (int64_t n = 0; n < g.n; ++n) {
                                      const T* gp = go + (n * g.o + o) * ohw;
                                      const T* xp = x + (n * g.c + c) * hw;
                                      for (int64_t oh = 0; oh < g.oh; ++oh) {
                                        const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
                                        if (ih < 0 || ih >= g.h) continue;
                                        const T* s = xp + ih * g.w + iw0;
                                        const T* d = gp + oh * g.ow;
                                        T part = 0;
                                        if (g.sw == 1) {
#pragma omp simd reduction(+ : part)
                                          for (int64_t j = lo; j < hi; ++j) part += d[j] * s[j];
                                        } else {
                                          for (int64_t j = lo; j < hi; ++j)
                                            part += d[j] * s[j * g.sw];
                                        }
                                        acc += part;
                                      }
                                    }
                                    gw[o * ksz + kh * g.kw + kw] = acc;
                                  }
                                }
                              }
                            });
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Entry points

// Scratch bytes the kernel of `pass` uses for geometry g; elem: 4 or 8.
static size_t conv_workspace_bytes(const ConvGeom& g, size_t elem, ConvPass pass) {
  if (elem == 2) return 0;  // bfloat16 (conv_bf16.cpp): per-thread scratch
  return conv_work(g, elem, pass, usable_threads()).bytes(elem);
}

size_t conv2d_workspace(std::span<const TensorMeta> in, std::span<const TensorMeta> out,
                        const Attrs& attrs) {
  return conv_workspace_bytes(conv_geom(in[0].shape, in[1].shape, attrs), dtype_size(in[0].dtype),
                              ConvPass::forward);
}
size_t conv2d_backward_input_workspace(std::span<const TensorMeta> in,
                                       std::span<const TensorMeta> out, const Attrs& attrs) {
  return conv_workspace_bytes(conv_geom(attrs.ints("input_shape"), in[1].shape, attrs),
                              dtype_size(in[0].dtype), ConvPass::backward_input);
}
size_t conv2d_backward_weight_workspace(std::span<const TensorMeta> in,
                                        std::span<const TensorMeta> out, const Attrs& attrs) {
  return conv_workspace_bytes(conv_geom(in[1].shape, attrs.ints("weight_shape"), attrs),
                              dtype_size(in[0].dtype), ConvPass::backward_weight);
}

void conv2d(const KernelArgs& k) {
  const Tensor& y = k.outputs[0];
  if (y.numel() == 0) return;
  if (y.dtype() == DType::bfloat16)
    return conv2d_bf16(k, k.inputs.size() > 2, kernels::Activation::none, nullptr);
  const ConvGeom g = conv_geom(k.inputs[0].shape(), k.inputs[1].shape(), k.attrs);
  detail::dispatch_floating(y.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    const T* x = static_cast<const T*>(k.inputs[0].data_ptr());
    const T* w = static_cast<const T*>(k.inputs[1].data_ptr());
    const T* b = k.inputs.size() > 2 ? static_cast<const T*>(k.inputs[2].data_ptr()) : nullptr;
    T* py = static_cast<T*>(y.data_ptr());
    if (g.depthwise()) {
      forward_depthwise(g, x, w, b, py);
      return;
    }
    const int threads = usable_threads();
    Work<T> ws(conv_work(g, sizeof(T), ConvPass::forward, threads), k.workspace, k.workspace_size);
    forward_gemm(g, x, w, b, py, threads, ws);
  });
}

void conv2d_backward_input(const KernelArgs& k) {
  const Tensor& gx = k.outputs[0];
  if (gx.numel() == 0) return;
  if (gx.dtype() == DType::bfloat16) return conv2d_backward_input_bf16(k);
  const ConvGeom g = conv_geom(k.attrs.ints("input_shape"), k.inputs[1].shape(), k.attrs);
  detail::dispatch_floating(gx.dtype(), "conv2d_backward_input", [&](auto tag) {
    using T = decltype(tag);
    const T* go = static_cast<const T*>(k.inputs[0].data_ptr());
    const T* w = static_cast<const T*>(k.inputs[1].data_ptr());
    T* px = static_cast<T*>(gx.data_ptr());
    if (g.ohw() == 0 || g.o == 0) {
      std::fill(px, px + gx.numel(), T(0));
    } else if (g.depthwise()) {
      backward_input_depthwise(g, go, w, px);
    } else {
      const int threads = usable_threads();
      Work<T> ws(conv_work(g, sizeof(T), ConvPass::backward_input, threads), k.workspace,
                 k.workspace_size);
      backward_input_gemm(g, go, w, px, threads, ws);
    }
  });
}

void conv2d_backward_weight(const KernelArgs& k) {
  const Tensor& gw = k.outputs[0];
  if (gw.numel() == 0) return;
  if (gw.dtype() == DType::bfloat16) return conv2d_backward_weight_bf16(k);
  const ConvGeom g = conv_geom(k.inputs[1].shape(), k.attrs.ints("weight_shape"), k.attrs);
  detail::dispatch_floating(gw.dtype(), "conv2d_backward_weight", [&](auto tag) {
    using T = decltype(tag);
    const T* go = static_cast<const T*>(k.inputs[0].data_ptr());
    const T* x = static_cast<const T*>(k.inputs[1].data_ptr());
    T* pw = static_cast<T*>(gw.data_ptr());
    if (g.n == 0 || g.ohw() == 0) {
      std::fill(pw, pw + gw.numel(), T(0));
    } else if (g.depthwise()) {
      backward_weight_depthwise(g, go, x, pw);
    } else {
      const int threads = usable_threads();
      Work<T> ws(conv_work(g, sizeof(T), ConvPass::backward_weight, threads), k.workspace,
                 k.workspace_size);
      backward_weight_gemm(g, go, x, pw, threads, ws);
    }
  });
}

}  // namespace duet::cpu_kernels

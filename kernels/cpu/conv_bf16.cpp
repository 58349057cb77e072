// Native bfloat16 convolutions (kernels/cpu/lowp_kernels.h): im2col in bfloat16, gemm_bf16
// into float32, the epilogue in float32, one rounding to bfloat16 per value the unfused ops
// would round.
//
// Rounding points. Eager autocast runs conv2d, add and the activation as separate bfloat16
// ops, each rounding its output; graph mode fuses them into conv2d_fused. So that both give
// the same bits, the fused kernel rounds where the unfused chain does: conv + bias, then
// + residual, then the activation (an exact no-op for relu on a bfloat16 value).
#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

#include "conv_kernels.h"
#include "core/parallel.h"
#include "cpu/activation_math.h"
#include "cpu/convert.h"
#include "cpu/gemm_lowp.h"
#include "cpu/lowp_kernels.h"
#include "cpu/thread_scratch.h"
#include "geometry.h"

namespace duet::cpu_kernels {

using convert::bf16_to_float;
using convert::float_to_bf16;
using kernels::Activation;
using kernels::conv_geom;
using kernels::ConvGeom;

namespace {

// ---------------------------------------------------------------------------------------
// Per-thread scratch (cpu/thread_scratch.h). Slot 0: bfloat16 im2col columns; 1: float32 GEMM
// output; 2: float32 gradient accumulator.
template <class T>
T* scratch(int slot, int64_t count) {
  thread_local ThreadScratch s[3];
  return s[slot].get<T>(count, "conv2d (bfloat16)");
}

// The float32 value x rounds to as a bfloat16: BFloat16(x)'s bits (round to nearest even, NaN
// quiet), branch-free so that the epilogue loops vectorise.
inline float round_bf16(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  const uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  const uint32_t q = (u | 0x00400000u) & 0xffff0000u;
  return std::bit_cast<float>((u & 0x7fffffffu) > 0x7f800000u ? q : r);
}

bool parallel_items(int64_t count, int threads) {
  return threads > 1 && (count >= 2 * threads || (count >= threads && count % threads == 0));
}

// f(item) for each item, one per thread when there are enough of them (GEMMs single-threaded
// inside the region), else one after another (each GEMM split over the threads).
template <class F>
void run_items(int64_t count, int threads, const F& f) {
  if (parallel_items(count, threads)) {
    parallel::parallel_for(
        0, count, 1,
        [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) f(i);
        },
        threads);
  } else {
    for (int64_t i = 0; i < count; ++i) f(i);
  }
}

// ---------------------------------------------------------------------------------------
// im2col / col2im

// Output columns ow in [lo, hi) read input columns iw = iw0 + ow * s inside [0, W).
inline void valid_range(int64_t iw0, int64_t s, int64_t w, int64_t ow, int64_t& lo, int64_t& hi) {
  lo = iw0 >= 0 ? 0 : -iw0 / s + (-iw0 % s != 0);
  hi = w - 1 - iw0 < 0 ? 0 : std::min(ow, (w - 1 - iw0) / s + 1);
  lo = std::min(lo, ow);
  hi = std::max(hi, lo);
}

// One kernel tap of input channel xc (H, W) over output rows [oh0, oh1) into d (rows * OW).
void im2col_tap(const ConvGeom& g, const BFloat16* xc, int64_t kh, int64_t kw, int64_t oh0,
                int64_t oh1, BFloat16* d) {
  const int64_t ow = g.ow, iw0 = kw * g.dw - g.pw;
  int64_t lo, hi;
  valid_range(iw0, g.sw, g.w, ow, lo, hi);
  const BFloat16 zero{};
  for (int64_t oh = oh0; oh < oh1; ++oh, d += ow) {
    const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
    if (ih < 0 || ih >= g.h) {
      std::fill(d, d + ow, zero);
      continue;
    }
    const BFloat16* src = xc + ih * g.w + iw0;
    std::fill(d, d + lo, zero);
    if (g.sw == 1) {
      std::memcpy(d + lo, src + lo, static_cast<size_t>(hi - lo) * sizeof(BFloat16));
    } else {
      for (int64_t j = lo; j < hi; ++j) d[j] = src[j * g.sw];
    }
    std::fill(d + hi, d + ow, zero);
  }
}

// The group's (Cg * KH * KW, (oh1 - oh0) * OW) column block of one image (x: the group's first
// input channel), leading dimension ld.
void im2col(const ConvGeom& g, const BFloat16* x, int64_t oh0, int64_t oh1, BFloat16* dst,
            int64_t ld) {
  for (int64_t ci = 0; ci < g.cg(); ++ci)
    for (int64_t kh = 0; kh < g.kh; ++kh)
      for (int64_t kw = 0; kw < g.kw; ++kw)
        im2col_tap(g, x + ci * g.hw(), kh, kw, oh0, oh1, dst + ((ci * g.kh + kh) * g.kw + kw) * ld);
}

// The adjoint of im2col for a whole image (float32): adds col (Kg, OH * OW; leading dimension
// ld) into gx (Cg, H, W).
void col2im_add(const ConvGeom& g, const float* col, int64_t ld, float* gx) {
  const int64_t ow = g.ow;
  for (int64_t ci = 0; ci < g.cg(); ++ci)
    for (int64_t kh = 0; kh < g.kh; ++kh)
      for (int64_t kw = 0; kw < g.kw; ++kw) {
        const float* src = col + ((ci * g.kh + kh) * g.kw + kw) * ld;
        float* gxc = gx + ci * g.hw();
        const int64_t iw0 = kw * g.dw - g.pw;
        int64_t lo, hi;
        valid_range(iw0, g.sw, g.w, ow, lo, hi);
        for (int64_t oh = 0; oh < g.oh; ++oh, src += ow) {
          const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
          if (ih < 0 || ih >= g.h) continue;
          float* d = gxc + ih * g.w + iw0;
          if (g.sw == 1) {
#pragma omp simd
            for (int64_t j = lo; j < hi; ++j) d[j] += src[j];
          } else {
            for (int64_t j = lo; j < hi; ++j) d[j * g.sw] += src[j];
          }
        }
      }
}

// ---------------------------------------------------------------------------------------
// Forward

// Work split: a chunk is a band of output rows of one image, or several whole images (small
// maps), sized so that its bfloat16 column block is about 1 MB (at least 256 columns).
struct Plan {
  int64_t images = 1, rows = 0, per_image = 1, count = 0;
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

Plan plan_chunks(const ConvGeom& g, int threads) {
  constexpr int64_t kColBytes = 1 << 20, kMinCols = 256, kMaxCols = 4096;
  const int64_t k = std::max<int64_t>(g.kg(), 1);
  const int64_t target = std::clamp<int64_t>(kColBytes / (2 * k), kMinCols, kMaxCols);
  const int64_t ohw = std::max<int64_t>(g.ohw(), 1);
  Plan p;
  if (ohw >= target) {
    p.rows =
        std::clamp<int64_t>(target / std::max<int64_t>(g.ow, 1), 1, std::max<int64_t>(g.oh, 1));
    p.per_image = (g.oh + p.rows - 1) / p.rows;
    p.count = g.n * p.per_image;
  } else {
    p.images = std::max<int64_t>(1, target / ohw);
    p.images = std::min(p.images, std::max<int64_t>(1, (g.n + threads - 1) / threads));
    while (p.images > 1 && ((g.n + p.images - 1) / p.images) % threads != 0) --p.images;
    p.rows = g.oh;
    p.count = (g.n + p.images - 1) / p.images;
  }
  return p;
}

// y = round(v + bias) [then round(y + r)] [then f(y) for a scalar activation] on one row
// segment of the float32 GEMM output, stored as bfloat16.
template <class F>
void finish_row(float* v, int64_t len, const BFloat16* bias, const BFloat16* r, const F* f,
                BFloat16* y) {
  const float b = bias ? static_cast<float>(*bias) : 0.0f;
  if (r) {
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) v[i] = round_bf16(v[i] + b) + static_cast<float>(r[i]);
  } else if (bias) {
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) v[i] += b;
  }
  if (f) {
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) v[i] = f->forward(round_bf16(v[i]));
  }
  float_to_bf16(v, y, len);
}

// y (N, O, OH, OW) = conv(x, w) + b [+ res], then the scalar activation f (null: none).
template <class F>
void forward_gemm(const ConvGeom& g, const BFloat16* x, const BFloat16* w, const BFloat16* b,
                  const BFloat16* res, const F* f, BFloat16* y) {
  const int64_t kg = g.kg(), og = g.og(), ohw = g.ohw(), hw = g.hw();
  const int threads = parallel::max_threads();
  const Plan plan = plan_chunks(g, threads);
  run_items(plan.count, threads, [&](int64_t i) {
    const Plan::Chunk ch = plan.at(i, g);
    const int64_t ni = ch.n1 - ch.n0, p0 = ch.oh0 * g.ow;
    const int64_t seg = (ch.oh1 - ch.oh0) * g.ow, cols = ni * seg;
    const bool direct_in = ni == 1 && g.pointwise();
    BFloat16* col = direct_in ? nullptr : scratch<BFloat16>(0, kg * cols);
    float* acc = scratch<float>(1, og * cols);
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const BFloat16* bm = col;
      int64_t ldb = cols;
      if (direct_in) {
        bm = x + (ch.n0 * g.c + grp * g.cg()) * hw + p0;
        ldb = hw;
      } else {
        for (int64_t k = 0; k < ni; ++k)
          im2col(g, x + ((ch.n0 + k) * g.c + grp * g.cg()) * hw, ch.oh0, ch.oh1, col + k * seg,
                 cols);
      }
      // acc (Og, cols) = w_g (Og, Kg) @ col (Kg, cols)
      gemm_bf16(false, false, og, cols, kg, 1.0f, w + grp * og * kg, kg, bm, ldb, 0.0f, acc, cols);
      for (int64_t o = 0; o < og; ++o) {
        const int64_t oc = grp * og + o;
        for (int64_t k = 0; k < ni; ++k) {
          const int64_t off = ((ch.n0 + k) * g.o + oc) * ohw + p0;
          finish_row(acc + o * cols + k * seg, seg, b ? b + oc : nullptr, res ? res + off : nullptr,
                     f, y + off);
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------------------
// Float32 fallback (depthwise convs): the float32 kernel on converted copies.

Tensor to_float(const Tensor& t) {
  Tensor f = Tensor::empty(t.shape(), DType::float32);
  bf16_to_float(static_cast<const BFloat16*>(t.data_ptr()), static_cast<float*>(f.data_ptr()),
                t.numel());
  return f;
}

// Runs the float32 kernel `fn` on float32 copies of k's inputs; output 0 comes back float32.
Tensor run_float32(const KernelArgs& k, size_t ninputs, KernelFn fn) {
  std::vector<Tensor> in;
  for (size_t i = 0; i < ninputs; ++i) in.push_back(to_float(k.inputs[i]));
  Tensor out = Tensor::empty(k.outputs[0].shape(), DType::float32);
  fn({k.attrs, in, std::span<Tensor>(&out, 1), nullptr, 0});
  return out;
}

BFloat16* bf16_out(const Tensor& t) {
  return static_cast<BFloat16*>(t.data_ptr());
}
const BFloat16* bf16_in(const Tensor& t) {
  return static_cast<const BFloat16*>(t.data_ptr());
}

// The array-formula activations (not elementwise-identical per scalar) run as their unfused
// kernel would: over the whole output in kActBlock blocks, on float32 values.
template <class F>
void activation_pass(const Tensor& y, const F& f) {
  BFloat16* p = bf16_out(y);
  for_each_block(y.numel(), [&](int64_t i0, int64_t len) {
    float v[kActBlock];
    bf16_to_float(p + i0, v, len);
    ArrayMap<float> a(v, len);
    a = f.forward(a);
    float_to_bf16(v, p + i0, len);
  });
}

}  // namespace

void conv2d_bf16(const KernelArgs& k, bool has_bias, Activation act, const Tensor* residual) {
  const Tensor& y = k.outputs[0];
  if (y.numel() == 0) return;
  const ConvGeom g = conv_geom(k.inputs[0].shape(), k.inputs[1].shape(), k.attrs);
  const BFloat16* b = has_bias ? bf16_in(k.inputs[2]) : nullptr;
  const BFloat16* res = residual ? bf16_in(*residual) : nullptr;
  act::visit_activation<float>(act, k.attrs, [&](const auto& f) {
    using F = std::decay_t<decltype(f)>;
    constexpr bool none = std::is_same_v<F, act::none_act<float>>;
    constexpr bool scalar = !none && !F::kArrayForward;
    const F* fp = scalar ? &f : nullptr;
    if (g.depthwise()) {
      // conv (+ bias) in float32, rounded; then the same epilogue as the GEMM path.
      Tensor yf = run_float32(k, has_bias ? 3 : 2, conv2d);
      float* v = static_cast<float*>(yf.data_ptr());
      const int64_t ohw = g.ohw();
      parallel::parallel_for_if(y.numel() > (1 << 15), 0, g.n * g.o, [&](int64_t lo, int64_t hi) {
        for (int64_t p = lo; p < hi; ++p) {
          // The float32 kernel added the bias: round it as finish_row rounds conv + bias.
          finish_row(v + p * ohw, ohw, nullptr, res ? res + p * ohw : nullptr, fp,
                     bf16_out(y) + p * ohw);
        }
      });
    } else {
      forward_gemm(g, bf16_in(k.inputs[0]), bf16_in(k.inputs[1]), b, res, fp, bf16_out(y));
    }
    if constexpr (!none && !scalar) activation_pass(y, f);
  });
}

// ---------------------------------------------------------------------------------------
// Backward

namespace {

// Images per GEMM of the backward ops: whole images, enough of them that a GEMM has at least
// 512 columns (small maps), as many chunks as threads where the batch allows.
int64_t images_per_chunk(const ConvGeom& g, int threads) {
  const int64_t ohw = std::max<int64_t>(g.ohw(), 1);
  int64_t ni = std::max<int64_t>(1, 512 / ohw);
  ni = std::min(ni, std::max<int64_t>(1, (g.n + threads - 1) / threads));
  return ni;
}

// dst (Og, ni * OH * OW) = grad_out of images [n0, n0 + ni), group grp.
void gather_grad(const ConvGeom& g, const BFloat16* go, int64_t n0, int64_t ni, int64_t grp,
                 BFloat16* dst) {
  const int64_t og = g.og(), ohw = g.ohw(), cols = ni * ohw;
  for (int64_t k = 0; k < ni; ++k)
    for (int64_t o = 0; o < og; ++o)
      std::memcpy(dst + o * cols + k * ohw, go + ((n0 + k) * g.o + grp * og + o) * ohw,
                  static_cast<size_t>(ohw) * sizeof(BFloat16));
}

// dst (cols, rows) = src (rows, cols; leading dimension lds) transposed, in 32 x 32 blocks.
void transpose(const BFloat16* src, int64_t rows, int64_t cols, int64_t lds, BFloat16* dst) {
  constexpr int64_t kB = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kB)
    for (int64_t c0 = 0; c0 < cols; c0 += kB) {
      const int64_t r1 = std::min(rows, r0 + kB), c1 = std::min(cols, c0 + kB);
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t r = r0; r < r1; ++r) dst[c * rows + r] = src[r * lds + c];
    }
}

}  // namespace

// gx (N, C, H, W): per chunk of images and group, col (Kg, cols) = w_g^T @ go_g in float32,
// then col2im into float32 images, rounded once.
void conv2d_backward_input_bf16(const KernelArgs& k) {
  const Tensor& gx = k.outputs[0];
  if (gx.numel() == 0) return;
  const ConvGeom g = conv_geom(k.attrs.ints("input_shape"), k.inputs[1].shape(), k.attrs);
  if (g.ohw() == 0 || g.o == 0) {
    std::fill(bf16_out(gx), bf16_out(gx) + gx.numel(), BFloat16{});
    return;
  }
  if (g.depthwise()) {
    Tensor f = run_float32(k, 2, conv2d_backward_input);
    float_to_bf16(static_cast<const float*>(f.data_ptr()), bf16_out(gx), gx.numel());
    return;
  }
  const BFloat16* go = bf16_in(k.inputs[0]);
  const BFloat16* w = bf16_in(k.inputs[1]);
  const int64_t kg = g.kg(), og = g.og(), ohw = g.ohw(), hw = g.hw(), chw = g.c * hw;
  const int threads = parallel::max_threads();
  const int64_t per = images_per_chunk(g, threads), chunks = (g.n + per - 1) / per;
  run_items(chunks, threads, [&](int64_t i) {
    const int64_t n0 = i * per, ni = std::min(per, g.n - n0), cols = ni * ohw;
    const bool direct = ni == 1 && g.pointwise();
    float* img = scratch<float>(2, ni * chw);
    float* col = direct ? nullptr : scratch<float>(1, kg * cols);
    BFloat16* gog = ni > 1 ? scratch<BFloat16>(0, og * cols) : nullptr;
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const BFloat16* am = go + (n0 * g.o + grp * og) * ohw;
      if (gog) {
        gather_grad(g, go, n0, ni, grp, gog);
        am = gog;
      }
      // (Kg, cols) = w_g^T (Kg, Og) @ go_g (Og, cols); w_g is stored (Og, Kg).
      const BFloat16* wg = w + grp * og * kg;
      if (direct) {
        gemm_bf16(true, false, kg, ohw, og, 1.0f, wg, kg, am, ohw, 0.0f, img + grp * g.cg() * hw,
                  hw);
        continue;
      }
      gemm_bf16(true, false, kg, cols, og, 1.0f, wg, kg, am, cols, 0.0f, col, cols);
      for (int64_t q = 0; q < ni; ++q) {
        float* gxg = img + q * chw + grp * g.cg() * hw;
        std::fill(gxg, gxg + g.cg() * hw, 0.0f);
        col2im_add(g, col + q * ohw, cols, gxg);
      }
    }
    float_to_bf16(img, bf16_out(gx) + n0 * chw, ni * chw);
  });
}

// gw (O, Cg, KH, KW) = sum over images of go_g (Og, cols) @ col^T (chunks of images), accumulated
// in float32 (one accumulator per thread, each over a fixed run of chunks, summed in thread
// order), then rounded once. The columns are transposed to (cols, Kg) first so that the GEMM
// reads both operands untransposed (gemm_bf16's transposed-b packing was 2-10x slower on these
// shapes).
void conv2d_backward_weight_bf16(const KernelArgs& k) {
  const Tensor& gw = k.outputs[0];
  if (gw.numel() == 0) return;
  const ConvGeom g = conv_geom(k.inputs[1].shape(), k.attrs.ints("weight_shape"), k.attrs);
  if (g.n == 0 || g.ohw() == 0) {
    std::fill(bf16_out(gw), bf16_out(gw) + gw.numel(), BFloat16{});
    return;
  }
  if (g.depthwise()) {
    Tensor f = run_float32(k, 2, conv2d_backward_weight);
    float_to_bf16(static_cast<const float*>(f.data_ptr()), bf16_out(gw), gw.numel());
    return;
  }
  const BFloat16* go = bf16_in(k.inputs[0]);
  const BFloat16* x = bf16_in(k.inputs[1]);
  const int64_t kg = g.kg(), og = g.og(), ohw = g.ohw(), hw = g.hw(), wn = g.o * kg;
  const int threads = parallel::max_threads();
  const int64_t per = images_per_chunk(g, threads), chunks = (g.n + per - 1) / per;
  const int parts = parallel_items(chunks, threads) ? threads : 1;
  std::vector<float> acc(static_cast<size_t>(parts * wn), 0.0f);
  auto run_part = [&](int64_t t) {
    const int64_t q = chunks / parts, r = chunks % parts;
    const int64_t c0 = t * q + std::min<int64_t>(t, r), c1 = c0 + q + (t < r ? 1 : 0);
    float* a = acc.data() + t * wn;
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t n0 = c * per, ni = std::min(per, g.n - n0), cols = ni * ohw;
      const bool direct = ni == 1 && g.pointwise();
      BFloat16* col = direct ? nullptr : scratch<BFloat16>(0, kg * cols);
      BFloat16* gog = ni > 1 ? scratch<BFloat16>(1, og * cols) : nullptr;
      BFloat16* colt = scratch<BFloat16>(2, cols * kg);
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const BFloat16* xg = x + (n0 * g.c + grp * g.cg()) * hw;
        if (col) {
          for (int64_t i = 0; i < ni; ++i)
            im2col(g, xg + i * g.c * hw, 0, g.oh, col + i * ohw, cols);
          transpose(col, kg, cols, cols, colt);
        } else {
          transpose(xg, kg, cols, hw, colt);  // 1x1: x (Cg, H * W) is the column block
        }
        const BFloat16* am = go + (n0 * g.o + grp * og) * ohw;
        if (gog) {
          gather_grad(g, go, n0, ni, grp, gog);
          am = gog;
        }
        // (Og, Kg) += go_g (Og, cols) @ colt (cols, Kg)
        gemm_bf16(false, false, og, kg, cols, 1.0f, am, cols, colt, kg, 1.0f, a + grp * og * kg,
                  kg);
      }
    }
  };
  if (parts > 1) {
    parallel::parallel_for(
        0, parts, 1,
        [&](int64_t lo, int64_t hi) {
          for (int64_t t = lo; t < hi; ++t) run_part(t);
        },
        threads);
  } else {
    run_part(0);
  }
  for (int t = 1; t < parts; ++t)
    for (int64_t j = 0; j < wn; ++j) acc[j] += acc[t * wn + j];
  float_to_bf16(acc.data(), bf16_out(gw), wn);
}

}  // namespace duet::cpu_kernels

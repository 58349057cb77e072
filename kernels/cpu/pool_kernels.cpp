#include "pool_kernels.h"
#include "geometry.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "core/dtype_dispatch.h"
#include "core/parallel.h"

namespace duet::cpu_kernels {
namespace {

// One pooling problem: `planes` independent (H, W) -> (OH, OW) maps (kernels/geometry.h).
using Geom = kernels::PoolGeom;
Geom geometry(const Attrs& at, const Shape& in, const Shape& out) {
  return kernels::pool_geometry(at, in, out);
}

// One axis of an average-pooling window, exactly as PyTorch's CPU kernel: [lo, hi) is the
// window clipped to the input; `count` is its divisor factor: with count_include_pad the
// window counted up to the padded border (not beyond it, which matters with ceil_mode),
// else the input elements only. The divisor of (oh, ow) is count_h * count_w.
struct Span {
  int64_t lo, hi;
  double count;
};

std::vector<Span> avg_spans(int64_t out, int64_t in, int64_t k, int64_t s, int64_t p,
                            bool include_pad) {
  std::vector<Span> r(out);
  for (int64_t i = 0; i < out; ++i) {
    const int64_t start = i * s - p, end = std::min(start + k, in + p);
    const int64_t lo = std::max<int64_t>(start, 0), hi = std::min(end, in);
    r[i] = {lo, hi, static_cast<double>(include_pad ? end - start : hi - lo)};
  }
  return r;
}

// floor(a / b) for b > 0.
inline int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// Outputs [lo, hi) of a row whose tap at offset `off` (input column o * s + off) lies in
// [0, in); the input columns of consecutive outputs are distinct, so loops over them vectorise.
inline std::pair<int64_t, int64_t> tap_range(int64_t off, int64_t s, int64_t in, int64_t out) {
  return {std::max<int64_t>(0, -floor_div(off, s)), std::min(out, floor_div(in - 1 - off, s) + 1)};
}

// The window taps j of [0, k) (at offsets j * d - p) that reach an input column in [0, in) for
// some output in [0, out) with stride s, as ascending disjoint runs [lo, hi): output o reads
// input o * s + j * d - p. Taps that only see padding are skipped, so a huge, mostly-padding
// window (kernel 2^32 with stride 2^31 over 6 columns) costs at most out * in taps, not k.
// No overflow: the shape rule checked in + 2p and (out - 1) * s <= in + p (geometry.h).
inline std::vector<std::pair<int64_t, int64_t>> live_taps(int64_t k, int64_t d, int64_t p,
                                                          int64_t s, int64_t in, int64_t out) {
  auto floor_div_pos = [](int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a - 1) / b) - 1; };
  std::vector<std::pair<int64_t, int64_t>> runs;
  for (int64_t o = out; o-- > 0;) {       // ascending taps
    const int64_t first = p - o * s;      // j * d >= first
    const int64_t last = first + in - 1;  // j * d <= last
    const int64_t lo = std::max<int64_t>(0, -floor_div_pos(-first, d));
    const int64_t hi = std::min(k, last < 0 ? 0 : last / d + 1);
    if (lo >= hi) continue;
    if (!runs.empty() && lo <= runs.back().second)
      runs.back().second = std::max(runs.back().second, hi);
    else
      runs.push_back({lo, hi});
  }
  return runs;
}

// The first of start, start + d, start + 2d, ... that is >= 0 (start < 0 may be -2^61).
inline int64_t first_inside(int64_t start, int64_t d) {
  return start >= 0 ? start : start + (-start / d + (-start % d != 0)) * d;
}

inline int64_t adaptive_start(int64_t i, int64_t out, int64_t in) {
  return (i * in) / out;
}
inline int64_t adaptive_end(int64_t i, int64_t out, int64_t in) {
  return ((i + 1) * in + out - 1) / out;
}

}  // namespace

void max_pool2d(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const Geom g = geometry(k.attrs, x.shape(), k.outputs[0].shape());
  if (k.outputs[0].numel() == 0) return;  // (an empty output may have one huge axis)
  int64_t* pi = k.outputs[1].data<int64_t>();
  // bfloat16 natively (OpDef::native_low_precision): the maximum is one of the inputs, so the
  // bits are those of the float32 kernel on widened values, at half the memory traffic.
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = k.outputs[0].data<T>();
    if (g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 && g.dh == 1 &&
        g.dw == 1 && 2 * g.OH <= g.H && 2 * g.OW <= g.W) {
      // The common 2x2 / stride 2 window: four taps in row-major order, first maximum wins
      // and a NaN wins over numbers (the last NaN), exactly as the general loop below.
      parallel::parallel_for_if(
          g.planes * g.OH * g.OW > 4096, 0, g.planes, [&](int64_t lo, int64_t hi) {
            // Locals, not g.* or captures: the compiler cannot prove that the int64 index
            // stores don't alias them, and would reload them in the inner loops.
            const int64_t H = g.H, W = g.W, OH = g.OH, OW = g.OW;
            for (int64_t p = lo; p < hi; ++p) {
              const T* xp = px + p * H * W;
              T* yp = py + p * OH * OW;
              int64_t* ip = pi + p * OH * OW;
              for (int64_t oh = 0; oh < OH; ++oh) {
                const T* r0 = xp + 2 * oh * W;
                const T* r1 = r0 + W;
#pragma omp simd
                for (int64_t ow = 0; ow < OW; ++ow) {
                  const T t[4] = {r0[2 * ow], r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]};
                  T best = t[0];
                  int64_t at = 0;
                  for (int64_t q = 1; q < 4; ++q) {
                    const bool take = (t[q] > best) || (t[q] != t[q]);
                    best = take ? t[q] : best;
                    at = take ? q : at;
                  }
                  yp[oh * OW + ow] = best;
                  ip[oh * OW + ow] = (2 * oh + (at >> 1)) * W + 2 * ow + (at & 1);
                }
              }
            }
          });
      return;
    }
    parallel::parallel_for_if(
        g.planes * g.OH * g.OW > 4096, 0, g.planes, [&](int64_t p0, int64_t p1) {
          // Locals, as above.
          const int64_t H = g.H, W = g.W, OH = g.OH, OW = g.OW, kh = g.kh, kw = g.kw;
          const int64_t sh = g.sh, sw = g.sw, ph = g.ph, pw = g.pw, dh = g.dh, dw = g.dw;
          const std::vector<std::pair<int64_t, int64_t>> jt = live_taps(kw, dw, pw, sw, W, OW);
          for (int64_t p = p0; p < p1; ++p) {
            const T* xp = px + p * H * W;
            T* yp = py + p * OH * OW;
            int64_t* ip = pi + p * OH * OW;
            // Row by row: for each window tap (ih, j) sweep the whole output row, so the inner
            // loop has independent iterations. Each output still sees its taps in row-major
            // window order, so ties (first maximum wins) and NaN (last NaN wins) match PyTorch.
            for (int64_t oh = 0; oh < OH; ++oh) {
              const int64_t hs0 = oh * sh - ph;
              const int64_t h1 = std::min(hs0 + (kh - 1) * dh + 1, H);
              const int64_t h0 = first_inside(hs0, dh);
              T* yr = yp + oh * OW;
              int64_t* ir = ip + oh * OW;
              for (int64_t ow = 0; ow < OW; ++ow) {
                const int64_t ws0 = ow * sw - pw;
                const int64_t w1 = std::min(ws0 + (kw - 1) * dw + 1, W);
                const int64_t w0 = first_inside(ws0, dw);
                yr[ow] = static_cast<T>(-std::numeric_limits<float>::infinity());
                ir[ow] = (h0 < h1 && w0 < w1) ? h0 * W + w0 : -1;
              }
              // The step stops at h1: ih + dh may not fit (kernel 1, dilation 2^63 - 1).
              for (int64_t ih = h0; ih < h1; ih = (h1 - ih > dh) ? ih + dh : h1) {
                const T* xr = xp + ih * W;
                for (const auto& run : jt)
                  for (int64_t j = run.first; j < run.second; ++j) {
                    const int64_t off = j * dw - pw;  // iw = ow * sw + off
                    // Not a structured binding: clang cannot capture one in an omp simd region.
                    const auto taps = tap_range(off, sw, W, OW);
                    const int64_t lo = taps.first, hi = taps.second;
                    const int64_t base = ih * W + off;
#pragma omp simd
                    for (int64_t ow = lo; ow < hi; ++ow) {
                      const T v = xr[ow * sw + off];
                      const T cur = yr[ow];
                      const bool take = (v > cur) || (v != v);
                      yr[ow] = take ? v : cur;
                      ir[ow] = take ? base + ow * sw : ir[ow];
                    }
                  }
              }
            }
          }
        });
  };
  if (x.dtype() == DType::bfloat16)
    run(BFloat16{});
  else
    detail::dispatch_floating(x.dtype(), "max_pool2d", run);
}

void max_pool2d_backward(const KernelArgs& k) {
  const Tensor& grad = k.inputs[0];
  const Tensor& idx = k.inputs[1];
  Tensor out = k.outputs[0];
  const Geom g = geometry(k.attrs, out.shape(), grad.shape());
  const int64_t hw = g.H * g.W, ohw = g.OH * g.OW;
  const int64_t* pi = idx.data<int64_t>();
  bool bad = false;
  detail::dispatch_floating(grad.dtype(), "max_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = grad.data<T>();
    T* po = out.data<T>();
    std::atomic<bool> any_bad{false};
    parallel::parallel_for_if(g.planes * hw > 4096, 0, g.planes, [&](int64_t p0, int64_t p1) {
      bool b = false;
      for (int64_t p = p0; p < p1; ++p) {
        T* op = po + p * hw;
        std::fill(op, op + hw, T(0));
        const T* gp = pg + p * ohw;
        const int64_t* ip = pi + p * ohw;
        for (int64_t j = 0; j < ohw; ++j) {
          const int64_t i = ip[j];
          if (i >= 0 && i < hw) {
            op[i] += gp[j];
          } else if (i != -1) {
            b = true;
          }
        }
      }
      if (b) any_bad.store(true, std::memory_order_relaxed);
    });
    bad = any_bad.load();
  });
  DUET_CHECK(!bad, "max_pool2d_backward: an index is outside its input plane of ", g.H, "x", g.W,
             " (expected -1 <= index < ", hw, ")");
}

void max_pool2d_gather(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const Tensor& idx = k.inputs[1];
  const Geom g = geometry(k.attrs, x.shape(), idx.shape());
  const int64_t hw = g.H * g.W, ohw = g.OH * g.OW;
  const int64_t* pi = idx.data<int64_t>();
  bool bad = false;
  detail::dispatch_floating(x.dtype(), "max_pool2d_gather", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* po = k.outputs[0].data<T>();
    std::atomic<bool> any_bad{false};
    parallel::parallel_for_if(g.planes * ohw > 4096, 0, g.planes, [&](int64_t p0, int64_t p1) {
      bool b = false;
      for (int64_t p = p0; p < p1; ++p) {
        const T* xp = px + p * hw;
        const int64_t* ip = pi + p * ohw;
        T* op = po + p * ohw;
        for (int64_t j = 0; j < ohw; ++j) {
          const int64_t i = ip[j];
          const bool ok = i >= 0 && i < hw;
          b = b || (!ok && i != -1);
          op[j] = ok ? xp[i] : T(0);
        }
      }
      if (b) any_bad.store(true, std::memory_order_relaxed);
    });
    bad = any_bad.load();
  });
  DUET_CHECK(!bad, "max_pool2d_gather: an index is outside its input plane of ", g.H, "x", g.W,
             " (expected -1 <= index < ", hw, ")");
}

void avg_pool2d(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const Geom g = geometry(k.attrs, x.shape(), k.outputs[0].shape());
  // Nothing to write; an empty output may still have one huge axis (scratch is sized by it).
  if (k.outputs[0].numel() == 0) return;
  const std::vector<Span> hs = avg_spans(g.OH, g.H, g.kh, g.sh, g.ph, g.count_include_pad);
  const std::vector<Span> ws = avg_spans(g.OW, g.W, g.kw, g.sw, g.pw, g.count_include_pad);
  const int64_t W = g.W, OH = g.OH, OW = g.OW, kw = g.kw, sw = g.sw, pw = g.pw;
  const std::vector<std::pair<int64_t, int64_t>> jt = live_taps(kw, 1, pw, sw, W, OW);
  detail::dispatch_floating(x.dtype(), "avg_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = k.outputs[0].data<T>();
    parallel::parallel_for_if(g.planes * OH * OW > 4096, 0, g.planes, [&](int64_t p0, int64_t p1) {
      std::vector<double> acc(OW);
      for (int64_t p = p0; p < p1; ++p) {
        const T* xp = px + p * g.H * W;
        T* yp = py + p * OH * OW;
        for (int64_t oh = 0; oh < OH; ++oh) {
          std::fill(acc.begin(), acc.end(), 0.0);
          double* a = acc.data();
          for (int64_t ih = hs[oh].lo; ih < hs[oh].hi; ++ih) {
            const T* xr = xp + ih * W;
            for (const auto& run : jt)
              for (int64_t j = run.first; j < run.second; ++j) {  // row sums tap by tap
                const int64_t off = j - pw;
                // Not a structured binding: clang cannot capture one in an omp simd region.
                const auto taps = tap_range(off, sw, W, OW);
                const int64_t lo = taps.first, hi = taps.second;
#pragma omp simd
                for (int64_t ow = lo; ow < hi; ++ow) a[ow] += xr[ow * sw + off];
              }
          }
          for (int64_t ow = 0; ow < OW; ++ow) {
            const bool empty = hs[oh].lo >= hs[oh].hi || ws[ow].lo >= ws[ow].hi;
            yp[oh * OW + ow] = empty ? T(0) : static_cast<T>(a[ow] / (hs[oh].count * ws[ow].count));
          }
        }
      }
    });
  });
}

void avg_pool2d_backward(const KernelArgs& k) {
  const Tensor& grad = k.inputs[0];
  Tensor out = k.outputs[0];
  const Geom g = geometry(k.attrs, out.shape(), grad.shape());
  if (out.numel() == 0) return;
  if (grad.numel() == 0) {  // no window reads the input: its gradient is zero
    detail::dispatch_floating(out.dtype(), "avg_pool2d_backward", [&](auto tag) {
      using T = decltype(tag);
      std::fill(out.data<T>(), out.data<T>() + out.numel(), T(0));
    });
    return;
  }
  const std::vector<Span> hs = avg_spans(g.OH, g.H, g.kh, g.sh, g.ph, g.count_include_pad);
  const std::vector<Span> ws = avg_spans(g.OW, g.W, g.kw, g.sw, g.pw, g.count_include_pad);
  const int64_t W = g.W, OH = g.OH, OW = g.OW, kw = g.kw, sw = g.sw, pw = g.pw;
  const std::vector<std::pair<int64_t, int64_t>> jt = live_taps(kw, 1, pw, sw, W, OW);
  detail::dispatch_floating(grad.dtype(), "avg_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = grad.data<T>();
    T* po = out.data<T>();
    parallel::parallel_for_if(g.planes * g.H * W > 4096, 0, g.planes, [&](int64_t p0, int64_t p1) {
      std::vector<T> share(OW);  // grad / divisor of one output row
      for (int64_t p = p0; p < p1; ++p) {
        T* op = po + p * g.H * W;
        std::fill(op, op + g.H * W, T(0));
        const T* gp = pg + p * OH * OW;
        for (int64_t oh = 0; oh < OH; ++oh) {
          if (hs[oh].lo >= hs[oh].hi) continue;
          T* sr = share.data();
          for (int64_t ow = 0; ow < OW; ++ow)
            sr[ow] = ws[ow].lo >= ws[ow].hi
                         ? T(0)
                         : static_cast<T>(gp[oh * OW + ow] / (hs[oh].count * ws[ow].count));
          for (int64_t ih = hs[oh].lo; ih < hs[oh].hi; ++ih) {
            T* orow = op + ih * W;
            for (const auto& run : jt)
              for (int64_t j = run.first; j < run.second; ++j) {
                const int64_t off = j - pw;
                // Not a structured binding: clang cannot capture one in an omp simd region.
                const auto taps = tap_range(off, sw, W, OW);
                const int64_t lo = taps.first, hi = taps.second;
#pragma omp simd
                for (int64_t ow = lo; ow < hi; ++ow) orow[ow * sw + off] += sr[ow];
              }
          }
        }
      }
    });
  });
}

void adaptive_avg_pool2d(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const Geom g = geometry(Attrs(), x.shape(), k.outputs[0].shape());
  detail::dispatch_floating(x.dtype(), "adaptive_avg_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = k.outputs[0].data<T>();
    parallel::parallel_for_if(
        g.planes * g.H * g.W > 4096, 0, g.planes, [&](int64_t lo, int64_t hi) {
          for (int64_t p = lo; p < hi; ++p) {
            const T* xp = px + p * g.H * g.W;
            T* yp = py + p * g.OH * g.OW;
            for (int64_t oh = 0; oh < g.OH; ++oh) {
              const int64_t h0 = adaptive_start(oh, g.OH, g.H), h1 = adaptive_end(oh, g.OH, g.H);
              for (int64_t ow = 0; ow < g.OW; ++ow) {
                const int64_t w0 = adaptive_start(ow, g.OW, g.W), w1 = adaptive_end(ow, g.OW, g.W);
                double s = 0;
                for (int64_t ih = h0; ih < h1; ++ih) {
                  const T* xr = xp + ih * g.W;
#pragma omp simd reduction(+ : s)
                  for (int64_t iw = w0; iw < w1; ++iw) s += xr[iw];
                }
                yp[oh * g.OW + ow] = static_cast<T>(s / static_cast<double>((h1 - h0) * (w1 - w0)));
              }
            }
          }
        });
  });
}

void adaptive_avg_pool2d_backward(const KernelArgs& k) {
  const Tensor& grad = k.inputs[0];
  Tensor out = k.outputs[0];
  const Geom g = geometry(Attrs(), out.shape(), grad.shape());
  detail::dispatch_floating(grad.dtype(), "adaptive_avg_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = grad.data<T>();
    T* po = out.data<T>();
    parallel::parallel_for_if(
        g.planes * g.H * g.W > 4096, 0, g.planes, [&](int64_t lo, int64_t hi) {
          for (int64_t p = lo; p < hi; ++p) {
            T* op = po + p * g.H * g.W;
            std::fill(op, op + g.H * g.W, T(0));
            const T* gp = pg + p * g.OH * g.OW;
            for (int64_t oh = 0; oh < g.OH; ++oh) {
              const int64_t h0 = adaptive_start(oh, g.OH, g.H), h1 = adaptive_end(oh, g.OH, g.H);
              for (int64_t ow = 0; ow < g.OW; ++ow) {
                const int64_t w0 = adaptive_start(ow, g.OW, g.W), w1 = adaptive_end(ow, g.OW, g.W);
                const T v =
                    static_cast<T>(gp[oh * g.OW + ow] / static_cast<double>((h1 - h0) * (w1 - w0)));
                for (int64_t ih = h0; ih < h1; ++ih)
                  for (int64_t iw = w0; iw < w1; ++iw) op[ih * g.W + iw] += v;
              }
            }
          }
        });
  });
}

}  // namespace duet::cpu_kernels

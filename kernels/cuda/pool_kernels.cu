// 2-D pooling on CUDA (see pool_kernels.h). Window rules as kernels/cpu/pool_kernels.cpp:
//   max:      taps in row-major window order, first maximum wins, a NaN wins (the last one);
//             index h * W + w of the winner, the first valid tap when all are -inf, -1 when
//             the window holds no input;
//   avg:      sum over the window clipped to the input, divided by count_h * count_w where a
//             count is the window up to the padded border (count_include_pad) or the input
//             part only;
//   adaptive: rows floor(i * H / OH) .. ceil((i + 1) * H / OH), the same for columns.
// Forward kernels: one thread per output (adaptive pooling with large windows: one warp).
// avg / adaptive backward are gathers (one thread per input element, adding in the CPU
// kernel's order: bit-identical to it); max_pool2d_backward scatters with atomics.
#include <cmath>

#include "core/dtype_dispatch.h"
#include "pool_kernels.h"
#include "cuda/runtime.h"
#include "duet/cuda.h"
#include "geometry.h"

namespace duet::cuda_kernels {
namespace {

using cuda_backend::blocks_for;
using cuda_backend::kThreads;

// One pooling problem: `planes` independent (H, W) -> (OH, OW) maps (kernels/geometry.h).
using Geom = kernels::PoolGeom;
Geom geometry(const Attrs& at, const Shape& in, const Shape& out) {
  return kernels::pool_geometry(at, in, out);
}

#define DUET_GRID_LOOP(i, n)                                                \
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < (n); \
       i += int64_t{blockDim.x} * gridDim.x)

// ---- max ----------------------------------------------------------------------------------

template <class T>
__global__ void max_pool_kernel(const T* __restrict__ x, T* __restrict__ y,
                                int64_t* __restrict__ idx, Geom g) {
  const int64_t total = g.planes * g.OH * g.OW;
  DUET_GRID_LOOP(o, total) {
    const int64_t ow = o % g.OW, t = o / g.OW, oh = t % g.OH, p = t / g.OH;
    const T* xp = x + p * g.H * g.W;
    int64_t h0 = oh * g.sh - g.ph;
    const int64_t h1 = min(h0 + (g.kh - 1) * g.dh + 1, g.H);
    while (h0 < 0) h0 += g.dh;
    int64_t w0 = ow * g.sw - g.pw;
    const int64_t w1 = min(w0 + (g.kw - 1) * g.dw + 1, g.W);
    while (w0 < 0) w0 += g.dw;
    T best = -static_cast<T>(INFINITY);
    int64_t at = (h0 < h1 && w0 < w1) ? h0 * g.W + w0 : -1;
    for (int64_t ih = h0; ih < h1; ih += g.dh) {
      for (int64_t iw = w0; iw < w1; iw += g.dw) {
        const T v = xp[ih * g.W + iw];
        if (v > best || v != v) {
          best = v;
          at = ih * g.W + iw;
        }
      }
    }
    y[o] = best;
    idx[o] = at;
  }
}

// grad_in[p, idx[p, j]] += grad[p, j] for every output j (grad_in zeroed before).
template <class T>
__global__ void max_pool_scatter_kernel(const T* __restrict__ g, const int64_t* __restrict__ idx,
                                        int64_t n, int64_t ohw, int64_t hw, T* __restrict__ out) {
  DUET_GRID_LOOP(j, n) {
    const int64_t i = idx[j];
    if (i >= 0 && i < hw) atomicAdd(out + (j / ohw) * hw + i, g[j]);
  }
}

// Deterministic variant: one thread per plane adds its outputs in order (as the CPU kernel).
template <class T>
__global__ void max_pool_scatter_ordered_kernel(const T* __restrict__ g,
                                                const int64_t* __restrict__ idx, int64_t planes,
                                                int64_t ohw, int64_t hw, T* __restrict__ out) {
  DUET_GRID_LOOP(p, planes) {
    const T* gp = g + p * ohw;
    const int64_t* ip = idx + p * ohw;
    T* op = out + p * hw;
    for (int64_t j = 0; j < ohw; ++j) {
      const int64_t i = ip[j];
      if (i >= 0 && i < hw) op[i] += gp[j];
    }
  }
}

template <class T>
__global__ void max_pool_gather_kernel(const T* __restrict__ x, const int64_t* __restrict__ idx,
                                       int64_t n, int64_t ohw, int64_t hw, T* __restrict__ out) {
  DUET_GRID_LOOP(j, n) {
    const int64_t i = idx[j];
    out[j] = (i >= 0 && i < hw) ? x[(j / ohw) * hw + i] : T(0);
  }
}

// ---- avg ----------------------------------------------------------------------------------

// One axis of an average window (as avg_spans in the CPU kernel): [lo, hi) clipped to the
// input, count its divisor factor.
struct Span {
  int64_t lo, hi, count;
};
__device__ __forceinline__ Span avg_span(int64_t i, int64_t in, int64_t k, int64_t s, int64_t p,
                                         bool include_pad) {
  const int64_t start = i * s - p, end = min(start + k, in + p);
  const int64_t lo = max(start, int64_t{0}), hi = min(end, in);
  return {lo, hi, include_pad ? end - start : hi - lo};
}

template <class T>
__global__ void avg_pool_kernel(const T* __restrict__ x, T* __restrict__ y, Geom g) {
  const int64_t total = g.planes * g.OH * g.OW;
  DUET_GRID_LOOP(o, total) {
    const int64_t ow = o % g.OW, t = o / g.OW, oh = t % g.OH, p = t / g.OH;
    const Span hs = avg_span(oh, g.H, g.kh, g.sh, g.ph, g.count_include_pad);
    const Span ws = avg_span(ow, g.W, g.kw, g.sw, g.pw, g.count_include_pad);
    if (hs.lo >= hs.hi || ws.lo >= ws.hi) {
      y[o] = T(0);
      continue;
    }
    const T* xp = x + p * g.H * g.W;
    double s = 0;
    for (int64_t ih = hs.lo; ih < hs.hi; ++ih)
      for (int64_t iw = ws.lo; iw < ws.hi; ++iw) s += static_cast<double>(xp[ih * g.W + iw]);
    y[o] = static_cast<T>(s / (static_cast<double>(hs.count) * static_cast<double>(ws.count)));
  }
}

// ceil(a / b) for b > 0 and any a.
__device__ __forceinline__ int64_t ceil_div(int64_t a, int64_t b) {
  return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

// grad_in[ih, iw] = sum over the windows holding (ih, iw) of T(grad / divisor), added in the
// CPU kernel's order (output rows ascending, then output columns descending).
template <class T>
__global__ void avg_pool_backward_kernel(const T* __restrict__ grad, T* __restrict__ out, Geom g) {
  const int64_t total = g.planes * g.H * g.W;
  DUET_GRID_LOOP(e, total) {
    const int64_t iw = e % g.W, t = e / g.W, ih = t % g.H, p = t / g.H;
    // output rows whose window [oh * sh - ph, oh * sh - ph + kh) holds ih (columns alike)
    const int64_t oh0 = max(ceil_div(ih + g.ph - g.kh + 1, g.sh), int64_t{0});
    const int64_t oh1 = min((ih + g.ph) / g.sh, g.OH - 1);
    const int64_t ow0 = max(ceil_div(iw + g.pw - g.kw + 1, g.sw), int64_t{0});
    const int64_t ow1 = min((iw + g.pw) / g.sw, g.OW - 1);
    const T* gp = grad + p * g.OH * g.OW;
    T acc = T(0);
    for (int64_t oh = oh0; oh <= oh1; ++oh) {
      const Span hs = avg_span(oh, g.H, g.kh, g.sh, g.ph, g.count_include_pad);
      for (int64_t ow = ow1; ow >= ow0; --ow) {
        const Span ws = avg_span(ow, g.W, g.kw, g.sw, g.pw, g.count_include_pad);
        acc += static_cast<T>(static_cast<double>(gp[oh * g.OW + ow]) /
                              (static_cast<double>(hs.count) * static_cast<double>(ws.count)));
      }
    }
    out[e] = acc;
  }
}

// ---- adaptive avg -------------------------------------------------------------------------

__device__ __forceinline__ int64_t adaptive_start(int64_t i, int64_t out, int64_t in) {
  return (i * in) / out;
}
__device__ __forceinline__ int64_t adaptive_end(int64_t i, int64_t out, int64_t in) {
  return ((i + 1) * in + out - 1) / out;
}

template <class T>
__global__ void adaptive_pool_kernel(const T* __restrict__ x, T* __restrict__ y, Geom g) {
  const int64_t total = g.planes * g.OH * g.OW;
  DUET_GRID_LOOP(o, total) {
    const int64_t ow = o % g.OW, t = o / g.OW, oh = t % g.OH, p = t / g.OH;
    const int64_t h0 = adaptive_start(oh, g.OH, g.H), h1 = adaptive_end(oh, g.OH, g.H);
    const int64_t w0 = adaptive_start(ow, g.OW, g.W), w1 = adaptive_end(ow, g.OW, g.W);
    const T* xp = x + p * g.H * g.W;
    double s = 0;
    for (int64_t ih = h0; ih < h1; ++ih)
      for (int64_t iw = w0; iw < w1; ++iw) s += static_cast<double>(xp[ih * g.W + iw]);
    y[o] = static_cast<T>(s / static_cast<double>((h1 - h0) * (w1 - w0)));
  }
}

// Large windows (global pooling of big maps): one warp per output, lanes over the window.
template <class T>
__global__ void adaptive_pool_warp_kernel(const T* __restrict__ x, T* __restrict__ y, Geom g) {
  const int64_t total = g.planes * g.OH * g.OW;
  const int lane = threadIdx.x & 31;
  const int64_t warps = (int64_t{blockDim.x} * gridDim.x) >> 5;
  for (int64_t o = (blockIdx.x * int64_t{blockDim.x} + threadIdx.x) >> 5; o < total; o += warps) {
    const int64_t ow = o % g.OW, t = o / g.OW, oh = t % g.OH, p = t / g.OH;
    const int64_t h0 = adaptive_start(oh, g.OH, g.H), h1 = adaptive_end(oh, g.OH, g.H);
    const int64_t w0 = adaptive_start(ow, g.OW, g.W), w1 = adaptive_end(ow, g.OW, g.W);
    const int64_t ww = w1 - w0, area = (h1 - h0) * ww;
    const T* xp = x + p * g.H * g.W;
    double s = 0;
    for (int64_t e = lane; e < area; e += 32)
      s += static_cast<double>(xp[(h0 + e / ww) * g.W + w0 + e % ww]);
    for (int off = 16; off > 0; off >>= 1) s += __shfl_down_sync(0xffffffffu, s, off);
    if (lane == 0) y[o] = static_cast<T>(s / static_cast<double>(area));
  }
}

// grad_in[ih, iw] = sum over the outputs whose window holds it of T(grad / area), in the CPU
// kernel's order (rows, then columns ascending). Those outputs are exactly
// oh in [floor(ih * OH / H), ceil((ih + 1) * OH / H)) (columns alike).
template <class T>
__global__ void adaptive_pool_backward_kernel(const T* __restrict__ grad, T* __restrict__ out,
                                              Geom g) {
  const int64_t total = g.planes * g.H * g.W;
  DUET_GRID_LOOP(e, total) {
    const int64_t iw = e % g.W, t = e / g.W, ih = t % g.H, p = t / g.H;
    const int64_t oh0 = adaptive_start(ih, g.H, g.OH), oh1 = adaptive_end(ih, g.H, g.OH);
    const int64_t ow0 = adaptive_start(iw, g.W, g.OW), ow1 = adaptive_end(iw, g.W, g.OW);
    const T* gp = grad + p * g.OH * g.OW;
    T acc = T(0);
    for (int64_t oh = oh0; oh < oh1; ++oh) {
      const int64_t hh = adaptive_end(oh, g.OH, g.H) - adaptive_start(oh, g.OH, g.H);
      for (int64_t ow = ow0; ow < ow1; ++ow) {
        const int64_t wwid = adaptive_end(ow, g.OW, g.W) - adaptive_start(ow, g.OW, g.W);
        acc += static_cast<T>(static_cast<double>(gp[oh * g.OW + ow]) /
                              static_cast<double>(hh * wwid));
      }
    }
    out[e] = acc;
  }
}

cudaStream_t stream_of(const Tensor& t) {
  return cuda_backend::context_for(t).stream;
}

}  // namespace

void max_pool2d(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const Geom g = geometry(k.attrs, x.shape(), k.outputs[0].shape());
  const int64_t n = k.outputs[0].numel();
  if (n == 0) return;
  const cudaStream_t stream = stream_of(x);
  detail::dispatch_floating(x.dtype(), "max_pool2d", [&](auto tag) {
    using T = decltype(tag);
    max_pool_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(
        static_cast<const T*>(x.data_ptr()), static_cast<T*>(k.outputs[0].data_ptr()),
        static_cast<int64_t*>(k.outputs[1].data_ptr()), g);
    DUET_CUDA_CHECK_LAUNCH();
  });
}

void max_pool2d_backward(const KernelArgs& k) {
  const Tensor& grad = k.inputs[0];
  const Tensor& out = k.outputs[0];
  if (out.numel() == 0) return;
  const Geom g = geometry(k.attrs, out.shape(), grad.shape());
  const int64_t hw = g.H * g.W, ohw = g.OH * g.OW, n = grad.numel();
  const cudaStream_t stream = stream_of(out);
  detail::dispatch_floating(grad.dtype(), "max_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    DUET_CUDA_CHECK(
        cudaMemsetAsync(out.data_ptr(), 0, static_cast<size_t>(out.numel()) * sizeof(T), stream));
    if (n == 0) return;
    const T* pg = static_cast<const T*>(grad.data_ptr());
    const int64_t* pi = static_cast<const int64_t*>(k.inputs[1].data_ptr());
    T* po = static_cast<T*>(out.data_ptr());
    if (cuda_deterministic()) {
      max_pool_scatter_ordered_kernel<T>
          <<<blocks_for(g.planes, 64), 64, 0, stream>>>(pg, pi, g.planes, ohw, hw, po);
    } else {
      max_pool_scatter_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(pg, pi, n, ohw, hw, po);
    }
    DUET_CUDA_CHECK_LAUNCH();
  });
}

void max_pool2d_gather(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const Tensor& idx = k.inputs[1];
  const int64_t n = idx.numel();
  if (n == 0) return;
  const Geom g = geometry(k.attrs, x.shape(), idx.shape());
  const cudaStream_t stream = stream_of(x);
  detail::dispatch_floating(x.dtype(), "max_pool2d_gather", [&](auto tag) {
    using T = decltype(tag);
    max_pool_gather_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(
        static_cast<const T*>(x.data_ptr()), static_cast<const int64_t*>(idx.data_ptr()), n,
        g.OH * g.OW, g.H * g.W, static_cast<T*>(k.outputs[0].data_ptr()));
    DUET_CUDA_CHECK_LAUNCH();
  });
}

void avg_pool2d(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const int64_t n = k.outputs[0].numel();
  if (n == 0) return;
  const Geom g = geometry(k.attrs, x.shape(), k.outputs[0].shape());
  const cudaStream_t stream = stream_of(x);
  detail::dispatch_floating(x.dtype(), "avg_pool2d", [&](auto tag) {
    using T = decltype(tag);
    avg_pool_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(
        static_cast<const T*>(x.data_ptr()), static_cast<T*>(k.outputs[0].data_ptr()), g);
    DUET_CUDA_CHECK_LAUNCH();
  });
}

void avg_pool2d_backward(const KernelArgs& k) {
  const Tensor& grad = k.inputs[0];
  const Tensor& out = k.outputs[0];
  const int64_t n = out.numel();
  if (n == 0) return;
  const Geom g = geometry(k.attrs, out.shape(), grad.shape());
  const cudaStream_t stream = stream_of(out);
  detail::dispatch_floating(grad.dtype(), "avg_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    avg_pool_backward_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(
        static_cast<const T*>(grad.data_ptr()), static_cast<T*>(out.data_ptr()), g);
    DUET_CUDA_CHECK_LAUNCH();
  });
}

void adaptive_avg_pool2d(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const int64_t n = k.outputs[0].numel();
  if (n == 0) return;
  const Geom g = geometry(Attrs(), x.shape(), k.outputs[0].shape());
  const cudaStream_t stream = stream_of(x);
  // The largest window: ceil(H / OH) + 1 rows by ceil(W / OW) + 1 columns at most.
  const int64_t max_area = ((g.H + g.OH - 1) / g.OH + 1) * ((g.W + g.OW - 1) / g.OW + 1);
  detail::dispatch_floating(x.dtype(), "adaptive_avg_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x.data_ptr());
    T* py = static_cast<T*>(k.outputs[0].data_ptr());
    if (max_area >= 64) {
      adaptive_pool_warp_kernel<T><<<blocks_for(n * 32), kThreads, 0, stream>>>(px, py, g);
    } else {
      adaptive_pool_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(px, py, g);
    }
    DUET_CUDA_CHECK_LAUNCH();
  });
}

void adaptive_avg_pool2d_backward(const KernelArgs& k) {
  const Tensor& grad = k.inputs[0];
  const Tensor& out = k.outputs[0];
  const int64_t n = out.numel();
  if (n == 0) return;
  const Geom g = geometry(Attrs(), out.shape(), grad.shape());
  const cudaStream_t stream = stream_of(out);
  detail::dispatch_floating(grad.dtype(), "adaptive_avg_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    adaptive_pool_backward_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(
        static_cast<const T*>(grad.data_ptr()), static_cast<T*>(out.data_ptr()), g);
    DUET_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace duet::cuda_kernels

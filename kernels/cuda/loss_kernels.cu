// CUDA softmax, log_softmax, their fused gradients and cross entropy, following
// kernels/cpu/loss_kernels.cpp term by term: max-shifted exponentials, sums in double, the
// same final formulas. Along-axis kernels see the tensor as (outer, C, inner) and use the block
// layout of axis_reduce.cuh: each (outer, inner) lane is folded by `by` threads along C.
//
// Several of these ops may run in place (inplace_input: softmax's y over x, the backward ops'
// output over grad, cross_entropy_backward's output over log_probs), so no pointer here is
// __restrict__: every thread reads its elements of a lane before the lane's reduction
// (which synchronises the block) and writes only elements it has just read.
#include <cmath>
#include <limits>

#include "core/dtype_dispatch.h"
#include "cuda/axis_reduce.cuh"
#include "loss_kernels.h"
#include "geometry.h"

namespace duet::cuda_kernels {
namespace {

using namespace axis;

using kernels::AxisSplit;  // (outer, C, inner) around the axis (kernels/geometry.h)
AxisSplit split(const Tensor& t, int64_t axis_attr, const char* op) {
  return kernels::split_at_axis(t.shape(), axis_attr, op);
}

struct Plus {
  __device__ double operator()(double a, double b) const { return a + b; }
};

// y = softmax(x) or log_softmax(x) along C. With row_loss (cross entropy: inner == 1), also
// row_loss[o] = -(1 - eps) * y[o, label_o] - eps / C * sum_c y[o, c] (the sum only when
// eps != 0, as on the CPU), NaN for a label outside [0, C).
template <class T, bool kLog>
__global__ void __launch_bounds__(kBlock)
    softmax_kernel(const T* x, T* y, int64_t outer, int64_t C, int64_t inner, int bx, int by,
                   int bz, int64_t inner_blocks, const int64_t* labels, double* row_loss,
                   double eps) {
  __shared__ SharedBytes sh;
  const Coords c = coords(bx, by, bz, inner_blocks);
  const bool valid = c.i < inner && c.o < outer;
  const int64_t base = valid ? c.o * C * inner + c.i : 0;
  // 1. the lane's maximum (NaN propagates)
  T m = lowest<T>();
  if (valid)
    for (int64_t k = c.ty; k < C; k += by) m = max_nan(m, x[base + k * inner]);
  m = reduce_y(m, reinterpret_cast<T*>(sh.b), c, bx, by, [](T a, T b) { return max_nan(a, b); });
  // 2. s = sum of exp(x - m), in double
  double s = 0;
  if (valid)
    for (int64_t k = c.ty; k < C; k += by)
      s += static_cast<double>(dexp<T>(x[base + k * inner] - m));
  s = reduce_y(s, reinterpret_cast<double*>(sh.b), c, bx, by, Plus{});
  // 3. the outputs
  if constexpr (kLog) {
    const T f = m + static_cast<T>(log(s));
    const bool smooth = row_loss != nullptr && eps != 0.0;
    double total = 0;
    if (valid) {
      for (int64_t k = c.ty; k < C; k += by) {
        const T v = x[base + k * inner] - f;
        y[base + k * inner] = v;
        if (smooth) total += static_cast<double>(v);
      }
    }
    if (row_loss != nullptr) {  // uniform over the grid: every thread reaches reduce_y
      total = reduce_y(total, reinterpret_cast<double*>(sh.b), c, bx, by, Plus{});
      if (valid && c.ty == 0) {
        const int64_t label = labels[c.o];
        double picked = std::numeric_limits<double>::quiet_NaN();
        if (label >= 0 && label < C) picked = static_cast<double>(x[base + label * inner] - f);
        row_loss[c.o] = -(1.0 - eps) * picked - eps / static_cast<double>(C) * total;
      }
    }
  } else {
    const T f = static_cast<T>(1.0 / s);
    if (valid)
      for (int64_t k = c.ty; k < C; k += by)
        y[base + k * inner] = dexp<T>(x[base + k * inner] - m) * f;
  }
}

// softmax:     dx = y * (g - sum(g * y))
// log_softmax: dx = g - exp(y) * sum(g)
template <class T, bool kLog>
__global__ void __launch_bounds__(kBlock)
    softmax_backward_kernel(const T* g, const T* y, T* dx, int64_t outer, int64_t C, int64_t inner,
                            int bx, int by, int bz, int64_t inner_blocks) {
  __shared__ SharedBytes sh;
  const Coords c = coords(bx, by, bz, inner_blocks);
  const bool valid = c.i < inner && c.o < outer;
  const int64_t base = valid ? c.o * C * inner + c.i : 0;
  double acc = 0;
  if (valid) {
    for (int64_t k = c.ty; k < C; k += by) {
      const int64_t at = base + k * inner;
      if constexpr (kLog) {
        acc += static_cast<double>(g[at]);
      } else {
        acc += static_cast<double>(g[at]) * static_cast<double>(y[at]);
      }
    }
  }
  acc = reduce_y(acc, reinterpret_cast<double*>(sh.b), c, bx, by, Plus{});
  const T a = static_cast<T>(acc);
  if (valid) {
    for (int64_t k = c.ty; k < C; k += by) {
      const int64_t at = base + k * inner;
      if constexpr (kLog) {
        dx[at] = g[at] - dexp<T>(y[at]) * a;
      } else {
        dx[at] = y[at] * (g[at] - a);
      }
    }
  }
}

// dx[n, c] = (exp(logp[n, c]) - off) * scale, minus on * scale at c == label_n;
// scale = grad / N (read on the device). A row with a label outside [0, C) is NaN.
template <class T>
__global__ void cross_entropy_backward_kernel(const T* grad, const T* lp, const int64_t* labels,
                                              T* dx, int64_t N, int64_t C, T off, T on) {
  const T scale = static_cast<T>(static_cast<double>(*grad) / static_cast<double>(N));
  const int64_t n_all = N * C;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n_all;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = e / C, k = e - n * C;
    const int64_t label = labels[n];
    T v = (dexp<T>(lp[e]) - off) * scale;
    if (label < 0 || label >= C) {
      v = std::numeric_limits<T>::quiet_NaN();
    } else if (k == label) {
      v -= on * scale;
    }
    dx[e] = v;
  }
}

template <bool kLog>
void softmax_family(const KernelArgs& k, const char* op) {
  const Tensor& x = k.inputs[0];
  if (x.numel() == 0) return;
  const AxisSplit a = split(x, k.attrs.i("axis"), op);
  const Layout l = layout(a.outer, a.C, a.inner);
  const cudaStream_t stream = cuda_backend::stream_for(x);
  detail::dispatch_floating(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    softmax_kernel<T, kLog><<<grid_x(l.blocks(), op), kBlock, 0, stream>>>(
        static_cast<const T*>(x.data_ptr()), static_cast<T*>(k.outputs[0].data_ptr()), a.outer, a.C,
        a.inner, l.bx, l.by, l.bz, l.inner_blocks, nullptr, nullptr, 0.0);
    DUET_CUDA_CHECK_LAUNCH();
  });
}

template <bool kLog>
void softmax_backward_family(const KernelArgs& k, const char* op) {
  const Tensor& g = k.inputs[0];
  if (g.numel() == 0) return;
  const AxisSplit a = split(g, k.attrs.i("axis"), op);
  const Layout l = layout(a.outer, a.C, a.inner);
  const cudaStream_t stream = cuda_backend::stream_for(g);
  detail::dispatch_floating(g.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    softmax_backward_kernel<T, kLog><<<grid_x(l.blocks(), op), kBlock, 0, stream>>>(
        static_cast<const T*>(g.data_ptr()), static_cast<const T*>(k.inputs[1].data_ptr()),
        static_cast<T*>(k.outputs[0].data_ptr()), a.outer, a.C, a.inner, l.bx, l.by, l.bz,
        l.inner_blocks);
    DUET_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace

void softmax(const KernelArgs& k) {
  softmax_family<false>(k, "softmax");
}
void log_softmax(const KernelArgs& k) {
  softmax_family<true>(k, "log_softmax");
}
void softmax_backward(const KernelArgs& k) {
  softmax_backward_family<false>(k, "softmax_backward");
}
void log_softmax_backward(const KernelArgs& k) {
  softmax_backward_family<true>(k, "log_softmax_backward");
}

// loss = mean_n [ (1 - eps) * -logp[n, label_n] + eps * mean_c(-logp[n, c]) ]
void cross_entropy(const KernelArgs& k) {
  const Tensor& logits = k.inputs[0];
  const Tensor& labels = k.inputs[1];
  const int64_t N = logits.shape()[0], C = logits.shape()[1];
  const double eps = k.attrs.f("label_smoothing");
  const Launch L = launch_for(logits);
  cuda_backend::Workspace rows(static_cast<size_t>(N) * sizeof(double), L.device);
  double* row_loss = static_cast<double*>(rows.data());
  detail::dispatch_floating(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    if (N > 0) {
      const Layout l = layout(N, C, 1);
      softmax_kernel<T, true><<<grid_x(l.blocks(), "cross_entropy"), kBlock, 0, L.stream>>>(
          static_cast<const T*>(logits.data_ptr()), static_cast<T*>(k.outputs[1].data_ptr()), N, C,
          1, l.bx, l.by, l.bz, l.inner_blocks, static_cast<const int64_t*>(labels.data_ptr()),
          row_loss, eps);
      DUET_CUDA_CHECK_LAUNCH();
    }
    // loss = (sum of the row losses) / N; N == 0 gives NaN, as on the CPU.
    CastOut<double, T> fin;
    fin.mode = 2;
    fin.s = static_cast<double>(N);
    reduce_3d<SumOp<double>, double, CastOut<double, T>>(
        row_loss, static_cast<T*>(k.outputs[0].data_ptr()), 1, N, 1, fin, L, "cross_entropy");
  });
}

void cross_entropy_backward(const KernelArgs& k) {
  const Tensor& logp = k.inputs[1];
  const Tensor& labels = k.inputs[2];
  const int64_t N = logp.shape()[0], C = logp.shape()[1];
  if (N * C == 0) return;
  const double eps = k.attrs.f("label_smoothing");
  const cudaStream_t stream = cuda_backend::stream_for(logp);
  detail::dispatch_floating(logp.dtype(), "cross_entropy_backward", [&](auto tag) {
    using T = decltype(tag);
    cross_entropy_backward_kernel<T><<<cuda_backend::blocks_for(N * C), kBlock, 0, stream>>>(
        static_cast<const T*>(k.inputs[0].data_ptr()), static_cast<const T*>(logp.data_ptr()),
        static_cast<const int64_t*>(labels.data_ptr()), static_cast<T*>(k.outputs[0].data_ptr()), N,
        C, static_cast<T>(eps / static_cast<double>(C)), static_cast<T>(1.0 - eps));
    DUET_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace duet::cuda_kernels

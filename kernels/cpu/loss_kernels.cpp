#include "loss_kernels.h"

// GCC 12 reports false "__Y may be used uninitialized" warnings inside its own AVX-512
// intrinsics when Eigen's SIMD math is inlined (GCC bug 105593, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/dtype_dispatch.h"
#include "core/parallel.h"
#include "cpu/elementwise_kernels.h"
#include "geometry.h"

namespace duet::cpu_kernels {
namespace {

// Along-axis kernels see the tensor as (outer, C, inner). With inner == 1 each lane is a
// contiguous row; otherwise a work item is (o, block of up to kLaneBlock inner positions),
// whose C segments are contiguous, so both paths run Eigen's SIMD exp on contiguous data.
constexpr int64_t kLaneBlock = 256;

template <class T>
using Vec = Eigen::Array<T, Eigen::Dynamic, 1>;
template <class T>
using VecMap = Eigen::Map<Vec<T>>;
template <class T>
using ConstVecMap = Eigen::Map<const Vec<T>>;

using kernels::AxisSplit;  // (outer, C, inner) around the axis (kernels/geometry.h)
AxisSplit split(const Tensor& t, int64_t axis_attr, const char* op) {
  return kernels::split_at_axis(t.shape(), axis_attr, op);
}

// row(o_offset) for each contiguous row when inner == 1, else block(base, n) for each
// (o, inner block): segment c of the block starts at base + c * inner and has n elements.
template <class Row, class Block>
void for_each_lane(const AxisSplit& a, Row row, Block block) {
  const bool par_work = a.outer * a.C * a.inner > kParallelGrain / 4;
  if (a.inner == 1) {
    parallel::parallel_for_if(par_work && a.outer > 1, 0, a.outer, [&](int64_t lo, int64_t hi) {
      for (int64_t o = lo; o < hi; ++o) row(o * a.C);
    });
    return;
  }
  const int64_t ib = std::min(a.inner, kLaneBlock), nib = (a.inner + ib - 1) / ib;
  const int64_t items = a.outer * nib;
  parallel::parallel_for_if(par_work && items > 1, 0, items, [&](int64_t lo, int64_t hi) {
    for (int64_t it = lo; it < hi; ++it) {
      const int64_t o = it / nib, i0 = (it % nib) * ib;
      block(o * a.C * a.inner + i0, std::min(ib, a.inner - i0));
    }
  });
}

// NaN-propagating maximum of a contiguous row (vectorised by Eigen).
template <class T>
T row_max(const T* x, int64_t n) {
  return ConstVecMap<T>(x, n).template maxCoeff<Eigen::PropagateNaN>();
}

// Every label in [0, C), else a duet::Error naming the value, its index and C.
void check_labels(const Tensor& labels, int64_t C, const char* op) {
  const int64_t* pl = labels.data<int64_t>();
  for (int64_t n = 0; n < labels.numel(); ++n) {
    DUET_CHECK(pl[n] >= 0 && pl[n] < C, op, ": label ", pl[n], " at index ", n,
               " is out of range for ", C, " classes (expected 0 <= label < ", C, ")");
  }
}

// y = softmax(x) or log_softmax(x) along the axis; sums accumulate in double.
template <class T>
void softmax_impl(const T* px, T* py, const AxisSplit& a, bool log) {
  const int64_t C = a.C, inner = a.inner;
  auto row = [&](int64_t b) {
    ConstVecMap<T> x(px + b, C);
    VecMap<T> y(py + b, C);
    const T m = row_max(px + b, C);
    y = (x - m).exp();
    const double s = y.template cast<double>().sum();
    if (log) {
      y = x - (m + static_cast<T>(std::log(s)));
    } else {
      y *= static_cast<T>(1.0 / s);
    }
  };
  auto block = [&](int64_t b, int64_t n) {
    T m[kLaneBlock];
    double s[kLaneBlock];
    for (int64_t i = 0; i < n; ++i) {
      m[i] = px[b + i];
      s[i] = 0;
    }
    for (int64_t c = 1; c < C; ++c) {
      const T* x = px + b + c * inner;
      for (int64_t i = 0; i < n; ++i) m[i] = (x[i] > m[i] || x[i] != x[i]) ? x[i] : m[i];
    }
    ConstVecMap<T> mv(m, n);
    for (int64_t c = 0; c < C; ++c) {
      VecMap<T> y(py + b + c * inner, n);
      y = (ConstVecMap<T>(px + b + c * inner, n) - mv).exp();
      for (int64_t i = 0; i < n; ++i) s[i] += y[i];
    }
    T f[kLaneBlock];  // softmax: 1 / s; log_softmax: m + log(s)
    for (int64_t i = 0; i < n; ++i)
      f[i] = log ? m[i] + static_cast<T>(std::log(s[i])) : static_cast<T>(1.0 / s[i]);
    ConstVecMap<T> fv(f, n);
    for (int64_t c = 0; c < C; ++c) {
      VecMap<T> y(py + b + c * inner, n);
      if (log) {
        y = ConstVecMap<T>(px + b + c * inner, n) - fv;
      } else {
        y *= fv;
      }
    }
  };
  for_each_lane(a, row, block);
}

}  // namespace

// softmax and log_softmax share one kernel body.
static void softmax_family(const KernelArgs& k, bool log, const char* op) {
  const Tensor& x = k.inputs[0];
  if (x.numel() == 0) return;
  const AxisSplit a = split(x, k.attrs.i("axis"), op);
  detail::dispatch_floating(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    softmax_impl<T>(x.data<T>(), k.outputs[0].data<T>(), a, log);
  });
}

void softmax(const KernelArgs& k) {
  softmax_family(k, false, "softmax");
}
void log_softmax(const KernelArgs& k) {
  softmax_family(k, true, "log_softmax");
}

// dx = y * (g - sum(g * y))
void softmax_backward(const KernelArgs& k) {
  const Tensor& g = k.inputs[0];
  if (g.numel() == 0) return;
  const AxisSplit a = split(g, k.attrs.i("axis"), "softmax_backward");
  detail::dispatch_floating(g.dtype(), "softmax_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = g.data<T>();
    const T* py = k.inputs[1].data<T>();
    T* pd = k.outputs[0].data<T>();
    const int64_t C = a.C, inner = a.inner;
    auto row = [&](int64_t b) {
      ConstVecMap<T> gv(pg + b, C), yv(py + b, C);
      const T dot = static_cast<T>((gv.template cast<double>() * yv.template cast<double>()).sum());
      VecMap<T>(pd + b, C) = yv * (gv - dot);
    };
    auto block = [&](int64_t b, int64_t n) {
      double dot[kLaneBlock] = {};
      for (int64_t c = 0; c < C; ++c) {
        const T *gr = pg + b + c * inner, *yr = py + b + c * inner;
        for (int64_t i = 0; i < n; ++i) dot[i] += static_cast<double>(gr[i]) * yr[i];
      }
      for (int64_t c = 0; c < C; ++c) {
        const int64_t o = b + c * inner;
        for (int64_t i = 0; i < n; ++i)
          pd[o + i] = py[o + i] * (pg[o + i] - static_cast<T>(dot[i]));
      }
    };
    for_each_lane(a, row, block);
  });
}

// dx = g - exp(y) * sum(g)
void log_softmax_backward(const KernelArgs& k) {
  const Tensor& g = k.inputs[0];
  if (g.numel() == 0) return;
  const AxisSplit a = split(g, k.attrs.i("axis"), "log_softmax_backward");
  detail::dispatch_floating(g.dtype(), "log_softmax_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = g.data<T>();
    const T* py = k.inputs[1].data<T>();
    T* pd = k.outputs[0].data<T>();
    const int64_t C = a.C, inner = a.inner;
    auto row = [&](int64_t b) {
      ConstVecMap<T> gv(pg + b, C), yv(py + b, C);
      const T s = static_cast<T>(gv.template cast<double>().sum());
      VecMap<T>(pd + b, C) = gv - yv.exp() * s;
    };
    auto block = [&](int64_t b, int64_t n) {
      double s[kLaneBlock] = {};
      for (int64_t c = 0; c < C; ++c) {
        const T* gr = pg + b + c * inner;
        for (int64_t i = 0; i < n; ++i) s[i] += gr[i];
      }
      T sv[kLaneBlock];
      for (int64_t i = 0; i < n; ++i) sv[i] = static_cast<T>(s[i]);
      for (int64_t c = 0; c < C; ++c) {
        const int64_t o = b + c * inner;
        VecMap<T>(pd + o, n) =
            ConstVecMap<T>(pg + o, n) - ConstVecMap<T>(py + o, n).exp() * ConstVecMap<T>(sv, n);
      }
    };
    for_each_lane(a, row, block);
  });
}

// loss = mean_n [ (1 - eps) * -logp[n, label_n] + eps * mean_c(-logp[n, c]) ]
void cross_entropy(const KernelArgs& k) {
  const Tensor& logits = k.inputs[0];
  const Tensor& labels = k.inputs[1];
  const int64_t N = logits.shape()[0], C = logits.shape()[1];
  const double eps = k.attrs.f("label_smoothing");
  check_labels(labels, C, "cross_entropy");
  detail::dispatch_floating(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    const T* px = logits.data<T>();
    const int64_t* pl = labels.data<int64_t>();
    T* plp = k.outputs[1].data<T>();
    softmax_impl<T>(px, plp, {N, C, 1}, true);
    std::vector<double> row_loss(N);
    parallel::parallel_for_if(N * C > kParallelGrain && N > 1, 0, N, [&](int64_t lo, int64_t hi) {
      for (int64_t n = lo; n < hi; ++n) {
        const T* lp = plp + n * C;
        const double total = eps == 0.0 ? 0.0 : ConstVecMap<T>(lp, C).template cast<double>().sum();
        row_loss[n] = -(1.0 - eps) * lp[pl[n]] - eps / static_cast<double>(C) * total;
      }
    });
    double loss = 0;  // summed in a fixed order: independent of the thread count
    for (int64_t n = 0; n < N; ++n) loss += row_loss[n];
    k.outputs[0].data<T>()[0] = static_cast<T>(loss / static_cast<double>(N));
  });
}

// dx[n, c] = (exp(logp[n, c]) - q[n, c]) * grad / N,  q = (1 - eps) * onehot + eps / C
void cross_entropy_backward(const KernelArgs& k) {
  const Tensor& logp = k.inputs[1];
  const Tensor& labels = k.inputs[2];
  const int64_t N = logp.shape()[0], C = logp.shape()[1];
  const double eps = k.attrs.f("label_smoothing");
  check_labels(labels, C, "cross_entropy_backward");
  detail::dispatch_floating(logp.dtype(), "cross_entropy_backward", [&](auto tag) {
    using T = decltype(tag);
    const T scale = static_cast<T>(static_cast<double>(k.inputs[0].data<T>()[0]) / N);
    const T off = static_cast<T>(eps / static_cast<double>(C));
    const T on = static_cast<T>(1.0 - eps);
    const T* plp = logp.data<T>();
    const int64_t* pl = labels.data<int64_t>();
    T* pd = k.outputs[0].data<T>();
    parallel::parallel_for_if(
        N * C > kParallelGrain / 4 && N > 1, 0, N, [&](int64_t lo, int64_t hi) {
          for (int64_t n = lo; n < hi; ++n) {
            VecMap<T>(pd + n * C, C) = (ConstVecMap<T>(plp + n * C, C).exp() - off) * scale;
            pd[n * C + pl[n]] -= on * scale;
          }
        });
  });
}

}  // namespace duet::cpu_kernels

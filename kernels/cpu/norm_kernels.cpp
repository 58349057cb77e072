#include "norm_kernels.h"

#include <cmath>

#include "core/dtype_dispatch.h"
#include "core/parallel.h"

namespace duet::cpu_kernels {
namespace {

// x viewed as (N, C, S).
struct ChannelLayout {
  int64_t N, C, S;
  int64_t count() const { return N * S; }  // elements per channel
};

ChannelLayout layout(const Tensor& x) {
  const Shape& s = x.shape();
  ChannelLayout l{s[0], s[1], 1};
  for (size_t i = 2; i < s.size(); ++i) l.S *= s[i];
  return l;
}

}  // namespace

void batch_norm_train(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const ChannelLayout l = layout(x);
  const double eps = k.attrs.f("eps");
  detail::dispatch_floating(x.dtype(), "batch_norm_train", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    const T* pw = k.inputs[1].data<T>();
    const T* pb = k.inputs[2].data<T>();
    T* py = k.outputs[0].data<T>();
    T* pmean = k.outputs[1].data<T>();
    T* pinv = k.outputs[2].data<T>();
    T* pvar = k.outputs[3].data<T>();
    const double m = static_cast<double>(l.count());
    parallel::parallel_for_if(l.N * l.C * l.S > 4096, 0, l.C, [&](int64_t lo, int64_t hi) {
      for (int64_t c = lo; c < hi; ++c) {
        double sum = 0;
        for (int64_t n = 0; n < l.N; ++n) {
          const T* row = px + (n * l.C + c) * l.S;
#pragma omp simd reduction(+ : sum)
          for (int64_t s = 0; s < l.S; ++s) sum += row[s];
        }
        const double mean = m > 0 ? sum / m : 0.0;
        double sq = 0;
        for (int64_t n = 0; n < l.N; ++n) {
          const T* row = px + (n * l.C + c) * l.S;
#pragma omp simd reduction(+ : sq)
          for (int64_t s = 0; s < l.S; ++s) {
            const double d = row[s] - mean;
            sq += d * d;
          }
        }
        const double var = m > 0 ? sq / m : 0.0;
        const double invstd = 1.0 / std::sqrt(var + eps);
        // y = (x - mean) * (invstd * w) + b; subtracting the mean first keeps float32 exact
        // when |mean| >> std.
        const T tm = static_cast<T>(mean), ta = static_cast<T>(invstd * pw[c]), tb = pb[c];
        for (int64_t n = 0; n < l.N; ++n) {
          const T* row = px + (n * l.C + c) * l.S;
          T* out = py + (n * l.C + c) * l.S;
          for (int64_t s = 0; s < l.S; ++s) out[s] = (row[s] - tm) * ta + tb;
        }
        pmean[c] = static_cast<T>(mean);
        pinv[c] = static_cast<T>(invstd);
        pvar[c] = static_cast<T>(var);
      }
    });
  });
}

void batch_norm_backward(const KernelArgs& k) {
  const Tensor& x = k.inputs[1];
  const ChannelLayout l = layout(x);
  detail::dispatch_floating(x.dtype(), "batch_norm_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = k.inputs[0].data<T>();
    const T* px = x.data<T>();
    const T* pw = k.inputs[2].data<T>();
    const T* pmean = k.inputs[3].data<T>();
    const T* pinv = k.inputs[4].data<T>();
    T* pgx = k.outputs[0].data<T>();
    T* pgw = k.outputs[1].data<T>();
    T* pgb = k.outputs[2].data<T>();
    const double m = static_cast<double>(l.count());
    parallel::parallel_for_if(l.N * l.C * l.S > 4096, 0, l.C, [&](int64_t lo, int64_t hi) {
      for (int64_t c = lo; c < hi; ++c) {
        const double mean = pmean[c], invstd = pinv[c], w = pw[c];
        double sum_g = 0, sum_gd = 0;  // sum(g), sum(g * (x - mean))
        for (int64_t n = 0; n < l.N; ++n) {
          const T* gr = pg + (n * l.C + c) * l.S;
          const T* xr = px + (n * l.C + c) * l.S;
#pragma omp simd reduction(+ : sum_g, sum_gd)
          for (int64_t s = 0; s < l.S; ++s) {
            sum_g += gr[s];
            sum_gd += gr[s] * (xr[s] - mean);
          }
        }
        pgb[c] = static_cast<T>(sum_g);
        pgw[c] = static_cast<T>(sum_gd * invstd);
        // grad_x = w * invstd * (g - sum_g / m - xhat * sum(g * xhat) / m)
        //        = k1 * g + k2 * (x - mean) + k3
        const double k1 = w * invstd;
        const double k2 = m > 0 ? -k1 * invstd * invstd * sum_gd / m : 0.0;
        const double k3 = m > 0 ? -k1 * sum_g / m : 0.0;
        const T t1 = static_cast<T>(k1), t2 = static_cast<T>(k2), t3 = static_cast<T>(k3);
        const T tm = static_cast<T>(mean);
        for (int64_t n = 0; n < l.N; ++n) {
          const T* gr = pg + (n * l.C + c) * l.S;
          const T* xr = px + (n * l.C + c) * l.S;
          T* out = pgx + (n * l.C + c) * l.S;
          for (int64_t s = 0; s < l.S; ++s) out[s] = t1 * gr[s] + t2 * (xr[s] - tm) + t3;
        }
      }
    });
  });
}

void channel_affine(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const ChannelLayout l = layout(x);
  detail::dispatch_floating(x.dtype(), "channel_affine", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    const T* ps = k.inputs[1].data<T>();
    const T* pt = k.inputs[2].data<T>();
    T* py = k.outputs[0].data<T>();
    if (l.S == 1) {  // (N, C): rows of C
      parallel::parallel_for_if(l.N * l.C > 32768, 0, l.N, [&](int64_t lo, int64_t hi) {
        for (int64_t n = lo; n < hi; ++n) {
          const T* xr = px + n * l.C;
          T* yr = py + n * l.C;
#pragma omp simd
          for (int64_t c = 0; c < l.C; ++c) yr[c] = xr[c] * ps[c] + pt[c];
        }
      });
      return;
    }
    const int64_t rows = l.N * l.C;
    parallel::parallel_for_if(rows * l.S > 32768, 0, rows, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        const T s = ps[r % l.C], t = pt[r % l.C];
        const T* xr = px + r * l.S;
        T* yr = py + r * l.S;
#pragma omp simd
        for (int64_t i = 0; i < l.S; ++i) yr[i] = xr[i] * s + t;
      }
    });
  });
}

void running_stat_update(const KernelArgs& k) {
  const Tensor& running = k.inputs[0];
  const Tensor& stat = k.inputs[1];
  const double m = k.attrs.f("momentum"), corr = k.attrs.f("correction");
  detail::dispatch_floating(running.dtype(), "running_stat_update_", [&](auto tag) {
    using T = decltype(tag);
    T* pr = running.data<T>();
    const T* ps = stat.data<T>();
    const int64_t n = running.numel();
    for (int64_t i = 0; i < n; ++i)
      pr[i] = static_cast<T>((1.0 - m) * pr[i] + m * static_cast<double>(ps[i]) * corr);
  });
}

}  // namespace duet::cpu_kernels

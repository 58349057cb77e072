#include "reduce_kernels.h"

// GCC 12 reports false "__Y may be used uninitialized" warnings inside its own AVX-512
// intrinsics when Eigen's SIMD math is inlined (GCC bug 105593, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/dtype_dispatch.h"
#include "core/parallel.h"
#include "cpu/elementwise_kernels.h"
#include "geometry.h"

namespace duet::cpu_kernels {

using kernels::reduced_axes_mask;

namespace {

constexpr int64_t kInnerBlock = 256;  // inner elements per work item
constexpr int64_t kChunk = 1 << 15;   // input elements per work item (about)
constexpr int kLanes = 8;             // independent accumulators for contiguous rows

template <class Acc>
struct SumOp {
  static Acc identity() { return Acc(0); }
  template <class V>
  static Acc step(Acc a, V v) {
    return a + static_cast<Acc>(v);
  }
};

// NaN propagates (as in PyTorch).
template <class T>
struct MaxOp {
  static T identity() {
    if constexpr (std::numeric_limits<T>::has_infinity) {
      return -std::numeric_limits<T>::infinity();
    } else {
      return std::numeric_limits<T>::lowest();
    }
  }
  static T step(T a, T v) { return (v > a || v != v) ? v : a; }
};

// out[o, i] = fold over r of x[o, r, i]; x: (outer, R, inner) contiguous, out: (outer, inner).
// Work items are (o, inner block, R chunk); chunk partials combine in chunk order.
template <class In, class Acc, class Op>
void reduce_3d(const In* x, Acc* out, int64_t outer, int64_t R, int64_t inner) {
  const int64_t ib = std::min(inner, kInnerBlock);
  const int64_t nib = (inner + ib - 1) / ib;
  const int64_t rc = std::max<int64_t>(1, kChunk / ib);
  const int64_t nrc = std::max<int64_t>(1, (R + rc - 1) / rc);
  const int64_t n_out = outer * inner;
  std::vector<Acc> partial(nrc > 1 ? nrc * n_out : 0);
  const int64_t items = outer * nib * nrc;
  const bool par = outer * R * inner > kParallelGrain && items > 1;
  parallel::parallel_for_if(par, 0, items, [&](int64_t lo, int64_t hi) {
    for (int64_t it = lo; it < hi; ++it) {
      const int64_t c = it % nrc, b = (it / nrc) % nib, o = it / (nrc * nib);
      Acc* dst = (nrc > 1 ? partial.data() + c * n_out : out) + o * inner;
      const int64_t r0 = c * rc, r1 = std::min(R, r0 + rc);
      if (inner == 1) {
        Acc lane[kLanes];
        for (int j = 0; j < kLanes; ++j) lane[j] = Op::identity();
        const In* row = x + o * R;
        int64_t r = r0;
        for (; r + kLanes <= r1; r += kLanes)
          for (int j = 0; j < kLanes; ++j) lane[j] = Op::step(lane[j], row[r + j]);
        for (; r < r1; ++r) lane[0] = Op::step(lane[0], row[r]);
        Acc a = lane[0];
        for (int j = 1; j < kLanes; ++j) a = Op::step(a, lane[j]);
        dst[0] = a;
      } else {
        const int64_t i0 = b * ib, n = std::min(inner, i0 + ib) - i0;
        Acc acc[kInnerBlock];
        for (int64_t i = 0; i < n; ++i) acc[i] = Op::identity();
        for (int64_t r = r0; r < r1; ++r) {
          const In* row = x + (o * R + r) * inner + i0;
          for (int64_t i = 0; i < n; ++i) acc[i] = Op::step(acc[i], row[i]);
        }
        for (int64_t i = 0; i < n; ++i) dst[i0 + i] = acc[i];
      }
    }
  });
  if (nrc > 1) {
    parallel::parallel_for_if(n_out * nrc > kParallelGrain, 0, n_out, [&](int64_t lo, int64_t hi) {
      for (int64_t j = lo; j < hi; ++j) {
        Acc a = partial[j];
        for (int64_t c = 1; c < nrc; ++c) a = Op::step(a, partial[c * n_out + j]);
        out[j] = a;
      }
    });
  }
}

using Group = kernels::AxisGroup;  // runs of kept / reduced axes (kernels/geometry.h)
using kernels::coalesce_axes;

// Folds every reduced group of x (contiguous, laid out as `g`), innermost group first.
template <class In, class Acc, class Op>
void reduce_groups(const In* x, std::vector<Group> g, Acc* out) {
  int j = static_cast<int>(g.size()) - 1;
  while (j >= 0 && !g[j].reduced) --j;
  if (j < 0) {  // nothing to reduce
    int64_t n = 1;
    for (auto& gr : g) n *= gr.size;
    parallel::parallel_for_if(n > kParallelGrain, 0, n, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) out[i] = Op::step(Op::identity(), x[i]);
    });
    return;
  }
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < j; ++i) outer *= g[i].size;
  for (size_t i = j + 1; i < g.size(); ++i) inner *= g[i].size;
  const int64_t R = g[j].size;
  g.erase(g.begin() + j);
  if (j > 0 && j < static_cast<int>(g.size())) {  // the kept neighbours become adjacent
    g[j - 1].size *= g[j].size;
    g.erase(g.begin() + j);
  }
  const bool more = std::any_of(g.begin(), g.end(), [](const Group& gr) { return gr.reduced; });
  if (!more) {
    reduce_3d<In, Acc, Op>(x, out, outer, R, inner);
    return;
  }
  std::vector<Acc> tmp(outer * inner);
  reduce_3d<In, Acc, Op>(x, tmp.data(), outer, R, inner);
  reduce_groups<Acc, Acc, Op>(tmp.data(), std::move(g), out);
}

// out = finalize(reduce(x)) with Acc accumulators; `mean` divides by the group size.
template <class In, class Acc, class Out, class Op>
void run_reduce(const KernelArgs& k, const char* op, bool mean) {
  const Tensor& x = k.inputs[0];
  const Tensor& y = k.outputs[0];
  const std::vector<bool> mask = reduced_axes_mask(x.shape(), k.attrs.ints("axes"), op);
  const int64_t n_out = y.numel();
  if (n_out == 0) return;
  int64_t count = 1;
  for (size_t d = 0; d < mask.size(); ++d)
    if (mask[d]) count *= x.shape()[d];
  Out* po = y.data<Out>();
  std::vector<Acc> tmp;
  Acc* acc = nullptr;
  if constexpr (std::is_same_v<Acc, Out>) {
    acc = po;
  } else {
    tmp.resize(n_out);
    acc = tmp.data();
  }
  if (x.numel() == 0) {
    std::fill(acc, acc + n_out, Op::identity());
  } else {
    reduce_groups<In, Acc, Op>(x.data<In>(), coalesce_axes(x.shape(), mask), acc);
  }
  if (mean) {
    if constexpr (std::is_floating_point_v<Acc>) {
      const Acc s = Acc(1) / static_cast<Acc>(count);  // count 0 gives NaN, as PyTorch
      parallel::parallel_for_if(n_out > kParallelGrain, 0, n_out, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) po[i] = static_cast<Out>(acc[i] * s);
      });
    }
  } else if constexpr (!std::is_same_v<Acc, Out>) {
    parallel::parallel_for_if(n_out > kParallelGrain, 0, n_out, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) po[i] = static_cast<Out>(acc[i]);
    });
  }
}

// (outer, R, inner) sizes around one axis.
void split_at(const Shape& s, int64_t axis, int64_t& outer, int64_t& R, int64_t& inner) {
  outer = R = inner = 1;
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
    if (d < axis) outer *= s[d];
    if (d == axis) R = s[d];
    if (d > axis) inner *= s[d];
  }
}

// True when v should replace the current best (first maximum; a NaN is maximal).
template <class T>
inline bool beats(T v, T best) {
  return !(best != best) && (v > best || v != v);
}

}  // namespace

void sum(const KernelArgs& k) {
  switch (k.inputs[0].dtype()) {
    case DType::float32:
      return run_reduce<float, double, float, SumOp<double>>(k, "sum", false);
    case DType::float64:
      return run_reduce<double, double, double, SumOp<double>>(k, "sum", false);
    case DType::int64:
      return run_reduce<int64_t, int64_t, int64_t, SumOp<int64_t>>(k, "sum", false);
    case DType::bool_:
      return run_reduce<bool, int64_t, int64_t, SumOp<int64_t>>(k, "sum", false);
    default:
      break;
  }
  throw Error(detail::cat("sum: dtype ", k.inputs[0].dtype(), " is not supported"));
}

void mean(const KernelArgs& k) {
  detail::dispatch_floating(k.inputs[0].dtype(), "mean", [&](auto tag) {
    using T = decltype(tag);
    run_reduce<T, double, T, SumOp<double>>(k, "mean", true);
  });
}

void max(const KernelArgs& k) {
  detail::dispatch_all(k.inputs[0].dtype(), "max", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      throw Error("max: bool tensors are not supported (expected float32, float64 or int64)");
    } else {
      run_reduce<T, T, T, MaxOp<T>>(k, "max", false);
    }
  });
}

void argmax(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const int64_t rank = x.dim();
  const int64_t axis = rank == 0 ? 0 : normalize_axis(k.attrs.i("axis"), rank, "argmax");
  int64_t outer, R, inner;
  split_at(x.shape(), axis, outer, R, inner);
  int64_t* po = k.outputs[0].data<int64_t>();
  if (k.outputs[0].numel() == 0) return;
  detail::dispatch_all(x.dtype(), "argmax", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    if (inner == 1) {  // contiguous rows: the (SIMD) maximum, then its first position
      parallel::parallel_for_if(
          x.numel() > kParallelGrain && outer > 1, 0, outer, [&](int64_t lo, int64_t hi) {
            for (int64_t o = lo; o < hi; ++o) {
              const T* row = px + o * R;
              T best = row[0];
              if constexpr (std::is_floating_point_v<T>) {
                best = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(row, R)
                           .template maxCoeff<Eigen::PropagateNaN>();
              } else {
                for (int64_t r = 1; r < R; ++r) best = row[r] > best ? row[r] : best;
              }
              int64_t idx = 0;
              if (best != best) {
                while (row[idx] == row[idx]) ++idx;  // the first NaN
              } else {
                while (row[idx] != best) ++idx;
              }
              po[o] = idx;
            }
          });
      return;
    }
    const int64_t ib = std::min(inner, kInnerBlock);
    const int64_t nib = (inner + ib - 1) / ib;
    const int64_t items = outer * nib;
    parallel::parallel_for_if(
        x.numel() > kParallelGrain && items > 1, 0, items, [&](int64_t lo, int64_t hi) {
          for (int64_t it = lo; it < hi; ++it) {
            const int64_t o = it / nib, i0 = (it % nib) * ib, n = std::min(inner, i0 + ib) - i0;
            const T* base = px + o * R * inner + i0;
            T best[kInnerBlock];
            int64_t idx[kInnerBlock];
            for (int64_t i = 0; i < n; ++i) {
              best[i] = base[i];
              idx[i] = 0;
            }
            for (int64_t r = 1; r < R; ++r) {
              const T* row = base + r * inner;
              for (int64_t i = 0; i < n; ++i) {
                if (beats(row[i], best[i])) {
                  best[i] = row[i];
                  idx[i] = r;
                }
              }
            }
            for (int64_t i = 0; i < n; ++i) po[o * inner + i0 + i] = idx[i];
          }
        });
  });
}

void max_backward(const KernelArgs& k) {
  const Tensor& g = k.inputs[0];
  const Tensor& x = k.inputs[1];
  const Tensor& dx = k.outputs[0];
  const Shape& s = x.shape();
  const std::vector<bool> mask = reduced_axes_mask(s, k.attrs.ints("axes"), "max_backward");
  std::memset(dx.data_ptr(), 0, dx.numel() * dtype_size(dx.dtype()));
  if (x.numel() == 0) return;
  // Kept and reduced axes (size-1 axes dropped), with x's contiguous strides; adjacent
  // reduced axes merge, keeping row-major order within a group.
  constexpr int kMaxDims = 64;
  const Shape st = contiguous_strides(s);
  int64_t ks[kMaxDims], kst[kMaxDims], rs[kMaxDims], rst[kMaxDims];
  int nk = 0, nr = 0;
  bool prev_reduced = false;
  for (size_t d = 0; d < s.size(); ++d) {
    if (s[d] == 1) continue;
    if (mask[d]) {
      if (prev_reduced && rst[nr - 1] == s[d] * st[d]) {
        rs[nr - 1] *= s[d];
        rst[nr - 1] = st[d];
      } else {
        DUET_ASSERT(nr < kMaxDims, "max_backward: too many axes");
        rs[nr] = s[d];
        rst[nr++] = st[d];
      }
    } else {
      DUET_ASSERT(nk < kMaxDims, "max_backward: too many axes");
      ks[nk] = s[d];
      kst[nk++] = st[d];
    }
    prev_reduced = mask[d];
  }
  int64_t R = 1;
  for (int d = 0; d < nr; ++d) R *= rs[d];
  const int64_t n_out = g.numel();
  detail::dispatch_floating(x.dtype(), "max_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    const T* pg = g.data<T>();
    T* pd = dx.data<T>();
    parallel::parallel_for_if(x.numel() > kParallelGrain && n_out > 1, 0, n_out,
                              [&](int64_t lo, int64_t hi) {
                                for (int64_t o = lo; o < hi; ++o) {
                                  int64_t base = 0, rem = o;
                                  for (int d = nk - 1; d >= 0; --d) {
                                    base += (rem % ks[d]) * kst[d];
                                    rem /= ks[d];
                                  }
                                  int64_t ctr[kMaxDims] = {};
                                  int64_t off = base, best_off = base;
                                  T best = px[base];
                                  for (int64_t r = 1; r < R; ++r) {
                                    int d = nr - 1;
                                    ++ctr[d];
                                    off += rst[d];
                                    while (ctr[d] == rs[d]) {
                                      off -= rs[d] * rst[d];
                                      ctr[d] = 0;
                                      --d;
                                      ++ctr[d];
                                      off += rst[d];
                                    }
                                    if (beats(px[off], best)) {
                                      best = px[off];
                                      best_off = off;
                                    }
                                  }
                                  pd[best_off] = pg[o];
                                }
                              });
  });
}

}  // namespace duet::cpu_kernels

// CUDA reductions: sum, mean, max over any axis set, argmax along one axis, max_backward and
// sum_to. As on the CPU (kernels/cpu/reduce_kernels.cpp), the input is coalesced into groups
// of adjacent kept/reduced axes and each reduced group is folded as an (outer, R, inner)
// problem, innermost group first, through scratch buffers of the accumulator type; float sums
// accumulate in double. The fold itself is axis::reduce_3d (kernels/cuda/axis_reduce.cuh).
// float16 / bfloat16 (sum, mean, sum_to, max, argmax): elements load as float (cuda/lowp.cuh),
// sums accumulate in double and max compares in float, and the result is rounded once to the
// dtype through float32, the bits of the float32 kernel followed by a cast.
#include <cstring>
#include <vector>

#include "core/dtype_dispatch.h"
#include "cuda/axis_reduce.cuh"
#include "cuda/lowp.cuh"
#include "geometry.h"
#include "reduce_kernels.h"
#include "shape_kernels.h"

namespace duet::cuda_kernels {
namespace {

using namespace axis;

using Group = kernels::AxisGroup;  // runs of kept / reduced axes (kernels/geometry.h)
using kernels::coalesce_axes;

// Folds every reduced group of x (contiguous, laid out as `g`) into out, innermost group
// first; intermediate results stay in the accumulator type.
template <class Op, class In, class Fin>
void reduce_groups(const In* x, std::vector<Group> g, typename Fin::Out* out, const Fin& fin,
                   const Launch& L, const char* op) {
  using Acc = typename Op::Acc;
  int j = static_cast<int>(g.size()) - 1;
  while (j >= 0 && !g[j].reduced) --j;
  if (j < 0) {  // nothing to reduce: out[i] = fin(combine(identity, x[i]))
    int64_t n = 1;
    for (auto& gr : g) n *= gr.size;
    reduce_3d<Op, In, Fin>(x, out, n, 1, 1, fin, L, op);
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
  bool more = false;
  for (const Group& gr : g) more = more || gr.reduced;
  if (!more) {
    reduce_3d<Op, In, Fin>(x, out, outer, R, inner, fin, L, op);
    return;
  }
  cuda_backend::Workspace tmp(static_cast<size_t>(outer * inner) * sizeof(Acc), L.device);
  Acc* t = static_cast<Acc*>(tmp.data());
  reduce_3d<Op, In, KeepAcc<Acc>>(x, t, outer, R, inner, KeepAcc<Acc>{}, L, op);
  reduce_groups<Op, Acc, Fin>(t, std::move(g), out, fin, L, op);
}

// out = fin(reduce(x)) over the axes in `mask`; mean divides by the group size.
template <class Op, class In, class Out>
void run_reduce(const Tensor& x, const std::vector<bool>& mask, const Tensor& y, bool mean,
                const char* op) {
  using Acc = typename Op::Acc;
  const int64_t n_out = y.numel();
  if (n_out == 0) return;
  int64_t count = 1;
  for (size_t d = 0; d < mask.size(); ++d)
    if (mask[d]) count *= x.shape()[d];
  CastOut<Acc, Out> fin;
  if (mean) {
    fin.mode = 1;
    fin.s = 1.0 / static_cast<double>(count);  // count 0 gives NaN, as on the CPU
  }
  const Launch L = launch_for(x);
  Out* po = static_cast<Out*>(y.data_ptr());
  if (x.numel() == 0) {
    fill_identity_kernel<Op, CastOut<Acc, Out>>
        <<<cuda_backend::blocks_for(n_out), kBlock, 0, L.stream>>>(po, n_out, fin);
    DUET_CUDA_CHECK_LAUNCH();
    return;
  }
  reduce_groups<Op, In, CastOut<Acc, Out>>(static_cast<const In*>(x.data_ptr()),
                                           coalesce_axes(x.shape(), mask), po, fin, L, op);
}

// y = sum(x) over `mask` (y contiguous, laid out as the keepdim result).
void sum_into(const Tensor& x, const std::vector<bool>& mask, const Tensor& y, const char* op) {
  if (is_low_precision(x.dtype())) lowp::expect_dtype(x.dtype(), op, y);
  switch (x.dtype()) {
    case DType::float32:
      return run_reduce<SumOp<double>, float, float>(x, mask, y, false, op);
    case DType::float64:
      return run_reduce<SumOp<double>, double, double>(x, mask, y, false, op);
    case DType::int64:
      return run_reduce<SumOp<int64_t>, int64_t, int64_t>(x, mask, y, false, op);
    case DType::bool_:
      if (y.dtype() == DType::int64)
        return run_reduce<SumOp<int64_t>, bool, int64_t>(x, mask, y, false, op);
      break;
    case DType::float16:
      return run_reduce<SumOp<double>, lowp::f16, lowp::f16>(x, mask, y, false, op);
    case DType::bfloat16:
      return run_reduce<SumOp<double>, lowp::bf16, lowp::bf16>(x, mask, y, false, op);
    default:
      break;
  }
  throw Error(detail::cat(op, ": dtype ", x.dtype(), " is not supported on CUDA"));
}

// ---- max_backward ---------------------------------------------------------------------------

// Sizes and strides of a list of axes; an index enumerates them row-major.
struct Dims {
  int n = 0;
  int64_t size[cuda_backend::kMaxDims];
  int64_t stride[cuda_backend::kMaxDims];
};

__device__ inline int64_t offset_of(int64_t idx, const Dims& d) {
  int64_t off = 0;
  for (int k = d.n - 1; k >= 0; --k) {
    const int64_t q = idx / d.size[k];
    off += (idx - q * d.size[k]) * d.stride[k];
    idx = q;
  }
  return off;
}

// dx[argmax position of group o] = g[o]; dx is zero elsewhere (set before the launch). The
// group's positions are enumerated row-major over the reduced axes; the first maximum wins.
template <class T>
__global__ void __launch_bounds__(kBlock)
    max_backward_kernel(const T* __restrict__ g, const T* __restrict__ x, T* __restrict__ dx,
                        int64_t n_out, Dims kept, Dims red, int64_t R, int by, int bz) {
  using Op = ArgMaxOp<T>;
  using Acc = typename Op::Acc;
  __shared__ SharedBytes sh;
  Acc* smem = reinterpret_cast<Acc*>(sh.b);
  const Coords c = coords(1, by, bz, 1);
  const bool valid = c.o < n_out;
  Acc acc = Op::identity();
  int64_t base = 0;
  if (valid) {
    base = offset_of(c.o, kept);
    for (int64_t r = c.ty; r < R; r += by)
      acc = Op::combine(acc, Op::load(x[base + offset_of(r, red)], r));
  }
  acc = reduce_y(acc, smem, c, 1, by, [](Acc a, Acc b) { return Op::combine(a, b); });
  if (valid && c.ty == 0) dx[base + offset_of(acc.i, red)] = g[c.o];
}

}  // namespace

void sum(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  sum_into(x, kernels::reduced_axes_mask(x.shape(), k.attrs.ints("axes"), "sum"), k.outputs[0],
           "sum");
}

void mean(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const auto mask = kernels::reduced_axes_mask(x.shape(), k.attrs.ints("axes"), "mean");
  lowp::expect_dtype(x.dtype(), "mean", k.outputs[0]);
  lowp::dispatch_floating(x.dtype(), "mean", [&](auto tag) {
    using T = decltype(tag);
    run_reduce<SumOp<double>, T, T>(x, mask, k.outputs[0], true, "mean");
  });
}

void max(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const auto mask = kernels::reduced_axes_mask(x.shape(), k.attrs.ints("axes"), "max");
  if (is_low_precision(x.dtype())) lowp::expect_dtype(x.dtype(), "max", k.outputs[0]);
  switch (x.dtype()) {
    case DType::float32:
      return run_reduce<MaxOp<float>, float, float>(x, mask, k.outputs[0], false, "max");
    case DType::float64:
      return run_reduce<MaxOp<double>, double, double>(x, mask, k.outputs[0], false, "max");
    case DType::int64:
      return run_reduce<MaxOp<int64_t>, int64_t, int64_t>(x, mask, k.outputs[0], false, "max");
    case DType::float16:
      return run_reduce<MaxOp<float>, lowp::f16, lowp::f16>(x, mask, k.outputs[0], false, "max");
    case DType::bfloat16:
      return run_reduce<MaxOp<float>, lowp::bf16, lowp::bf16>(x, mask, k.outputs[0], false, "max");
    default:
      break;
  }
  throw Error(detail::cat("max: dtype ", x.dtype(),
                          " is not supported (expected float32, float64, int64, float16 or "
                          "bfloat16)"));
}

void argmax(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const Tensor& y = k.outputs[0];
  if (y.numel() == 0) return;
  // (outer, R, inner) around the axis; a 0-d x is one row of one element.
  const kernels::AxisSplit a = x.dim() == 0
                                   ? kernels::AxisSplit{}
                                   : kernels::split_at_axis(x.shape(), k.attrs.i("axis"), "argmax");
  const int64_t outer = a.outer, R = a.C, inner = a.inner;
  const Launch L = launch_for(x);
  int64_t* po = static_cast<int64_t*>(y.data_ptr());
  auto run = [&](auto tag) {
    using T = decltype(tag);
    reduce_3d<ArgMaxOp<T>, T, IndexOut<T>>(static_cast<const T*>(x.data_ptr()), po, outer, R, inner,
                                           IndexOut<T>{}, L, "argmax");
  };
  // 16-bit elements compared as float (exact), the first maximum winning as for float32.
  auto run_low = [&](auto tag) {
    using L16 = decltype(tag);
    reduce_3d<ArgMaxOp<float>, L16, IndexOut<float>>(
        static_cast<const L16*>(x.data_ptr()), po, outer, R, inner, IndexOut<float>{}, L, "argmax");
  };
  switch (x.dtype()) {
    case DType::float32:
      return run(float{});
    case DType::float64:
      return run(double{});
    case DType::int64:
      return run(int64_t{});
    case DType::float16:
      return run_low(lowp::f16{});
    case DType::bfloat16:
      return run_low(lowp::bf16{});
    default:
      break;
  }
  throw Error(detail::cat("argmax: dtype ", x.dtype(),
                          " is not supported (expected float32, float64, int64, float16 or "
                          "bfloat16)"));
}

void max_backward(const KernelArgs& k) {
  const Tensor& g = k.inputs[0];
  const Tensor& x = k.inputs[1];
  const Tensor& dx = k.outputs[0];
  const Shape& s = x.shape();
  const std::vector<bool> mask =
      kernels::reduced_axes_mask(s, k.attrs.ints("axes"), "max_backward");
  const Launch L = launch_for(x);
  if (dx.numel() == 0) return;
  DUET_CUDA_CHECK(cudaMemsetAsync(dx.data_ptr(), 0, dx.numel() * dtype_size(dx.dtype()), L.stream));
  // Kept and reduced axes (size-1 axes dropped); adjacent axes of one kind merge, which keeps
  // the row-major order within the group (x is contiguous).
  const Shape st = contiguous_strides(s);
  Dims kept, red;
  int prev = -1;  // kind of the previous non-1 axis: 0 kept, 1 reduced
  for (size_t d = 0; d < s.size(); ++d) {
    if (s[d] == 1) continue;
    const int kind = mask[d] ? 1 : 0;
    Dims& D = kind ? red : kept;
    if (prev == kind) {
      D.size[D.n - 1] *= s[d];
      D.stride[D.n - 1] = st[d];
    } else {
      DUET_CHECK(D.n < cuda_backend::kMaxDims, "max_backward: x of shape ", shape_str(s),
                 " with axes ", shape_str(k.attrs.ints("axes")), " has more than ",
                 cuda_backend::kMaxDims, " separate axis groups (the CUDA kernel's limit)");
      D.size[D.n] = s[d];
      D.stride[D.n++] = st[d];
    }
    prev = kind;
  }
  int64_t R = 1;
  for (int d = 0; d < red.n; ++d) R *= red.size[d];
  const int64_t n_out = g.numel();
  const int by = pow2_at_least(R, kBlock), bz = kBlock / by;
  const unsigned blocks = grid_x((n_out + bz - 1) / bz, "max_backward");
  detail::dispatch_floating(x.dtype(), "max_backward", [&](auto tag) {
    using T = decltype(tag);
    max_backward_kernel<T><<<blocks, kBlock, 0, L.stream>>>(
        static_cast<const T*>(g.data_ptr()), static_cast<const T*>(x.data_ptr()),
        static_cast<T*>(dx.data_ptr()), n_out, kept, red, R, by, bz);
    DUET_CUDA_CHECK_LAUNCH();
  });
}

// Declared in cuda/shape_kernels.h: the broadcast axes of x summed away (as the CPU kernel).
void sum_to(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const Tensor& y = k.outputs[0];
  const Shape& xs = x.shape();
  const Shape& os = y.shape();
  const size_t lead = xs.size() - os.size();
  std::vector<bool> mask(xs.size(), false);
  bool any = false;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i < lead || (os[i - lead] == 1 && xs[i] != 1)) {
      mask[i] = true;
      any = true;
    }
  }
  if (!any) {  // same elements in the same order
    if (y.numel() > 0)
      DUET_CUDA_CHECK(cudaMemcpyAsync(y.data_ptr(), x.data_ptr(), y.numel() * dtype_size(y.dtype()),
                                      cudaMemcpyDeviceToDevice, cuda_backend::stream_for(x)));
    return;
  }
  DUET_CHECK(y.dtype() == x.dtype() && x.dtype() != DType::bool_, "sum_to: dtype ", x.dtype(),
             " is not supported (expected float32, float64 or int64)");
  sum_into(x, mask, y, "sum_to");
}

}  // namespace duet::cuda_kernels

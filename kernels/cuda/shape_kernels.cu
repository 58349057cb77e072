// CUDA kernels for the shape ops that move data: concat, pad, slice_backward and the strided,
// dtype-converting copy behind clone and cast (every dtype pair, float16 and bfloat16
// included: cuda/lowp.cuh). Data movement without conversion works on raw
// words of the element size, so every dtype shares one instantiation per size. (sum_to lives
// in reduce_kernels.cu.)
#include <algorithm>
#include <cstring>

#include "cuda/lowp.cuh"
#include "cuda/runtime.h"
#include "shape_kernels.h"

namespace duet::cuda_kernels {
namespace {

using cuda_backend::kMaxDims;
using cuda_backend::kThreads;
using cuda_backend::StridedMeta;

#define DUET_GRID_STRIDE_LOOP(i, n)                                                      \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// Calls f(W{}) with W an unsigned word of the element size.
template <class F>
void by_element_size(DType t, const char* op, F&& f) {
  switch (dtype_size(t)) {
    case 1:
      return f(uint8_t{});
    case 2:
      return f(uint16_t{});
    case 4:
      return f(uint32_t{});
    case 8:
      return f(uint64_t{});
    default:
      break;
  }
  throw Error(detail::cat(op, ": dtype ", t, " is not supported on CUDA"));
}

// ---- copy (clone, cast) ---------------------------------------------------------------------

// t's sizes and strides with size-1 dimensions dropped and dimensions that are contiguous with
// the next one merged, so a contiguous tensor becomes rank 1 with stride 1 (the kernel's fast
// path) and any rank works as long as at most kMaxDims dimensions remain.
StridedMeta coalesced_meta(const Tensor& t, const char* op) {
  StridedMeta r;
  r.rank = 0;
  for (int64_t d = 0; d < t.dim(); ++d) {
    const int64_t size = t.shape()[d], stride = t.strides()[d];
    if (size == 1) continue;
    if (r.rank > 0 && r.strides[r.rank - 1] == stride * size) {
      r.sizes[r.rank - 1] *= size;
      r.strides[r.rank - 1] = stride;
      continue;
    }
    DUET_CHECK(r.rank < kMaxDims, op, ": input of shape ", shape_str(t.shape()), " and strides ",
               shape_str(t.strides()), " has more than ", kMaxDims,
               " non-mergeable dimensions (the CUDA kernel's limit)");
    r.sizes[r.rank] = size;
    r.strides[r.rank++] = stride;
  }
  return r;
}

// dst[e] = D(src[offset of e]); dst contiguous, src laid out as m (row-major index e).
template <class S, class D>
__global__ void convert_kernel(const S* __restrict__ src, StridedMeta m, D* __restrict__ dst,
                               int64_t n) {
  const bool flat = m.rank == 1 && m.strides[0] == 1;
  DUET_GRID_STRIDE_LOOP(e, n) {
    int64_t off = e;
    if (!flat) {
      off = 0;
      int64_t rem = e;
      for (int d = m.rank - 1; d >= 0; --d) {
        const int64_t q = rem / m.sizes[d];
        off += (rem - q * m.sizes[d]) * m.strides[d];
        rem = q;
      }
    }
    dst[e] = static_cast<D>(src[off]);
  }
}

// ---- concat ---------------------------------------------------------------------------------

// x (outer, row) into columns [at, at + row) of out (outer, out_row).
template <class W>
__global__ void concat_kernel(const W* __restrict__ src, W* __restrict__ dst, int64_t outer,
                              int64_t row, int64_t out_row, int64_t at) {
  DUET_GRID_STRIDE_LOOP(e, outer * row) {
    const int64_t o = e / row;
    dst[o * out_row + at + (e - o * row)] = src[e];
  }
}

// ---- pad ------------------------------------------------------------------------------------

struct PadMeta {
  int rank = 0;
  int64_t out_size[kMaxDims];
  int64_t in_size[kMaxDims];
  int64_t before[kMaxDims];
};

template <class W>
__global__ void pad_kernel(const W* __restrict__ x, W* __restrict__ y, PadMeta m, W value,
                           int64_t n) {
  DUET_GRID_STRIDE_LOOP(e, n) {
    int64_t rem = e, in_off = 0, in_stride = 1;
    bool inside = true;
    for (int d = m.rank - 1; d >= 0; --d) {
      const int64_t q = rem / m.out_size[d];
      const int64_t ci = rem - q * m.out_size[d] - m.before[d];
      rem = q;
      inside = inside && ci >= 0 && ci < m.in_size[d];
      in_off += ci * in_stride;
      in_stride *= m.in_size[d];
    }
    y[e] = inside ? x[in_off] : value;
  }
}

// ---- slice_backward -------------------------------------------------------------------------

// out (outer, n_axis, inner) = g (outer, len, inner) at axis positions start + j * step, else 0.
template <class W>
__global__ void slice_backward_kernel(const W* __restrict__ g, W* __restrict__ out, int64_t n,
                                      int64_t n_axis, int64_t inner, int64_t start, int64_t step,
                                      int64_t len) {
  DUET_GRID_STRIDE_LOOP(e, n) {
    const int64_t t = e / inner, i = e - t * inner;
    const int64_t o = t / n_axis, a = t - o * n_axis;
    W v = 0;
    const int64_t d = a - start;
    if (d >= 0 && d % step == 0 && d / step < len) v = g[(o * len + d / step) * inner + i];
    out[e] = v;
  }
}

void copy_bytes(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  if (bytes) DUET_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
}

}  // namespace

void copy(const KernelArgs& k) {
  const Tensor& src = k.inputs[0];
  const Tensor& dst = k.outputs[0];
  const int64_t n = dst.numel();
  if (n == 0) return;
  const cudaStream_t stream = cuda_backend::stream_for(dst);
  if (src.dtype() == dst.dtype() && src.is_contiguous()) {
    copy_bytes(dst.data_ptr(), src.data_ptr(), n * dtype_size(dst.dtype()), stream);
    return;
  }
  const StridedMeta m = coalesced_meta(src, "copy");
  lowp::dispatch_all(src.dtype(), "copy", [&](auto stag) {
    using S = decltype(stag);
    lowp::dispatch_all(dst.dtype(), "copy", [&](auto dtag) {
      using D = decltype(dtag);
      convert_kernel<S, D><<<cuda_backend::blocks_for(n), kThreads, 0, stream>>>(
          static_cast<const S*>(src.data_ptr()), m, static_cast<D*>(dst.data_ptr()), n);
      DUET_CUDA_CHECK_LAUNCH();
    });
  });
}

void concat(const KernelArgs& k) {
  const Tensor& out = k.outputs[0];
  if (out.numel() == 0) return;
  const int64_t axis = normalize_axis(k.attrs.i("axis"), out.dim(), "concat");
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= out.shape()[d];
  const int64_t out_row = out.numel() / outer;
  const cudaStream_t stream = cuda_backend::stream_for(out);
  by_element_size(out.dtype(), "concat", [&](auto wtag) {
    using W = decltype(wtag);
    int64_t at = 0;
    for (const Tensor& x : k.inputs) {
      const int64_t row = x.numel() / outer;
      if (row > 0) {
        W* dst = static_cast<W*>(out.data_ptr());
        const W* src = static_cast<const W*>(x.data_ptr());
        if (outer == 1) {
          copy_bytes(dst + at, src, row * sizeof(W), stream);
        } else {
          concat_kernel<W><<<cuda_backend::blocks_for(outer * row), kThreads, 0, stream>>>(
              src, dst, outer, row, out_row, at);
          DUET_CUDA_CHECK_LAUNCH();
        }
      }
      at += row;
    }
  });
}

void pad(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const Tensor& y = k.outputs[0];
  const int64_t n = y.numel();
  if (n == 0) return;
  const auto& pads = k.attrs.ints("pads");
  const double value = k.attrs.f("value");
  const cudaStream_t stream = cuda_backend::stream_for(y);
  const int64_t r = x.dim(), P = static_cast<int64_t>(pads.size() / 2);
  if (P == 0) {
    copy_bytes(y.data_ptr(), x.data_ptr(), n * dtype_size(y.dtype()), stream);
    return;
  }
  // Leading unpadded axes merge into one; then one entry per padded axis.
  PadMeta m;
  const int64_t lead = r - P;
  if (lead > 0) {
    int64_t s = 1;
    for (int64_t d = 0; d < lead; ++d) s *= x.shape()[d];
    m.out_size[0] = m.in_size[0] = s;
    m.before[0] = 0;
    m.rank = 1;
  }
  DUET_CHECK(m.rank + P <= kMaxDims, "pad: ", P, " padded axes (", shape_str(pads),
             ") exceed the CUDA kernel's limit of ", kMaxDims - 1);
  for (int64_t d = lead; d < r; ++d) {
    const int64_t i = r - 1 - d;  // pads[2i], pads[2i + 1] pad axis d
    m.in_size[m.rank] = x.shape()[d];
    m.out_size[m.rank] = y.shape()[d];
    m.before[m.rank++] = pads[2 * i];
  }
  // The fill value converted as fill_ converts it (static_cast from double).
  by_element_size(y.dtype(), "pad", [&](auto wtag) {
    using W = decltype(wtag);
    W w{};
    lowp::dispatch_all(y.dtype(), "pad", [&](auto tag) {
      using T = decltype(tag);
      static_assert(sizeof(T) <= sizeof(uint64_t));
      if constexpr (sizeof(T) == sizeof(W)) {
        const T v = lowp::host_cast<T>(value);
        std::memcpy(&w, &v, sizeof(W));
      }
    });
    pad_kernel<W><<<cuda_backend::blocks_for(n), kThreads, 0, stream>>>(
        static_cast<const W*>(x.data_ptr()), static_cast<W*>(y.data_ptr()), m, w, n);
    DUET_CUDA_CHECK_LAUNCH();
  });
}

void slice_backward(const KernelArgs& k) {
  const Tensor& g = k.inputs[0];
  const Tensor& out = k.outputs[0];
  const int64_t n = out.numel();
  if (n == 0) return;
  // The slice's range, normalised as slice_range in src/ops/shape_ops.cpp (Python semantics).
  const Shape& in = out.shape();
  const int64_t axis = normalize_axis(k.attrs.i("axis"), out.dim(), "slice_backward");
  const int64_t n_axis = in[axis], step = k.attrs.i("step");
  int64_t start = k.attrs.i("start"), end = k.attrs.i("end");
  if (start < 0) start += n_axis;
  if (end < 0) end += n_axis;
  start = std::clamp<int64_t>(start, 0, n_axis);
  end = std::clamp<int64_t>(end, 0, n_axis);
  const int64_t len = end > start ? (end - start + step - 1) / step : 0;
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < out.dim(); ++d) inner *= in[d];
  const cudaStream_t stream = cuda_backend::stream_for(out);
  by_element_size(out.dtype(), "slice_backward", [&](auto wtag) {
    using W = decltype(wtag);
    slice_backward_kernel<W><<<cuda_backend::blocks_for(n), kThreads, 0, stream>>>(
        static_cast<const W*>(g.data_ptr()), static_cast<W*>(out.data_ptr()), n, n_axis, inner,
        start, step, len);
    DUET_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace duet::cuda_kernels

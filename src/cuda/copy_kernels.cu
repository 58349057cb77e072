// Strided copy with dtype conversion and fill: the device half of copies, casts of views,
// contiguous() and fill_ on CUDA tensors, for every dtype pair (float16 and bfloat16 convert
// through float32 with round to nearest even, as the CPU does).
#include "cuda/copy_kernels.h"
#include "cuda/lowp.cuh"

namespace duet::cuda_backend {
namespace {

// Offset (elements) of flat row-major index i of `m.sizes` under `m.strides`.
__device__ __forceinline__ int64_t strided_offset(int64_t i, const StridedMeta& m) {
  int64_t off = 0;
  for (int d = m.rank - 1; d >= 0; --d) {
    const int64_t idx = i % m.sizes[d];
    i /= m.sizes[d];
    off += idx * m.strides[d];
  }
  return off;
}

template <class S, class D>
__global__ void strided_copy_kernel(const S* src, StridedMeta sm, D* dst, StridedMeta dm,
                                    int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{blockDim.x} * gridDim.x) {
    dst[strided_offset(i, dm)] = static_cast<D>(src[strided_offset(i, sm)]);
  }
}

template <class T>
__global__ void fill_kernel(T* dst, StridedMeta m, int64_t n, T value) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{blockDim.x} * gridDim.x) {
    dst[strided_offset(i, m)] = value;
  }
}

// Calls f(T{}) for the element type of a dtype (lowp::bf16 / lowp::f16 for the 16-bit ones:
// conversions round to nearest even with the CPU's bits, cuda/lowp.cuh).
template <class F>
void dispatch(DType t, F&& f) {
  cuda_kernels::lowp::dispatch_all(t, "CUDA copy", f);
}

}  // namespace

void launch_strided_copy(const void* src, DType src_dtype, const StridedMeta& src_meta, void* dst,
                         DType dst_dtype, const StridedMeta& dst_meta, int64_t n,
                         cudaStream_t stream) {
  if (n == 0) return;
  dispatch(src_dtype, [&](auto s) {
    using S = decltype(s);
    dispatch(dst_dtype, [&](auto d) {
      using D = decltype(d);
      strided_copy_kernel<S, D><<<blocks_for(n), kThreads, 0, stream>>>(
          static_cast<const S*>(src), src_meta, static_cast<D*>(dst), dst_meta, n);
    });
  });
  DUET_CUDA_CHECK_LAUNCH();
}

void launch_fill(void* dst, DType dtype, const StridedMeta& meta, int64_t n, double value,
                 cudaStream_t stream) {
  if (n == 0) return;
  dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    fill_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<T*>(dst), meta, n,
                                                           cuda_kernels::lowp::host_cast<T>(value));
  });
  DUET_CUDA_CHECK_LAUNCH();
}

namespace {

constexpr int kWriteBlock = 64;
struct Int64Block {
  int64_t v[kWriteBlock];
};

__global__ void write_int64_kernel(int64_t* dst, Int64Block values, int n) {
  const int i = threadIdx.x;
  if (i < n) dst[i] = values.v[i];
}

}  // namespace

void launch_write_int64(int64_t* dst, const int64_t* values, int64_t n, cudaStream_t stream) {
  for (int64_t off = 0; off < n; off += kWriteBlock) {
    Int64Block b{};
    const int m = static_cast<int>(n - off < kWriteBlock ? n - off : kWriteBlock);
    for (int i = 0; i < m; ++i) b.v[i] = values[off + i];
    write_int64_kernel<<<1, kWriteBlock, 0, stream>>>(dst + off, b, m);
    DUET_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace duet::cuda_backend

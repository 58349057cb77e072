// Copies involving CUDA tensors (host<->device, device<->device, with dtype conversion and any
// strides), fills, and the strided metadata kernels take by value.
//
// Host-to-device copies go through two pinned staging buffers per device on the device's
// stream: the host data is copied into a pinned buffer and queued; the call returns once
// the source has been read, not when the upload has finished. Device-to-host copies wait
// for the stream (the host is about to read the values).
#include <cstring>
#include <mutex>
#include <vector>

#include "core/copy.h"
#include "core/device_backend.h"
#include "core/tensor_impl.h"
#include "cuda/copy_kernels.h"
#include "cuda/runtime.h"

namespace duet {
namespace cuda_backend {

StridedMeta strided_meta(const Tensor& t, const char* op) {
  DUET_CHECK(t.dim() <= kMaxDims, op, ": tensor of shape ", shape_str(t.shape()), " has rank ",
             t.dim(), "; CUDA kernels take at most ", kMaxDims, " dimensions");
  StridedMeta m;
  m.rank = static_cast<int>(t.dim());
  for (int d = 0; d < m.rank; ++d) {
    m.sizes[d] = t.shape()[d];
    m.strides[d] = t.strides()[d];
  }
  return m;
}

StridedMeta broadcast_meta(const Tensor& t, const Shape& out, const char* op) {
  DUET_CHECK(static_cast<int>(out.size()) <= kMaxDims, op, ": output shape ", shape_str(out),
             " has rank ", out.size(), "; CUDA kernels take at most ", kMaxDims, " dimensions");
  DUET_ASSERT(t.dim() <= static_cast<int64_t>(out.size()), op, ": cannot broadcast ",
              shape_str(t.shape()), " to ", shape_str(out));
  StridedMeta m;
  m.rank = static_cast<int>(out.size());
  const int lead = m.rank - static_cast<int>(t.dim());
  for (int d = 0; d < m.rank; ++d) {
    m.sizes[d] = out[d];
    if (d < lead) {
      m.strides[d] = 0;
    } else {
      const int64_t s = t.shape()[d - lead];
      DUET_ASSERT(s == out[d] || s == 1, op, ": cannot broadcast ", shape_str(t.shape()), " to ",
                  shape_str(out));
      m.strides[d] = s == 1 ? 0 : t.strides()[d - lead];
    }
  }
  return m;
}

namespace {

constexpr size_t kStagingBytes = size_t{8} << 20;  // per buffer; two per device

struct Staging {
  std::mutex mu;
  void* buf[2] = {nullptr, nullptr};
  cudaEvent_t done[2] = {nullptr, nullptr};  // last copy out of / into buf[i] finished
  int next = 0;
};

Staging& staging(int index) {
  static std::mutex mu;
  static auto* all = new std::vector<std::unique_ptr<Staging>>();  // leaked on purpose
  std::lock_guard<std::mutex> lock(mu);
  if (static_cast<int>(all->size()) <= index) all->resize(index + 1);
  auto& s = (*all)[index];
  if (!s) {
    s = std::make_unique<Staging>();
    context(index);
    for (int i = 0; i < 2; ++i) {
      DUET_CUDA_CHECK(cudaMallocHost(&s->buf[i], kStagingBytes));
      DUET_CUDA_CHECK(cudaEventCreateWithFlags(&s->done[i], cudaEventDisableTiming));
    }
  }
  return *s;
}

// Calls f(buffer, offset, length) for each staging-sized chunk of n bytes, alternating the
// two pinned buffers, with the device's staging lock held.
template <class F>
void in_chunks(int index, size_t n, F&& f) {
  Staging& st = staging(index);
  std::lock_guard<std::mutex> lock(st.mu);
  for (size_t off = 0; off < n; off += kStagingBytes) {
    const int b = st.next;
    st.next ^= 1;
    f(st, b, off, std::min(kStagingBytes, n - off));
  }
}

// Contiguous host bytes -> contiguous device bytes, through the pinned buffers.
void upload(void* dst, const void* src, size_t n, int index) {
  DeviceContext& ctx = context(index);
  in_chunks(index, n, [&](Staging& st, int b, size_t off, size_t len) {
    // The buffer's previous upload must be done (a host wait only if it is still queued).
    const cudaError_t ready = cudaEventQuery(st.done[b]);
    if (ready == cudaErrorNotReady) {
      detail::note_cuda_sync();
      DUET_CUDA_CHECK(cudaEventSynchronize(st.done[b]));
    } else {
      DUET_CUDA_CHECK(ready);
    }
    std::memcpy(st.buf[b], static_cast<const char*>(src) + off, len);
    DUET_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(dst) + off, st.buf[b], len,
                                    cudaMemcpyHostToDevice, ctx.stream));
    DUET_CUDA_CHECK(cudaEventRecord(st.done[b], ctx.stream));
  });
}

// Contiguous device bytes -> contiguous host bytes, through the pinned buffers (waits).
void download(void* dst, const void* src, size_t n, int index) {
  DeviceContext& ctx = context(index);
  in_chunks(index, n, [&](Staging& st, int b, size_t off, size_t len) {
    DUET_CUDA_CHECK(cudaMemcpyAsync(st.buf[b], static_cast<const char*>(src) + off, len,
                                    cudaMemcpyDeviceToHost, ctx.stream));
    DUET_CUDA_CHECK(cudaEventRecord(st.done[b], ctx.stream));
    detail::note_cuda_sync();
    DUET_CUDA_CHECK(cudaEventSynchronize(st.done[b]));
    std::memcpy(static_cast<char*>(dst) + off, st.buf[b], len);
  });
}

size_t nbytes_of(const Tensor& t) {
  return static_cast<size_t>(t.numel()) * dtype_size(t.dtype());
}

// src and dst on the same CUDA device.
void device_copy(const Tensor& src, const Tensor& dst) {
  DeviceContext& ctx = context_for(dst);
  if (src.dtype() == dst.dtype() && src.is_contiguous() && dst.is_contiguous()) {
    if (nbytes_of(dst))
      DUET_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr(), src.data_ptr(), nbytes_of(dst),
                                      cudaMemcpyDeviceToDevice, ctx.stream));
    return;
  }
  launch_strided_copy(src.data_ptr(), src.dtype(), strided_meta(src, "copy"), dst.data_ptr(),
                      dst.dtype(), strided_meta(dst, "copy"), dst.numel(), ctx.stream);
}

// A contiguous tensor with dst's shape and dtype on `device`, holding src's values, made on
// src's device (conversion and broadcast happen there).
Tensor converted_on_source(const Tensor& src, const Tensor& dst) {
  if (src.dtype() == dst.dtype() && src.is_contiguous() && src.shape() == dst.shape() &&
      src.numel() == duet::numel(src.shape()))
    return src;
  Tensor t(detail::make_impl(dst.shape(), dst.dtype(), src.device()));
  detail::strided_copy(src, t);
  return t;
}

}  // namespace

void copy_tensor(const Tensor& src, const Tensor& dst) {
  const Device sd = src.device(), dd = dst.device();
  if (dst.numel() == 0) return;
  if (sd == dd) return device_copy(src, dst);
  // Convert (and broadcast) where the data is, then move contiguous bytes.
  Tensor s = converted_on_source(src, dst);
  Tensor d = dst.is_contiguous() ? dst : Tensor(detail::make_impl(dst.shape(), dst.dtype(), dd));
  if (sd.type == DeviceType::cpu) {
    upload(d.data_ptr(), s.data_ptr(), nbytes_of(d), dd.index);
  } else if (dd.type == DeviceType::cpu) {
    download(d.data_ptr(), s.data_ptr(), nbytes_of(d), sd.index);
  } else {  // two GPUs: wait for the source, copy peer-to-peer on the destination's stream
    detail::note_cuda_sync();
    DUET_CUDA_CHECK(cudaStreamSynchronize(context(sd).stream));
    DUET_CUDA_CHECK(cudaMemcpyPeerAsync(d.data_ptr(), dd.index, s.data_ptr(), sd.index,
                                        nbytes_of(d), context(dd).stream));
  }
  if (!d.is_same(dst)) detail::strided_copy(d, dst);
}

void fill_tensor(const Tensor& dst, double value) {
  DeviceContext& ctx = context_for(dst);
  if (value == 0.0 && dst.is_contiguous()) {
    if (nbytes_of(dst))
      DUET_CUDA_CHECK(cudaMemsetAsync(dst.data_ptr(), 0, nbytes_of(dst), ctx.stream));
    return;
  }
  launch_fill(dst.data_ptr(), dst.dtype(), strided_meta(dst, "fill_"), dst.numel(), value,
              ctx.stream);
}

void write_int64(const Tensor& dst, const int64_t* values, int64_t n) {
  DUET_CHECK(dst.dtype() == int64 && dst.is_contiguous() && dst.numel() == n,
             "cuda_write_int64: expected a contiguous int64 tensor of ", n, " elements, got ",
             shape_str(dst.shape()), " ", dtype_name(dst.dtype()));
  if (n)
    launch_write_int64(static_cast<int64_t*>(dst.data_ptr()), values, n, context_for(dst).stream);
}

}  // namespace cuda_backend
}  // namespace duet

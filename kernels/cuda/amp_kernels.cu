// Loss scaling on CUDA (kernels/amp_kernels.h): amp_unscale (the gradients' inf/NaN check
// fused with the unscale, one pass) and amp_update_scale (torch._amp_update_scale_'s rule, one
// thread). Every scalar (inv_scale, found_inf, scale, growth_tracker) is read and written on
// the device, so a compiled training step with a GradScaler runs and replays from a CUDA Graph
// without a host synchronisation.
#include <cstdint>

#include "amp_kernels.h"
#include "cuda/elementwise.cuh"
#include "cuda/lowp.cuh"
#include "cuda/runtime.h"

namespace duet::cuda_kernels {
namespace {

using cuda_backend::blocks_for;
using cuda_backend::kThreads;

// found_out = (found_in != null && *found_in != 0) ? 1 : 0; before the scan (stream order).
__global__ void init_found_kernel(const float* found_in, float* found_out) {
  *found_out = found_in && *found_in != 0.0f ? 1.0f : 0.0f;
}

// y[i] = g[i] * inv_scale in C (float for float32 / float16 / bfloat16, double for float64),
// rounded to T; found_out = 1 when any g[i] is inf or NaN (every writer stores the same 1, so
// the race is benign). y may be g (each thread reads its element before writing it).
template <class T>
__global__ void unscale_kernel(const T* g, const float* __restrict__ inv_scale, int64_t n, T* y,
                               float* __restrict__ found_out) {
  using C = lowp::compute_t<T>;
  const C s = static_cast<C>(*inv_scale);
  bool bad = false;
  DUET_EW_LOOP(i, n) {
    const C v = static_cast<C>(g[i]);
    bad = bad || !isfinite(v);
    y[i] = static_cast<T>(v * s);
  }
  if (__syncthreads_or(bad) && threadIdx.x == 0) *found_out = 1.0f;
}

__global__ void update_scale_kernel(float* scale, int64_t* tracker, const float* found_inf,
                                    int64_t* skipped, double growth_factor, double backoff_factor,
                                    int64_t growth_interval) {
  if (*found_inf != 0.0f) {
    *scale = static_cast<float>(static_cast<double>(*scale) * backoff_factor);
    *tracker = 0;
    if (skipped) *skipped += 1;
    return;
  }
  const int64_t successful = *tracker + 1;
  if (successful == growth_interval) {
    const float grown = static_cast<float>(static_cast<double>(*scale) * growth_factor);
    if (isfinite(grown)) *scale = grown;  // never grow past float32's range to inf
    *tracker = 0;
  } else {
    *tracker = successful;
  }
}

}  // namespace

void amp_unscale(const KernelArgs& k) {
  const Tensor& g = k.inputs[0];
  const Tensor& out = k.outputs[0];
  float* found_out = static_cast<float*>(k.outputs[1].data_ptr());
  const float* found_in =
      k.inputs.size() > 2 ? static_cast<const float*>(k.inputs[2].data_ptr()) : nullptr;
  const float* inv_scale = static_cast<const float*>(k.inputs[1].data_ptr());
  const cudaStream_t s = cuda_backend::stream_for(out);
  init_found_kernel<<<1, 1, 0, s>>>(found_in, found_out);
  DUET_CUDA_CHECK_LAUNCH();
  const int64_t n = g.numel();
  if (n == 0) return;
  DUET_CHECK(g.dtype() == out.dtype(), "amp_unscale: the gradient (", g.dtype(),
             ") and the output (", out.dtype(), ") differ in dtype");
  lowp::dispatch_floating(g.dtype(), "amp_unscale", [&](auto tag) {
    using T = decltype(tag);
    unscale_kernel<T>
        <<<blocks_for(n), kThreads, 0, s>>>(static_cast<const T*>(g.data_ptr()), inv_scale, n,
                                            static_cast<T*>(out.data_ptr()), found_out);
    DUET_CUDA_CHECK_LAUNCH();
  });
}

void amp_update_scale(const KernelArgs& k) {
  int64_t* skipped = k.inputs.size() > 3 ? static_cast<int64_t*>(k.inputs[3].data_ptr()) : nullptr;
  update_scale_kernel<<<1, 1, 0, cuda_backend::stream_for(k.inputs[0])>>>(
      static_cast<float*>(k.inputs[0].data_ptr()), static_cast<int64_t*>(k.inputs[1].data_ptr()),
      static_cast<const float*>(k.inputs[2].data_ptr()), skipped, k.attrs.f("growth_factor"),
      k.attrs.f("backoff_factor"), k.attrs.i("growth_interval"));
  DUET_CUDA_CHECK_LAUNCH();
}

}  // namespace duet::cuda_kernels

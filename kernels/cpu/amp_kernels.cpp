// Loss scaling on the CPU (kernels/amp_kernels.h): the gradients' inf/NaN check fused with the
// unscale (one pass over each gradient), and the scale's update.
#include "amp_kernels.h"

#include <atomic>
#include <cmath>
#include <cstdint>

#include "core/dtype_dispatch.h"
#include "core/parallel.h"
#include "cpu/elementwise_kernels.h"

namespace duet::cpu_kernels {

void amp_unscale(const KernelArgs& k) {
  const Tensor& g = k.inputs[0];
  const float inv_scale = *static_cast<const float*>(k.inputs[1].data_ptr());
  bool found = k.inputs.size() > 2 && *static_cast<const float*>(k.inputs[2].data_ptr()) != 0.0f;
  std::atomic<bool> found_here{false};
  detail::dispatch_floating(g.dtype(), "amp_unscale", [&](auto tag) {
    using T = decltype(tag);
    const T* x = static_cast<const T*>(g.data_ptr());
    T* y = static_cast<T*>(k.outputs[0].data_ptr());
    const T s = static_cast<T>(inv_scale);
    const int64_t n = g.numel();
    parallel::parallel_for_if(n > kParallelGrain, 0, n, [&](int64_t lo, int64_t hi) {
      bool bad = false;
      for (int64_t j = lo; j < hi; ++j) {
        const T v = x[j];  // read before the write: y may be x
        bad = bad || !std::isfinite(v);
        y[j] = v * s;
      }
      if (bad) found_here.store(true, std::memory_order_relaxed);
    });
  });
  found = found || found_here.load();
  *static_cast<float*>(k.outputs[1].data_ptr()) = found ? 1.0f : 0.0f;
}

void amp_update_scale(const KernelArgs& k) {
  float* scale = static_cast<float*>(k.inputs[0].data_ptr());
  int64_t* tracker = static_cast<int64_t*>(k.inputs[1].data_ptr());
  const float found_inf = *static_cast<const float*>(k.inputs[2].data_ptr());
  int64_t* skipped = k.inputs.size() > 3 ? static_cast<int64_t*>(k.inputs[3].data_ptr()) : nullptr;
  if (found_inf != 0.0f) {
    *scale = static_cast<float>(static_cast<double>(*scale) * k.attrs.f("backoff_factor"));
    *tracker = 0;
    if (skipped) *skipped += 1;
    return;
  }
  const int64_t successful = *tracker + 1;
  if (successful == k.attrs.i("growth_interval")) {
    const float grown =
        static_cast<float>(static_cast<double>(*scale) * k.attrs.f("growth_factor"));
    if (std::isfinite(grown)) *scale = grown;  // never grow past float32's range to inf
    *tracker = 0;
  } else {
    *tracker = successful;
  }
}

}  // namespace duet::cpu_kernels

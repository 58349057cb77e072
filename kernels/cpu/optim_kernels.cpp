// Fused SGD and Adam(W) updates, following PyTorch's single-tensor implementations term by
// term (same operation order, scalar coefficients computed in double and cast to T), and the
// in-place increment. lr and step are scalar tensors read here, at run time.
#include "optim_kernels.h"

#include "cpu/adam_math.h"

#include <cmath>
#include <type_traits>

#include "core/dtype_dispatch.h"
#include "core/parallel.h"
#include "cpu/elementwise_kernels.h"

namespace duet::cpu_kernels {

// The inputs before the gate, or 0 when the gate says skip (kernels/optim_kernels.h).
size_t ungated_inputs(const KernelArgs& k) {
  if (!k.attrs.b("gated", false)) return k.inputs.size();
  const float found_inf = *static_cast<const float*>(k.inputs.back().data_ptr());
  return found_inf != 0.0f ? 0 : k.inputs.size() - 1;
}

void sgd_step(const KernelArgs& k) {
  const size_t num_inputs = ungated_inputs(k);
  if (num_inputs == 0) return;  // loss scaling found inf/NaN gradients: nothing changes
  const Attrs& a = k.attrs;
  const double momentum = a.f("momentum");
  const bool nesterov = a.b("nesterov");
  const double lr_value = *static_cast<const double*>(k.inputs[2].data_ptr());
  int64_t* step = static_cast<int64_t*>(k.inputs[3].data_ptr());
  const bool first_step = *step == 0;
  detail::dispatch_floating(k.inputs[0].dtype(), "sgd_step_", [&](auto tag) {
    using T = decltype(tag);
    T* p = static_cast<T*>(k.inputs[0].data_ptr());
    const T* g = static_cast<const T*>(k.inputs[1].data_ptr());
    T* buf = num_inputs > 4 ? static_cast<T*>(k.inputs[4].data_ptr()) : nullptr;
    const T lr = static_cast<T>(lr_value), mom = static_cast<T>(momentum);
    const T keep = static_cast<T>(1.0 - a.f("dampening"));
    const T wd = static_cast<T>(a.f("weight_decay"));
    const int64_t n = k.inputs[0].numel();
    parallel::parallel_for_if(n > kParallelGrain, 0, n, [&](int64_t lo, int64_t hi) {
#pragma omp simd
      for (int64_t i = lo; i < hi; ++i) {
        T d = g[i];
        if (wd != T(0)) d = d + wd * p[i];
        if (buf) {
          const T b = first_step ? d : buf[i] * mom + keep * d;
          buf[i] = b;
          d = nesterov ? d + mom * b : b;
        }
        p[i] = p[i] + (-lr) * d;
      }
    });
  });
  *step += 1;
}

void adam_step(const KernelArgs& k) {
  if (ungated_inputs(k) == 0) return;  // loss scaling found inf/NaN gradients
  const double lr = *static_cast<const double*>(k.inputs[4].data_ptr());
  int64_t* step_count = static_cast<int64_t*>(k.inputs[5].data_ptr());
  *step_count += 1;  // the count after this update, for the bias corrections
  const AdamCoeffs c = adam_coeffs(k.attrs, lr, *step_count);
  detail::dispatch_floating(k.inputs[0].dtype(), "adam_step_", [&](auto tag) {
    using T = decltype(tag);
    const int64_t n = k.inputs[0].numel();
    adam_update(static_cast<T*>(k.inputs[0].data_ptr()),
                static_cast<const T*>(k.inputs[1].data_ptr()),
                static_cast<T*>(k.inputs[2].data_ptr()), static_cast<T*>(k.inputs[3].data_ptr()), 0,
                n, 0, c, n > kParallelGrain);
  });
}

void increment(const KernelArgs& k) {
  const double value = k.attrs.f("value");
  detail::dispatch_all(k.inputs[0].dtype(), "increment_", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      DUET_ASSERT(false, "increment_: a bool input passed infer");
    } else {
      T* x = static_cast<T*>(k.inputs[0].data_ptr());
      const int64_t n = k.inputs[0].numel();
      if constexpr (std::is_integral_v<T>) {
        // An integer counter: the value must be an integer in range (converting inf or 1e308
        // is UB); the sum wraps (unsigned arithmetic) instead of overflowing.
        DUET_CHECK(value == value && value >= -9.2233720368547758e18 &&
                       value < 9.2233720368547758e18 && value == static_cast<double>(
                                                                     static_cast<int64_t>(value)),
                   "increment_: value ", value, " for an int64 tensor (expected an integer within "
                   "int64's range)");
        const uint64_t v = static_cast<uint64_t>(static_cast<int64_t>(value));
        parallel::parallel_for_if(n > kParallelGrain, 0, n, [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) x[i] = static_cast<T>(static_cast<uint64_t>(x[i]) + v);
        });
      } else {
        const T v = static_cast<T>(value);
        parallel::parallel_for_if(n > kParallelGrain, 0, n, [&](int64_t lo, int64_t hi) {
#pragma omp simd
          for (int64_t i = lo; i < hi; ++i) x[i] = x[i] + v;
        });
      }
    }
  });
}

}  // namespace duet::cpu_kernels

// Fused SGD and Adam(W) updates, following PyTorch's single-tensor implementations term by
// term (same operation order, scalar coefficients computed in double and cast to T), and the
// in-place increment. lr and step are scalar tensors read here, at run time.
#include "cpu/optim_kernels.h"

#include <cmath>
#include <type_traits>

#include "core/dtype_dispatch.h"
#include "cpu/elementwise_kernels.h"

namespace duet::cpu_kernels {

void sgd_step(const KernelArgs& k) {
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
    T* buf = k.inputs.size() > 4 ? static_cast<T*>(k.inputs[4].data_ptr()) : nullptr;
    const T lr = static_cast<T>(lr_value), mom = static_cast<T>(momentum);
    const T keep = static_cast<T>(1.0 - a.f("dampening"));
    const T wd = static_cast<T>(a.f("weight_decay"));
    const int64_t n = k.inputs[0].numel();
#pragma omp parallel for simd if (n > kParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
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
  *step += 1;
}

void adam_step(const KernelArgs& k) {
  const Attrs& a = k.attrs;
  const double beta1 = a.f("beta1"), beta2 = a.f("beta2");
  const double weight_decay = a.f("weight_decay");
  const bool decoupled = a.b("decoupled");
  const double lr = *static_cast<const double*>(k.inputs[4].data_ptr());
  int64_t* step_count = static_cast<int64_t*>(k.inputs[5].data_ptr());
  *step_count += 1;  // the count after this update, for the bias corrections
  const double step = static_cast<double>(*step_count);
  const double bias_correction1 = 1.0 - std::pow(beta1, step);
  const double bias_correction2 = 1.0 - std::pow(beta2, step);
  const double step_size = lr / bias_correction1;
  const double bias_correction2_sqrt = std::sqrt(bias_correction2);
  detail::dispatch_floating(k.inputs[0].dtype(), "adam_step_", [&](auto tag) {
    using T = decltype(tag);
    T* p = static_cast<T*>(k.inputs[0].data_ptr());
    const T* g = static_cast<const T*>(k.inputs[1].data_ptr());
    T* m = static_cast<T*>(k.inputs[2].data_ptr());
    T* v = static_cast<T*>(k.inputs[3].data_ptr());
    const T decay = static_cast<T>(1.0 - lr * weight_decay);  // AdamW
    const T wd = static_cast<T>(weight_decay);                // Adam (L2)
    const T w1 = static_cast<T>(1.0 - beta1), b2 = static_cast<T>(beta2);
    const T w2 = static_cast<T>(1.0 - beta2);
    const T bc2_sqrt = static_cast<T>(bias_correction2_sqrt);
    const T eps = static_cast<T>(a.f("eps"));
    const T neg_step_size = static_cast<T>(-step_size);
    const bool lerp_low = w1 < T(0.5);
    const int64_t n = k.inputs[0].numel();
#pragma omp parallel for simd if (n > kParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      T pi = p[i], gi = g[i];
      if (decoupled) {
        pi = pi * decay;
      } else if (wd != T(0)) {
        gi = gi + wd * pi;
      }
      // exp_avg.lerp_(grad, 1 - beta1), with PyTorch's two-sided lerp formula.
      const T mi = lerp_low ? m[i] + w1 * (gi - m[i]) : gi - (gi - m[i]) * (T(1) - w1);
      const T vi = v[i] * b2 + w2 * (gi * gi);
      const T denom = std::sqrt(vi) / bc2_sqrt + eps;
      m[i] = mi;
      v[i] = vi;
      p[i] = pi + neg_step_size * (mi / denom);
    }
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
      const T v = static_cast<T>(value);
      const int64_t n = k.inputs[0].numel();
#pragma omp parallel for simd if (n > kParallelGrain) schedule(static)
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] + v;
    }
  });
}

}  // namespace duet::cpu_kernels

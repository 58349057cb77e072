// The blocked-layout kernels' shared epilogue (nchwc_common.h).
#include "cpu/nchwc_common.h"

#include <type_traits>

#include "cpu/activation_math.h"

namespace duet::cpu_kernels::nchwc {
namespace {

template <class T>
void activation_inplace(T* y, int64_t n, const Epilogue& e) {
  act::visit_activation<T>(e.act, *e.attrs, [&](const auto& f) {
    using F = std::decay_t<decltype(f)>;
    if constexpr (std::is_same_v<F, act::none_act<T>>) {
      return;
    } else if constexpr (F::kArrayForward) {
      for (int64_t i0 = 0; i0 < n; i0 += kActBlock) {
        ArrayMap<T> a(y + i0, std::min(kActBlock, n - i0));
        a = f.forward(a);
      }
    } else {
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) y[i] = f.forward(y[i]);
    }
  });
}

}  // namespace

bool Epilogue::in_register() const {
  return act == kernels::Activation::none || act == kernels::Activation::relu ||
         act == kernels::Activation::relu6;
}

int Epilogue::in_register_code() const {
  return act == kernels::Activation::relu ? 1 : act == kernels::Activation::relu6 ? 2 : 0;
}

Epilogue parse_epilogue(const Attrs& attrs, const char* op) {
  return {attrs.has("activation") ? kernels::parse_activation(attrs.s("activation"), op)
                                  : kernels::Activation::none,
          &attrs};
}

void apply_activation(float* y, int64_t n, const Epilogue& e) {
  activation_inplace(y, n, e);
}
void apply_activation(double* y, int64_t n, const Epilogue& e) {
  activation_inplace(y, n, e);
}

}  // namespace duet::cpu_kernels::nchwc

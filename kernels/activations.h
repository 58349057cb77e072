// The activations, listed once: each formula (forward, backward, attrs, which tensor the
// backward reads, whether it fuses into a conv2d/linear epilogue) is written here and nowhere
// else. kernels/cpu/activation_kernels.cpp and kernels/cuda/activation_kernels.cu expand the
// list into the kernels, kernels/cpu/fused_kernels.cpp and the CUDA epilogues
// (kernels/cuda/conv_epilogue.cu, the linear epilogue in activation_kernels.cu) into the fused
// ops' epilogues, kernels/activation_kernels.h into the declarations, and src/ops into the
// Activation enum's users (fused ops' validation and gradients).
//
//   // the relu formulas for floats, as a CUDA functor would call them:
//   relu_act<float> f = relu_act<float>::from(attrs);
//   float y = f.forward(x), gx = f.backward(g, y, f.let(y));
//
// Adding an activation: one line below, its op ids in src/ops/op_list.h, its OpDef and public
// function in src/ops/activation_ops.cpp (docs/adding_an_op.md).
#pragma once

#include <string>
#include <type_traits>

#include "core/dtype_dispatch.h"
#include "duet/attrs.h"
#include "duet/error.h"
#include "kernel_api.h"

// DUET_ACTIVATIONS(X): X(name, kind, saved, epilogue, attrs, alt, forward, let, backward)
//   name      the op (and its backward op name##_backward)
//   kind      scalar: the formulas may use ?: and run element by element (vectorised loops);
//             array: no ?:, only + - * / and math:: functions, so the CPU evaluates them on
//             Eigen arrays, 2048 elements at a time (Eigen's SIMD exp/tanh/erf);
//             array_forward: the forward on arrays, the backward (no math:: call) by element
//   saved     the tensor the backward op reads: x (the input) or y (the output)
//   epilogue  fusable: conv2d_fused / linear_fused may apply it (the Activation enum)
//   attrs     ATTRS0, ATTR1(a, default) or ATTR2(a, default, b, default): double attrs,
//             members of type T in the formulas
//   alt       NOALT, or ALT(bool attr, variant): when the attr is true the op runs the
//             formulas of `variant` (DUET_ACTIVATION_VARIANTS) instead
//   forward   y = forward(x)
//   let       u = let(x or y), computed once per element (per block on the CPU) for backward
//   backward  grad_x = backward(g, x or y, u)
// T is the element type; math:: the math functions of the expanding side (std:: or Eigen's
// on the CPU, the device functions on CUDA). Results follow PyTorch's definitions.
#define DUET_ACTIVATIONS(X)                                                                     \
  /* x < 0 ? 0 : x keeps NaN (as PyTorch's clamp_min) */                                        \
  X(relu, scalar, y, fusable, ATTRS0, NOALT, x < T(0) ? T(0) : x, y, y > T(0) ? g : T(0))       \
  /* backward: PyTorch's hardtanh_backward, strict, so the gradient is 0 at 0 and at 6 */       \
  X(relu6, scalar, y, fusable, ATTRS0, NOALT, x < T(0) ? T(0) : (x > T(6) ? T(6) : x), y,       \
    y > T(0) && y < T(6) ? g : T(0))                                                            \
  /* x > 0 ? x : x * slope, written so the product is not inside a branch (x * 1 is x): */      \
  /* a conditional multiply (it may trap) keeps the compiler from vectorising the loop */       \
  X(leaky_relu, scalar, x, unfusable, ATTR1(negative_slope, 0.01), NOALT,                       \
    x * (x > T(0) ? T(1) : negative_slope), x, g * (x > T(0) ? T(1) : negative_slope))          \
  X(sigmoid, array_forward, y, fusable, ATTRS0, NOALT, T(1) / (T(1) + math::exp(-x)), y,        \
    g * y * (T(1) - y))                                                                         \
  X(tanh, array_forward, y, unfusable, ATTRS0, NOALT, math::tanh(x), y,                         \
    g * (T(1) - y * y))                                                                         \
  /* backward: g s (1 + x (1 - s)), s = sigmoid(x) */                                           \
  X(silu, array, x, fusable, ATTRS0, NOALT, x / (T(1) + math::exp(-x)),                         \
    T(1) / (T(1) + math::exp(-x)), g * u * (T(1) + x * (T(1) - u)))                             \
  X(hardsigmoid, scalar, x, unfusable, ATTRS0, NOALT,                                           \
    (x + T(3) < T(0) ? T(0) : (x + T(3) > T(6) ? T(6) : x + T(3))) / T(6), x,                   \
    x > T(-3) && x < T(3) ? g / T(6) : T(0))                                                    \
  /* backward (PyTorch): x < -3 -> 0; x <= 3 -> g (x / 3 + 1/2); else g */                      \
  X(hardswish, scalar, x, fusable, ATTRS0, NOALT,                                               \
    x * (x + T(3) < T(0) ? T(0) : (x + T(3) > T(6) ? T(6) : x + T(3))) / T(6), x,               \
    x < T(-3) ? T(0) : (x <= T(3) ? g * (x / T(3) + T(0.5)) : g))                               \
  /* 0.5 x (1 + erf(x / sqrt(2))); backward g (Phi(x) + x phi(x)) */                            \
  X(gelu, array, x, unfusable, ATTRS0, ALT(tanh_approximation, gelu_tanh),                      \
    T(0.5) * x * (T(1) + math::erf(x * T(0.70710678118654752440))), x,                          \
    g * (T(0.5) * (T(1) + math::erf(x * T(0.70710678118654752440))) +                           \
         x * T(0.39894228040143267794) * math::exp(T(-0.5) * (x * x))))                         \
  /* log(1 + exp(beta x)) / beta, x where beta x > threshold; backward g z / (z + 1), z = */    \
  /* exp(beta x), g where beta x > threshold (PyTorch's formulas) */                            \
  X(softplus, scalar, x, fusable, ATTR2(beta, 1.0, threshold, 20.0), NOALT,                     \
    x * beta > threshold ? x : math::log1p(math::exp(x * beta)) / beta, math::exp(x * beta),    \
    x * beta > threshold ? g : g * u / (u + T(1)))

// Formulas with no op, kernel or enum entry of their own, same columns: the variants an op of
// DUET_ACTIVATIONS runs instead of its own under an attr (its `alt`), and `none`, the fused
// ops' identity.
#define DUET_ACTIVATION_VARIANTS(X)                                                             \
  X(none, scalar, y, unfusable, ATTRS0, NOALT, x, y, g)                                         \
  /* 0.5 x (1 + tanh(u)), u = sqrt(2 / pi) (x + 0.044715 x^3) */                                \
  X(gelu_tanh, array, x, unfusable, ATTRS0, NOALT,                                              \
    T(0.5) * x *                                                                                \
        (T(1) + math::tanh(T(0.79788456080286535588) * (x + T(0.044715) * (x * x * x)))),       \
    math::tanh(T(0.79788456080286535588) * (x + T(0.044715) * (x * x * x))),                    \
    g * (T(0.5) * (T(1) + u) + T(0.5) * x * (T(1) - u * u) *                                    \
                                   (T(0.79788456080286535588) *                                 \
                                    (T(1) + T(3 * 0.044715) * (x * x)))))

// ---- expanding the columns ----------------------------------------------------------------
// The attrs column: members, reading them from Attrs (the op's, or a fused op's, which carry
// the activation's attrs), writing them into Attrs.
#define DUET_ACT_MEMBERS_ATTRS0
#define DUET_ACT_MEMBERS_ATTR1(a, da) T a;
#define DUET_ACT_MEMBERS_ATTR2(a, da, b, db) T a, b;
#define DUET_ACT_READ_ATTRS0
#define DUET_ACT_READ_ATTR1(a, da) static_cast<T>(attrs.f(#a, da))
#define DUET_ACT_READ_ATTR2(a, da, b, db) \
  static_cast<T>(attrs.f(#a, da)), static_cast<T>(attrs.f(#b, db))
#define DUET_ACT_COPY_ATTRS0
#define DUET_ACT_COPY_ATTR1(a, da) out.set(#a, from.f(#a, da));
#define DUET_ACT_COPY_ATTR2(a, da, b, db) \
  out.set(#a, from.f(#a, da));                                                                  \
  out.set(#b, from.f(#b, db));
// The alt column: the bool attr that selects the variant (null: none) and the variant's type.
#define DUET_ACT_ALT_ATTR_NOALT nullptr
#define DUET_ACT_ALT_ATTR_ALT(attr, variant) #attr
#define DUET_ACT_ALT_TYPE_NOALT void
#define DUET_ACT_ALT_TYPE_ALT(attr, variant) variant##_act<T>
// The epilogue column: DUET_ACT_IF_##epilogue(text) keeps text for fusable activations.
#define DUET_ACT_IF_fusable(...) __VA_ARGS__
#define DUET_ACT_IF_unfusable(...)
// The saved column: 1 when the backward reads the output.
#define DUET_ACT_SAVES_OUTPUT_y 1
#define DUET_ACT_SAVES_OUTPUT_x 0

// Defines the KernelFns name(k) and name##_backward(k) of an activation in a side's kernels
// namespace: the side's forward_kernel(k, f) / backward_kernel(k, f) with the formula struct
// act::name##_act<T> (or its variant) for the input's dtype.
#define DUET_DEFINE_ACTIVATION_KERNELS(name, ...)                                               \
  void name(const ::duet::KernelArgs& k) {                                                      \
    ::duet::kernels::run_activation<act::name##_act>(                                           \
        k, #name, [&](const auto& f) { forward_kernel(k, f); });                                \
  }                                                                                             \
  void name##_backward(const ::duet::KernelArgs& k) {                                           \
    ::duet::kernels::run_activation<act::name##_act>(                                           \
        k, #name "_backward", [&](const auto& f) { backward_kernel(k, f); });                   \
  }

// Defines visit_activation<T>(act, attrs, fn) beside a side's formula structs: calls fn with
// the fused activation's formula struct name##_act<T> read from `attrs` (none_act<T> for
// Activation::none), so an epilogue picks its formula at run time once per call.
#define DUET_DEFINE_ACTIVATION_VISIT                                                            \
  template <class T, class Fn>                                                                  \
  void visit_activation(::duet::kernels::Activation a, const ::duet::Attrs& attrs,              \
                        const Fn& fn) {                                                         \
    switch (a) {                                                                                \
      case ::duet::kernels::Activation::none:                                                   \
        return fn(none_act<T>{});                                                               \
        DUET_ACTIVATIONS(DUET_ACT_VISIT_CASE)                                                   \
    }                                                                                           \
  }
#define DUET_ACT_VISIT_CASE(name, kind, saved, epilogue, ...)    \
  DUET_ACT_IF_##epilogue(case ::duet::kernels::Activation::name : \
                         return fn(name##_act<T>::from(attrs));)

// Defines `template <class T> struct name##_act` (inside the expanding side's namespace, with
// its `math` and DUET_ACT_FN, the qualifiers of the formula functions: `inline` on the CPU,
// `__device__ __forceinline__` on CUDA; expand DUET_ACTIVATION_VARIANTS first). forward, let
// and backward are templates so the CPU can call them on Eigen array expressions as well as
// on scalars; kArrayForward / kArrayBackward say when it does. Alt is the variant's type (void:
// none), chosen when the bool attr kAltAttr is true.
#define DUET_DEFINE_ACTIVATION_FORMULAS(name, kind, saved, epilogue, attrs_col, alt, fwd, let_, \
                                        bwd)                                                    \
  template <class T>                                                                            \
  struct name##_act {                                                                           \
    using Scalar = T;                                                                           \
    DUET_ACT_MEMBERS_##attrs_col                                                                \
    static constexpr ::duet::kernels::ActKind kKind = ::duet::kernels::ActKind::kind;           \
    static constexpr bool kArrayForward = kKind != ::duet::kernels::ActKind::scalar;            \
    static constexpr bool kArrayBackward = kKind == ::duet::kernels::ActKind::array;            \
    static constexpr const char* kAltAttr = DUET_ACT_ALT_ATTR_##alt;                            \
    using Alt = DUET_ACT_ALT_TYPE_##alt;                                                        \
    static name##_act from(const ::duet::Attrs& attrs) { return {DUET_ACT_READ_##attrs_col}; }  \
    template <class X>                                                                          \
    DUET_ACT_FN auto forward(const X& x) const {                                                \
      return fwd;                                                                               \
    }                                                                                           \
    template <class S>                                                                          \
    DUET_ACT_FN auto let(const S& saved) const {                                                \
      return let_;                                                                              \
    }                                                                                           \
    template <class G, class S, class U>                                                        \
    DUET_ACT_FN auto backward(const G& g, const S& saved, const U& u) const {                   \
      return bwd;                                                                               \
    }                                                                                           \
  };

namespace duet::kernels {

enum class ActKind { scalar, array, array_forward };

// The activations conv2d_fused / linear_fused apply after the conv / linear (none: only the
// bias and residual), from DUET_ACTIVATIONS' fusable entries.
enum class Activation {
  none,
#define DUET_ACT_ENUM(name, kind, saved, epilogue, ...) DUET_ACT_IF_##epilogue(name, )
  DUET_ACTIVATIONS(DUET_ACT_ENUM)
#undef DUET_ACT_ENUM
};

// Calls go(f) with the formula struct F<T> (a side's name##_act) read from `attrs`, or with its
// variant F<T>::Alt when the variant's attr is set (gelu with tanh_approximation).
template <template <class> class F, class T, class Go>
void with_formula(const Attrs& attrs, const Go& go) {
  using Alt = typename F<T>::Alt;
  if constexpr (!std::is_void_v<Alt>) {
    if (attrs.b(F<T>::kAltAttr)) return go(Alt::from(attrs));
  }
  go(F<T>::from(attrs));
}

// Calls go(f) with the formula F<T> for the dtype of k's input 0 (float32 or float64; an error
// naming `op` otherwise), or its variant (with_formula).
template <template <class> class F, class Go>
void run_activation(const KernelArgs& k, const char* op, const Go& go) {
  detail::dispatch_floating(k.inputs[0].dtype(), op,
                            [&](auto tag) { with_formula<F, decltype(tag)>(k.attrs, go); });
}

// "relu", ...; "none" for Activation::none.
inline const char* activation_name(Activation a) {
  switch (a) {
    case Activation::none:
      return "none";
#define DUET_ACT_NAME(name, kind, saved, epilogue, ...) \
  DUET_ACT_IF_##epilogue(case Activation::name : return #name;)
      DUET_ACTIVATIONS(DUET_ACT_NAME)
#undef DUET_ACT_NAME
  }
  return "?";
}

// The fused ops' "activation" attr. Throws duet::Error naming `op` for an unknown name.
inline Activation parse_activation(const std::string& name, const char* op) {
  if (name == "none") return Activation::none;
  std::string expected = "none";
#define DUET_ACT_PARSE(name_, kind, saved, epilogue, ...) \
  DUET_ACT_IF_##epilogue(if (name == #name_) return Activation::name_; expected += ", " #name_;)
  DUET_ACTIVATIONS(DUET_ACT_PARSE)
#undef DUET_ACT_PARSE
  const size_t last = expected.rfind(", ");
  expected.replace(last, 2, " or ");
  // A hostile attribute (an ONNX file, a fuzzer) may be long: quote at most 64 characters.
  throw Error(detail::cat(op, ": activation ", detail::quoted_excerpt(name),
                          " is not supported (expected ", expected, ")"));
}

// Whether the activation's backward op reads its output (else its input).
inline bool activation_saves_output(Activation a) {
  switch (a) {
    case Activation::none:
      return true;
#define DUET_ACT_SAVES(name, kind, saved, epilogue, ...) \
  DUET_ACT_IF_##epilogue(case Activation::name : return DUET_ACT_SAVES_OUTPUT_##saved;)
      DUET_ACTIVATIONS(DUET_ACT_SAVES)
#undef DUET_ACT_SAVES
  }
  return true;
}

// The activation's own attrs (negative_slope, ...) out of `from` (an activation op's or a fused
// op's attrs), defaults where `from` lacks them.
inline Attrs activation_attrs(Activation a, const Attrs& from) {
  Attrs out;
  switch (a) {
    case Activation::none:
      break;
#define DUET_ACT_ATTRS(name, kind, saved, epilogue, attrs_col, ...) \
  DUET_ACT_IF_##epilogue(case Activation::name : {DUET_ACT_COPY_##attrs_col} break;)
      DUET_ACTIVATIONS(DUET_ACT_ATTRS)
#undef DUET_ACT_ATTRS
  }
  return out;
}

}  // namespace duet::kernels

// ONNX elementwise math (numpy broadcasting, duet's add/mul/... do it), comparisons, logic,
// Where and Cast (src/onnx/import_ops.h). int64 works wherever duet's kernels take it (the
// binary arithmetic and comparisons); Neg, Abs and Sign of int64 are composed from those.
#include <cmath>
#include <limits>
#include <string>

#include "duet/ops.h"
#include "onnx/import_tensor_util.h"

namespace duet::onnx::detail {
namespace {

std::string dt(const Tensor& t) {
  return dtype_name(t.dtype());
}

void expect_same_dtype(const NodeContext& n, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype()) {
    n.fail("inputs have different element types (" + dt(a) + " and " + dt(b) +
           "); expected one type");
  }
}

void expect_floating(const NodeContext& n, const Tensor& x) {
  if (!is_floating(x.dtype())) {
    n.fail("input of element type " + dt(x) + " is not supported (expected float32 or float64)");
  }
}

void expect_bool(const NodeContext& n, const Tensor& x) {
  if (x.dtype() != bool_) n.fail("input of element type " + dt(x) + " (expected bool)");
}

// An int64 divisor known at import time must not hold 0 (a hostile file would crash the
// process with a division trap while the runner folds constants).
void check_int_divisor(const NodeContext& n, bool a_constant) {
  const std::vector<int64_t> vb = n.constant_ints(1);  // host reads outside the graph
  bool has_m1 = false;
  for (int64_t v : vb) {
    if (v == 0) n.fail("integer division by zero (divisor B holds 0)");
    has_m1 = has_m1 || v == -1;
  }
  if (!has_m1) return;
  if (!a_constant) {
    n.fail(
        "integer division of a computed int64 tensor by -1 is not supported (INT64_MIN / -1 "
        "would trap)");
  }
  for (int64_t v : n.constant_ints(0)) {
    if (v == std::numeric_limits<int64_t>::min())
      n.fail("integer division INT64_MIN / -1 overflows");
  }
}

template <Tensor (*Op)(const Tensor&, const Tensor&, std::source_location)>
std::vector<Tensor> binary(NodeContext& n) {
  n.expect_attrs({});
  const Tensor& a = n.input(0);
  const Tensor& b = n.input(1);
  expect_same_dtype(n, a, b);
  if (a.dtype() == bool_) n.fail("bool inputs are not supported (expected numbers)");
  return {Op(a, b, std::source_location::current())};
}

std::vector<Tensor> convert_div(NodeContext& n) {
  n.expect_attrs({});
  const Tensor& a = n.input(0);
  const Tensor& b = n.input(1);
  expect_same_dtype(n, a, b);
  if (a.dtype() == bool_) n.fail("bool inputs are not supported (expected numbers)");
  if (a.dtype() == int64) {
    if (!n.is_constant(1) || b.is_symbolic()) {
      n.fail("integer division by a computed divisor is not supported (a zero would trap)");
    }
    check_int_divisor(n, n.is_constant(0) && !a.is_symbolic());
  }
  return {div(a, b)};
}

template <Tensor (*Op)(const Tensor&, const Tensor&, std::source_location)>
std::vector<Tensor> compare(NodeContext& n) {
  n.expect_attrs({});
  const Tensor& a = n.input(0);
  const Tensor& b = n.input(1);
  expect_same_dtype(n, a, b);
  return {Op(a, b, std::source_location::current())};
}

// ---- Pow ----

// Both inputs known: computed on the host in double, stored in X's type (numpy semantics).
Tensor pow_host(const NodeContext& n, const Tensor& x, const Tensor& y) {
  Shape s;
  try {
    s = broadcast_shapes(x.shape(), y.shape(), "Pow");
  } catch (const Error& e) {
    n.fail(e.what());
  }
  checked_host_bytes(n, s, x.dtype(), "Pow");
  const auto vx = expand(x.to(float64), s).contiguous().to_vector<double>();
  const auto vy = expand(y.to(float64), s).contiguous().to_vector<double>();
  std::vector<double> out(vx.size());
  for (size_t i = 0; i < vx.size(); ++i) out[i] = std::pow(vx[i], vy[i]);
  if (x.dtype() == int64) {
    std::vector<int64_t> vi(out.size());
    for (size_t i = 0; i < out.size(); ++i) {
      if (!(std::abs(out[i]) < 9.2e18))
        n.fail("int64 Pow result " + std::to_string(out[i]) + " does not fit in int64");
      vi[i] = static_cast<int64_t>(out[i]);
    }
    return Tensor::from_vector(vi, s, int64);
  }
  return Tensor::from_vector(out, s, x.dtype());
}

std::vector<Tensor> convert_pow(NodeContext& n) {
  n.expect_attrs({});
  const Tensor& x = n.input(0);
  const Tensor& y = n.input(1);
  if (x.dtype() == bool_ || y.dtype() == bool_) n.fail("bool inputs are not supported");
  if (n.is_constant(0) && n.is_constant(1) && !x.is_symbolic() && !y.is_symbolic()) {
    return {pow_host(n, x, y)};
  }
  if (!is_floating(x.dtype())) {
    n.fail("Pow of a computed " + dt(x) + " base is not supported (expected float32 or float64)");
  }
  if (n.is_constant(1) && !y.is_symbolic() && y.numel() == 1) {
    const double e = n.constant_doubles(1)[0];
    Tensor r = pow(x, e);
    if (y.dim() > x.dim()) {
      Shape s(static_cast<size_t>(y.dim() - x.dim()), 1);
      s.insert(s.end(), x.shape().begin(), x.shape().end());
      r = reshape(r, s);
    }
    return {r};
  }
  // x ** y = exp(y log x), defined for x > 0 (docs/onnx.md).
  const Tensor yy = y.dtype() == x.dtype() ? y : cast(y, x.dtype());
  return {exp(mul(yy, log(x)))};
}

// ---- unary ----

template <Tensor (*Op)(const Tensor&, std::source_location)>
std::vector<Tensor> unary_float(NodeContext& n) {
  n.expect_attrs({});
  expect_floating(n, n.input(0));
  return {Op(n.input(0), std::source_location::current())};
}

std::vector<Tensor> convert_reciprocal(NodeContext& n) {
  n.expect_attrs({});
  expect_floating(n, n.input(0));
  return {rdiv(n.input(0), 1.0)};
}

Tensor neg_any(const Tensor& x) {
  if (is_floating(x.dtype())) return neg(x);
  return sub(zero_like_scalar(x), x);
}

std::vector<Tensor> convert_neg(NodeContext& n) {
  n.expect_attrs({});
  const Tensor& x = n.input(0);
  if (x.dtype() == bool_) n.fail("bool input is not supported (expected numbers)");
  return {neg_any(x)};
}

std::vector<Tensor> convert_abs(NodeContext& n) {
  n.expect_attrs({});
  const Tensor& x = n.input(0);
  if (x.dtype() == bool_) n.fail("bool input is not supported (expected numbers)");
  if (is_floating(x.dtype())) return {abs(x)};
  return {where(lt(x, zero_like_scalar(x)), neg_any(x), x)};
}

std::vector<Tensor> convert_sign(NodeContext& n) {
  n.expect_attrs({});
  const Tensor& x = n.input(0);
  if (x.dtype() == bool_) n.fail("bool input is not supported (expected numbers)");
  if (is_floating(x.dtype())) return {sign(x)};
  const Tensor z = zero_like_scalar(x);
  return {sub(cast(gt(x, z), int64), cast(lt(x, z), int64))};
}

// ---- variadic ----

template <Tensor (*Op)(const Tensor&, const Tensor&, std::source_location)>
Tensor fold(NodeContext& n) {
  if (n.num_inputs() == 0) n.fail("has no inputs (expected at least one)");
  Tensor acc = n.input(0);
  if (acc.dtype() == bool_) n.fail("bool inputs are not supported (expected numbers)");
  for (size_t i = 1; i < n.num_inputs(); ++i) {
    expect_same_dtype(n, acc, n.input(i));
    acc = Op(acc, n.input(i), std::source_location::current());
  }
  return acc;
}

template <Tensor (*Op)(const Tensor&, const Tensor&, std::source_location)>
std::vector<Tensor> variadic(NodeContext& n) {
  n.expect_attrs({});
  Tensor r = fold<Op>(n);
  // One input: ONNX returns a copy; a view of the input is fine for duet.
  return {r};
}

std::vector<Tensor> convert_mean(NodeContext& n) {
  n.expect_attrs({});
  Tensor s = fold<add>(n);
  expect_floating(n, s);
  if (n.num_inputs() == 1) return {s};
  return {div(s, static_cast<double>(n.num_inputs()))};
}

// ---- logic ----

Tensor bool_scalar(bool v) {
  return Tensor::full({}, v ? 1.0 : 0.0, bool_);
}

std::vector<Tensor> convert_not(NodeContext& n) {
  n.expect_attrs({});
  expect_bool(n, n.input(0));
  return {eq(n.input(0), bool_scalar(false))};
}

std::vector<Tensor> convert_and(NodeContext& n) {
  n.expect_attrs({});
  expect_bool(n, n.input(0));
  expect_bool(n, n.input(1));
  return {where(n.input(0), n.input(1), bool_scalar(false))};
}

std::vector<Tensor> convert_or(NodeContext& n) {
  n.expect_attrs({});
  expect_bool(n, n.input(0));
  expect_bool(n, n.input(1));
  return {where(n.input(0), bool_scalar(true), n.input(1))};
}

std::vector<Tensor> convert_xor(NodeContext& n) {
  n.expect_attrs({});
  expect_bool(n, n.input(0));
  expect_bool(n, n.input(1));
  return {ne(n.input(0), n.input(1))};
}

std::vector<Tensor> convert_where(NodeContext& n) {
  n.expect_attrs({});
  expect_bool(n, n.input(0));
  expect_same_dtype(n, n.input(1), n.input(2));
  return {where(n.input(0), n.input(1), n.input(2))};
}

// ---- Floor, Ceil, Round (no duet op: composed) ----

// floor(x) = t - (t > x) with t = x truncated by a cast through int64. Floats of magnitude
// >= 2^23 (float32) or 2^52 (float64), infinities and NaN are whole already: x itself. The
// clamp keeps the cast in range.
Tensor floor_float(const Tensor& x) {
  const double whole = x.dtype() == float32 ? 8388608.0 : 4503599627370496.0;
  const Tensor xc = clamp(x, -whole, whole);
  const Tensor t = cast(cast(xc, int64), x.dtype());
  const Tensor f = where(gt(t, xc), sub(t, 1.0), t);
  return where(lt(abs(x), whole), f, x);
}

std::vector<Tensor> convert_floor(NodeContext& n) {
  n.expect_attrs({});
  expect_floating(n, n.input(0));
  return {floor_float(n.input(0))};
}

std::vector<Tensor> convert_ceil(NodeContext& n) {
  n.expect_attrs({});
  expect_floating(n, n.input(0));
  return {neg(floor_float(neg(n.input(0))))};
}

// Half to even: r = floor(x + 0.5), minus 1 where x + 0.5 was a whole odd number (a tie).
// float32 is rounded in float64, where x + 0.5 is exact.
std::vector<Tensor> convert_round(NodeContext& n) {
  n.expect_attrs({});
  const Tensor& x = n.input(0);
  expect_floating(n, x);
  const Tensor xd = x.dtype() == float64 ? x : cast(x, float64);
  const Tensor up = add(xd, 0.5);
  const Tensor r = floor_float(up);
  const Tensor odd = ne(r, mul(floor_float(mul(r, 0.5)), 2.0));
  const Tensor tie = where(eq(up, r), odd, bool_scalar(false));
  const Tensor y = where(tie, sub(r, 1.0), r);
  return {x.dtype() == float64 ? y : cast(y, x.dtype())};
}

// ---- Mod ----

// int64 only, with a constant divisor free of 0: r = a - trunc(a / b) * b (fmod=1, C's %),
// and for fmod=0 (Python's %) r + b where r and b differ in sign.
std::vector<Tensor> convert_mod(NodeContext& n) {
  n.expect_attrs({"fmod"});
  const Tensor& a = n.input(0);
  const Tensor& b = n.input(1);
  expect_same_dtype(n, a, b);
  if (a.dtype() != int64) {
    n.fail(std::string("Mod of ") + dtype_name(a.dtype()) +
           " is not supported (int64 with a constant divisor only)");
  }
  if (!n.is_constant(1) || b.is_symbolic()) {
    n.fail("integer Mod by a computed divisor is not supported (a zero would trap)");
  }
  check_int_divisor(n, n.is_constant(0) && !a.is_symbolic());
  const Tensor r = sub(a, mul(div(a, b), b));
  if (n.attr_int("fmod", 0) != 0) return {r};
  const Tensor z = zero_like_scalar(r);
  const Tensor fix = where(ne(r, z), ne(lt(r, z), lt(b, z)), bool_scalar(false));
  return {where(fix, add(r, b), r)};
}

// ---- IsNaN, IsInf ----

std::vector<Tensor> convert_is_nan(NodeContext& n) {
  n.expect_attrs({});
  expect_floating(n, n.input(0));
  return {ne(n.input(0), n.input(0))};
}

std::vector<Tensor> convert_is_inf(NodeContext& n) {
  n.expect_attrs({"detect_positive", "detect_negative"});
  const Tensor& x = n.input(0);
  expect_floating(n, x);
  const bool pos = n.attr_int("detect_positive", 1) != 0;
  const bool neg_inf = n.attr_int("detect_negative", 1) != 0;
  const double inf = std::numeric_limits<double>::infinity();
  if (pos && neg_inf) return {eq(abs(x), Tensor::full({}, inf, x.dtype()))};
  if (pos) return {eq(x, Tensor::full({}, inf, x.dtype()))};
  if (neg_inf) return {eq(x, Tensor::full({}, -inf, x.dtype()))};
  return {lt(x, x)};  // all false, NaN included
}

// ---- Cast ----

Tensor cast_to(const NodeContext& n, const Tensor& x, int32_t to) {
  DType t = float32;
  try {
    t = dtype_from_onnx(to, "to");
  } catch (const Error& e) {
    n.fail(std::string("target type ") + onnx_dtype_name(to) +
           " is not supported (supported: FLOAT, DOUBLE, INT64, INT32 (as int64), BOOL)");
  }
  if (t == x.dtype()) return x;
  return cast(x, t);
}

std::vector<Tensor> convert_cast(NodeContext& n) {
  n.expect_attrs({"to", "saturate"});
  if (!n.has_attr("to")) n.fail("attribute 'to' is missing");
  const int64_t to = n.attr_int("to", 0);
  if (to < 0 || to > std::numeric_limits<int32_t>::max()) {
    n.fail("target type " + std::to_string(to) + " is not an ONNX element type");
  }
  return {cast_to(n, n.input(0), static_cast<int32_t>(to))};
}

std::vector<Tensor> convert_cast_like(NodeContext& n) {
  n.expect_attrs({"saturate"});
  const Tensor& like = n.input(1);
  if (like.dtype() == n.input(0).dtype()) return {n.input(0)};
  return {cast(n.input(0), like.dtype())};
}

const OperatorDef kMathOperators[] = {
    {"Add", 7, binary<add>, "float32, float64, int64"},
    {"Sub", 7, binary<sub>, "float32, float64, int64"},
    {"Mul", 7, binary<mul>, "float32, float64, int64"},
    {"Div", 7, convert_div,
     "float32, float64, int64 (an int64 divisor must be constant and free of 0)"},
    {"Pow", 7, convert_pow,
     "constant exponent: duet::pow; computed exponent: exp(y log x), defined for x > 0; "
     "int64 base only when both inputs are constant"},
    {"Sqrt", 6, unary_float<sqrt>, "float32, float64"},
    {"Exp", 6, unary_float<exp>, "float32, float64"},
    {"Log", 6, unary_float<log>, "float32, float64"},
    {"Erf", 9, unary_float<erf>, "float32, float64"},
    {"Reciprocal", 6, convert_reciprocal, "float32, float64"},
    {"Neg", 6, convert_neg, ""},
    {"Abs", 6, convert_abs, ""},
    {"Sign", 9, convert_sign, ""},
    {"Max", 6, variadic<maximum>, "NaN handling follows duet::maximum"},
    {"Min", 6, variadic<minimum>, "NaN handling follows duet::minimum"},
    {"Sum", 6, variadic<add>, ""},
    {"Mean", 6, convert_mean, "float32, float64"},
    {"Equal", 7, compare<eq>, ""},
    {"Less", 7, compare<lt>, ""},
    {"LessOrEqual", 12, compare<le>, ""},
    {"Greater", 7, compare<gt>, ""},
    {"GreaterOrEqual", 12, compare<ge>, ""},
    {"Not", 1, convert_not, ""},
    {"And", 7, convert_and, ""},
    {"Or", 7, convert_or, ""},
    {"Xor", 7, convert_xor, ""},
    {"Where", 9, convert_where, ""},
    {"IsNaN", 9, convert_is_nan, "float32, float64"},
    {"Floor", 6, convert_floor, "float32, float64; composed through an int64 cast"},
    {"Ceil", 6, convert_ceil, "float32, float64; -floor(-x)"},
    {"Round", 11, convert_round, "float32, float64; half to even, computed in float64"},
    {"Mod", 10, convert_mod, "int64 with a constant divisor free of 0 only"},
    {"IsInf", 10, convert_is_inf, "float32, float64"},
    {"Cast", 6, convert_cast,
     "to FLOAT, DOUBLE, INT64, INT32 (read as int64), BOOL; no strings or 16-bit floats"},
    {"CastLike", 15, convert_cast_like, "as Cast"},
};

}  // namespace

std::span<const OperatorDef> math_operators() {
  return kMathOperators;
}

}  // namespace duet::onnx::detail

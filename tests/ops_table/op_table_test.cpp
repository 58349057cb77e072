// The table-driven op test (in the spirit of ggml's test-backend-ops): every op of the op
// table (all_ops()) on every one of its samples (OpDef::samples, src/ops/op_samples.h) in
// float32 and float64. One test per op and check, e.g. OpTable/Forward.MatchesFloat64/relu;
// a failure names its case, e.g. "relu_s2_float32" (sample 2 in float32).
//
//   Samples.EveryOpHasSamples   guard: every op has samples, of its arity, that infer accepts
//   Forward                     float32 against the same op on the inputs cast to float64
//                               (outputs, and the inputs an update op writes)
//   Reference                   elementwise ops against their formula in naive loops
//   Gradient                    the tape's gradient (float64) against central differences
//   EagerGraph                  eager against a compiled graph (bit_exact), bit for bit, with
//                               the inputs fed and with them captured
//   EagerGraphGradient          graph autodiff against the tape (float64)
//   Inplace                     output 0 written over input inplace_input, bit for bit
//   LowPrecision                bfloat16 and float16 against float32 (outputs, eager vs graph,
//                               gradients); LowPrecisionRejected: ops with low_precision =
//                               false name the op and the dtype
// The GPU against the CPU: tests/cuda/op_table_cuda_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "duet/graph.h"
#include "op_samples.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

constexpr double kFloat32Tol = 1e-4;  // float32 against float64: |a - e| <= tol (1 + |e|)

bool differentiable(const OpDef& op) {
  return op.grad != nullptr;
}
bool may_write_over_input(const OpDef& op) {
  return op.inplace_input >= 0;
}

std::string op_param_name(const ::testing::TestParamInfo<int>& info) {
  return op_at(info.param).name;
}

class OpTest : public ::testing::TestWithParam<int> {
 protected:
  const OpDef& op() const { return op_at(GetParam()); }
};

bool is_diff_input(const OpCase& c, size_t k) {
  const SampleInput& in = c.sample.inputs[k];
  return c.op->grad && !in.fixed && !((c.op->nondiff_inputs >> k) & 1u);
}

// Outputs the objective reads: float64 (a float32 output, e.g. a cast, is too coarse for
// differences of 1e-6) and non-empty, where the sample's diff_outputs allows.
bool is_diff_output(const OpCase& c, size_t j, const Tensor& out) {
  return j < 32 && ((c.sample.diff_outputs >> j) & 1u) && out.dtype() == float64 && out.numel() > 0;
}

// Fixed random weights r_j for the objective sum_j sum(out_j * r_j).
std::vector<Tensor> objective_weights(const OpCase& c, const std::vector<Tensor>& outs) {
  std::vector<Tensor> r(outs.size());
  Generator gen(4321);
  for (size_t j = 0; j < outs.size(); ++j)
    if (is_diff_output(c, j, outs[j]))
      r[j] = Tensor::uniform(outs[j].shape(), -1, 1, gen, outs[j].dtype());
  return r;
}

Tensor objective(const std::vector<Tensor>& outs, const std::vector<Tensor>& weights) {
  Tensor total;
  for (size_t j = 0; j < outs.size() && j < weights.size(); ++j) {
    if (!weights[j].defined()) continue;
    Tensor t = sum(mul(outs[j], weights[j]));
    total = total.defined() ? add(total, t) : t;
  }
  return total;
}

double objective_value(const std::vector<Tensor>& outs, const std::vector<Tensor>& weights) {
  double s = 0;
  for (size_t j = 0; j < outs.size() && j < weights.size(); ++j) {
    if (!weights[j].defined()) continue;
    const std::vector<double> o = outs[j].to_vector<double>(), w = weights[j].to_vector<double>();
    for (size_t i = 0; i < o.size(); ++i) s += o[i] * w[i];
  }
  return s;
}

}  // namespace

// ---- guard ---------------------------------------------------------------------------------

TEST(Samples, EveryOpHasSamples) {
  ASSERT_EQ(all_ops().size(), static_cast<size_t>(kNumOps));
  for (const OpDef* op : all_ops()) {
    SCOPED_TRACE(op->name);
    ASSERT_NE(op->samples, nullptr) << op->name << " declares no samples (OpDef::samples)";
    const std::vector<OpSample> samples = op->samples();
    EXPECT_FALSE(samples.empty()) << op->name << "'s samples are an empty list";
    for (const OpCase& c : op_cases(*op)) {
      SCOPED_TRACE(c.name);
      const size_t n = c.sample.inputs.size();
      if (op->num_inputs >= 0) {
        EXPECT_EQ(n, static_cast<size_t>(op->num_inputs));
      }
      std::vector<TensorMeta> metas;
      for (const SampleInput& in : c.sample.inputs)
        metas.push_back({in.shape, input_dtype(c, in), cpu});
      try {
        const std::vector<TensorMeta> out = op->infer({op->name.c_str(), metas, c.sample.attrs});
        EXPECT_EQ(out.size(), static_cast<size_t>(op->num_outputs));
      } catch (const Error& e) {
        ADD_FAILURE() << "infer rejects the sample: " << e.what();
      }
    }
  }
}

// ---- forward: float32 against float64 ------------------------------------------------------

using Forward = OpTest;
TEST_P(Forward, MatchesFloat64) {
  int checked = 0;
  for (const OpCase& c : op_cases(op(), {float32})) {
    if (c.skips(SampleCheck::no_float64_ref)) continue;
    SCOPED_TRACE(c.name);
    const std::vector<Tensor> in = make_inputs(c);
    const std::vector<Tensor> out = run_op(c, in);
    const std::vector<Tensor> ref = run_op(c, cast_inputs(c, in, float64));
    ASSERT_EQ(out.size(), ref.size());
    const double tol = c.sample.tol > 0 ? c.sample.tol : kFloat32Tol;
    for (size_t j = 0; j < out.size(); ++j)
      EXPECT_TRUE(close(out[j], ref[j], tol)) << "output " << j;
    ++checked;
  }
  if (!checked) GTEST_SKIP() << "no float32 sample";
}

// ---- forward: elementwise ops against naive loops -------------------------------------------
// The float64 comparison above checks precision, not the formula (both dtypes run the same
// kernel template): elementwise ops are also checked against their formula written out here,
// one element at a time, with numpy broadcasting.

namespace {

using Fn1 = double (*)(double x, const Attrs& a);
using Fn2 = double (*)(double a, double b, const Attrs& at);  // binary, or (grad, saved)

double sigmoid_of(double x) {
  return 1 / (1 + std::exp(-x));
}
double gelu_tanh_inner(double x) {  // tanh(sqrt(2 / pi) (x + 0.044715 x^3))
  return std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x));
}
double gelu_of(double x, const Attrs& a) {
  return a.b("tanh_approximation") ? 0.5 * x * (1 + gelu_tanh_inner(x))
                                   : 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
}
double gelu_slope(double x, const Attrs& a) {
  if (!a.b("tanh_approximation"))
    return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) +
           x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
  const double t = gelu_tanh_inner(x), k = std::sqrt(2 / M_PI);
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
}

struct Naive {
  OpId id;
  Fn1 unary = nullptr;
  Fn2 binary = nullptr;
};

const std::vector<Naive>& naive_ops() {
  static const std::vector<Naive> ops = {
      {OpId::relu, [](double x, const Attrs&) { return std::max(x, 0.0); }},
      {OpId::relu6, [](double x, const Attrs&) { return std::min(std::max(x, 0.0), 6.0); }},
      {OpId::leaky_relu,
       [](double x, const Attrs& a) { return x > 0 ? x : a.f("negative_slope") * x; }},
      {OpId::sigmoid, [](double x, const Attrs&) { return sigmoid_of(x); }},
      {OpId::tanh, [](double x, const Attrs&) { return std::tanh(x); }},
      {OpId::silu, [](double x, const Attrs&) { return x * sigmoid_of(x); }},
      {OpId::hardsigmoid,
       [](double x, const Attrs&) { return std::min(std::max(x / 6 + 0.5, 0.0), 1.0); }},
      {OpId::hardswish,
       [](double x, const Attrs&) { return x * std::min(std::max(x + 3, 0.0), 6.0) / 6; }},
      {OpId::gelu, gelu_of},
      {OpId::softplus,
       [](double x, const Attrs& a) {
         const double b = a.f("beta");
         return b * x > a.f("threshold") ? x : std::log1p(std::exp(b * x)) / b;
       }},
      {OpId::neg, [](double x, const Attrs&) { return -x; }},
      {OpId::exp, [](double x, const Attrs&) { return std::exp(x); }},
      {OpId::log, [](double x, const Attrs&) { return std::log(x); }},
      {OpId::sqrt, [](double x, const Attrs&) { return std::sqrt(x); }},
      {OpId::rsqrt, [](double x, const Attrs&) { return 1 / std::sqrt(x); }},
      {OpId::abs, [](double x, const Attrs&) { return std::abs(x); }},
      {OpId::sign, [](double x, const Attrs&) { return double((x > 0) - (x < 0)); }},
      {OpId::add_scalar, [](double x, const Attrs& a) { return x + a.f("value"); }},
      {OpId::mul_scalar, [](double x, const Attrs& a) { return x * a.f("value"); }},
      {OpId::rsub_scalar, [](double x, const Attrs& a) { return a.f("value") - x; }},
      {OpId::rdiv_scalar, [](double x, const Attrs& a) { return a.f("value") / x; }},
      {OpId::pow, [](double x, const Attrs& a) { return std::pow(x, a.f("exponent")); }},
      {OpId::clamp,
       [](double x, const Attrs& a) { return std::min(std::max(x, a.f("lo")), a.f("hi")); }},
      {OpId::add, nullptr, [](double a, double b, const Attrs&) { return a + b; }},
      {OpId::sub, nullptr, [](double a, double b, const Attrs&) { return a - b; }},
      {OpId::mul, nullptr, [](double a, double b, const Attrs&) { return a * b; }},
      {OpId::div, nullptr, [](double a, double b, const Attrs&) { return a / b; }},
      {OpId::maximum, nullptr, [](double a, double b, const Attrs&) { return std::max(a, b); }},
      {OpId::minimum, nullptr, [](double a, double b, const Attrs&) { return std::min(a, b); }},
      {OpId::eq, nullptr, [](double a, double b, const Attrs&) { return double(a == b); }},
      {OpId::ne, nullptr, [](double a, double b, const Attrs&) { return double(a != b); }},
      {OpId::lt, nullptr, [](double a, double b, const Attrs&) { return double(a < b); }},
      {OpId::le, nullptr, [](double a, double b, const Attrs&) { return double(a <= b); }},
      {OpId::gt, nullptr, [](double a, double b, const Attrs&) { return double(a > b); }},
      {OpId::ge, nullptr, [](double a, double b, const Attrs&) { return double(a >= b); }},
      {OpId::add_relu, nullptr,
       [](double a, double b, const Attrs&) { return std::max(a + b, 0.0); }},
      // Gradient ops: (grad g, saved y or x).
      {OpId::relu_backward, nullptr,
       [](double g, double y, const Attrs&) { return y > 0 ? g : 0; }},
      {OpId::relu6_backward, nullptr,
       [](double g, double y, const Attrs&) { return y > 0 && y < 6 ? g : 0; }},
      {OpId::leaky_relu_backward, nullptr,
       [](double g, double x, const Attrs& a) { return x > 0 ? g : g * a.f("negative_slope"); }},
      {OpId::sigmoid_backward, nullptr,
       [](double g, double y, const Attrs&) { return g * y * (1 - y); }},
      {OpId::tanh_backward, nullptr,
       [](double g, double y, const Attrs&) { return g * (1 - y * y); }},
      {OpId::silu_backward, nullptr,
       [](double g, double x, const Attrs&) {
         const double s = sigmoid_of(x);
         return g * s * (1 + x * (1 - s));
       }},
      {OpId::hardsigmoid_backward, nullptr,
       [](double g, double x, const Attrs&) { return x > -3 && x < 3 ? g / 6 : 0; }},
      {OpId::hardswish_backward, nullptr,
       [](double g, double x, const Attrs&) {
         return x < -3 ? 0 : x > 3 ? g : g * (2 * x + 3) / 6;
       }},
      {OpId::gelu_backward, nullptr,
       [](double g, double x, const Attrs& a) { return g * gelu_slope(x, a); }},
      {OpId::softplus_backward, nullptr,
       [](double g, double x, const Attrs& a) {
         const double b = a.f("beta");
         return b * x > a.f("threshold") ? g : g * sigmoid_of(b * x);
       }},
      {OpId::clamp_backward, nullptr,
       [](double g, double x, const Attrs& a) { return x >= a.f("lo") && x <= a.f("hi") ? g : 0; }},
  };
  return ops;
}

const Naive* naive_of(const OpDef& op) {
  for (const Naive& n : naive_ops())
    if (n.id == op.id) return &n;
  return nullptr;
}
bool has_naive(const OpDef& op) {
  return naive_of(op) != nullptr;
}

// The flat index into an input of shape `in` that broadcasts to element `flat` of `out`.
int64_t broadcast_source(const Shape& out, const Shape& in, int64_t flat) {
  int64_t src = 0, stride = 1;
  for (size_t d = 0; d < out.size(); ++d) {
    const size_t axis = out.size() - 1 - d;
    const int64_t coord = flat % out[axis];
    flat /= out[axis];
    if (d < in.size()) {
      const int64_t n = in[in.size() - 1 - d];
      if (n != 1) src += coord * stride;
      stride *= n;
    }
  }
  return src;
}

}  // namespace

using Reference = OpTest;
TEST_P(Reference, MatchesNaiveLoops) {
  const Naive& naive = *naive_of(op());
  for (const OpCase& c : op_cases(op())) {
    SCOPED_TRACE(c.name);
    const std::vector<Tensor> in = make_inputs(c);
    const Tensor out = run_op(c, in)[0];
    std::vector<std::vector<double>> v;
    for (const Tensor& t : in) v.push_back(t.to_vector<double>());
    std::vector<double> expected(static_cast<size_t>(out.numel()));
    for (int64_t i = 0; i < out.numel(); ++i) {
      const double a = v[0][broadcast_source(out.shape(), in[0].shape(), i)];
      expected[i] = naive.unary
                        ? naive.unary(a, c.sample.attrs)
                        : naive.binary(a, v[1][broadcast_source(out.shape(), in[1].shape(), i)],
                                       c.sample.attrs);
    }
    const Tensor ref = Tensor::from_vector(expected, out.shape(),
                                           is_floating(out.dtype()) ? float64 : out.dtype());
    EXPECT_TRUE(close(out, ref, c.dtype == float64 ? 1e-12 : 1e-5));
  }
}

// ---- gradients: the tape against central differences, float64 ------------------------------

using Gradient = OpTest;
TEST_P(Gradient, MatchesFiniteDifferences) {
  constexpr double eps = 1e-6, rtol = 1e-5, atol = 1e-6;
  for (const OpCase& c : op_cases(op(), {float64})) {
    if (c.skips(SampleCheck::no_grad)) continue;
    SCOPED_TRACE(c.name);
    std::vector<Tensor> in = make_inputs(c);
    bool any = false;
    for (size_t k = 0; k < in.size(); ++k)
      if (is_diff_input(c, k) && in[k].numel() > 0) {
        in[k].requires_grad_();
        any = true;
      }
    if (!any) continue;
    std::vector<Tensor> out = call_op(op(), in, c.sample.attrs);
    const std::vector<Tensor> w = objective_weights(c, out);
    Tensor loss = objective(out, w);
    if (!loss.defined() || !loss.requires_grad()) continue;
    loss.backward();
    auto value = [&] {
      NoGradGuard no_grad;
      return objective_value(call_op(op(), in, c.sample.attrs), w);
    };
    ASSERT_NO_FATAL_FAILURE(expect_finite_differences(in, value, eps, rtol, atol));
  }
}

// ---- graph: eager against a compiled graph, bit for bit -------------------------------------

namespace {

// The inputs the graph reads: written inputs are captured (the graph writes them in place),
// the others are fed.
struct GraphInputs {
  std::vector<Tensor> values;           // what the op is called with while recording
  std::map<std::string, Tensor> feeds;  // name -> fed value
  std::vector<Tensor> captured;         // written inputs (index as in the op)
};

GraphInputs graph_inputs(Graph& g, const OpCase& c, const std::vector<Tensor>& in,
                         const std::vector<Tensor>& captures, bool capture_all = false) {
  GraphInputs r;
  r.captured.resize(in.size());
  for (size_t k = 0; k < in.size(); ++k) {
    if (mutates(*c.op, k)) {
      r.captured[k] = captures[k];
      r.values.push_back(captures[k]);
      continue;
    }
    if (capture_all) {  // read in place by the graph, never written
      r.values.push_back(in[k]);
      continue;
    }
    const std::string name = "x" + std::to_string(k);
    r.values.push_back(g.input(name, in[k].shape(), in[k].dtype()));
    r.feeds[name] = in[k];
  }
  return r;
}

// A random op draws its seed from the default generator when the graph runs; eager gets the
// same seed as an attribute.
constexpr uint64_t kGraphSeed = 99;
Attrs eager_attrs(const OpCase& c) {
  Attrs a = c.sample.attrs;
  if (c.op->random) {
    manual_seed(kGraphSeed);
    a.set("seed", static_cast<int64_t>(default_generator().next_u64()));
  }
  return a;
}

}  // namespace

using EagerGraph = OpTest;
// Twice: inputs fed, and inputs captured (values computed from captures only are constants
// to an eval graph: folded or hoisted, computed by the same kernels).
TEST_P(EagerGraph, BitForBit) {
  for (const OpCase& c : op_cases(op())) {
    if (c.skips(SampleCheck::no_graph)) continue;
    const std::vector<Tensor> in = make_inputs(c);
    const std::vector<Tensor> eager = run_op(*c.op, eager_attrs(c), in);
    for (bool capture_all : {false, true}) {
      SCOPED_TRACE(c.name + (capture_all ? ", inputs captured" : ", inputs fed"));
      std::vector<Tensor> captures(in.size());
      for (size_t k = 0; k < in.size(); ++k)
        if (mutates(*c.op, k)) captures[k] = in[k].clone();
      Tensor dummy = Tensor::zeros({1});
      std::vector<Tensor> outs;
      Executable exe;
      GraphInputs gi;
      {
        Graph g;
        gi = graph_inputs(g, c, in, captures, capture_all);
        outs = call_op(op(), gi.values, c.sample.attrs);
        if (outs.empty() || capture_all) {  // compile needs an output, run a fed input
          outs.push_back(neg(g.input("dummy", {1})));
          gi.feeds["dummy"] = dummy;
        }
        exe = compile(g, outs, {.bit_exact = true});
      }
      manual_seed(kGraphSeed);
      const std::vector<Tensor> r = exe.run(gi.feeds);
      size_t j = 0;
      for (; j < static_cast<size_t>(op().num_outputs); ++j)
        EXPECT_TRUE(same_bits(r[j], eager[j])) << "output " << j;
      for (size_t k = 0; k < in.size(); ++k) {
        if (mutates(*c.op, k)) {
          EXPECT_TRUE(same_bits(gi.captured[k], eager[j++])) << "input " << k;
        }
      }
    }
  }
}

// Graph autodiff (the same gradient rules, recorded) against the tape, float64.
using EagerGraphGradient = OpTest;
TEST_P(EagerGraphGradient, MatchesTape) {
  for (const OpCase& c : op_cases(op(), {float64})) {
    if (c.skips(SampleCheck::no_graph) || c.skips(SampleCheck::no_grad)) continue;
    SCOPED_TRACE(c.name);
    std::vector<Tensor> in = make_inputs(c);
    const Attrs attrs = eager_attrs(c);
    std::vector<size_t> diff;
    for (size_t k = 0; k < in.size(); ++k)
      if (is_diff_input(c, k) && in[k].numel() > 0) {
        in[k].requires_grad_();
        diff.push_back(k);
      }
    if (diff.empty()) continue;
    std::vector<Tensor> out = call_op(op(), in, attrs);
    const std::vector<Tensor> w = objective_weights(c, out);
    Tensor loss = objective(out, w);
    if (!loss.defined() || !loss.requires_grad()) continue;
    loss.backward();

    std::vector<Tensor> detached;
    for (const Tensor& t : in) detached.push_back(t.detach());
    Executable exe;
    GraphInputs gi;
    std::vector<size_t> with_grad;
    {
      Graph g({.training = true});
      gi = graph_inputs(g, c, detached, {});
      std::vector<Tensor> wrt;
      for (size_t k : diff) wrt.push_back(gi.values[k]);
      Tensor gloss = objective(call_op(op(), gi.values, c.sample.attrs), w);
      const std::vector<Tensor> grads = gradients(gloss, wrt);
      std::vector<Tensor> outs{gloss};
      for (size_t i = 0; i < grads.size(); ++i)
        if (grads[i].defined()) {
          outs.push_back(grads[i]);
          with_grad.push_back(diff[i]);
        }
      exe = compile(g, outs, {.training = true, .bit_exact = true});
    }
    manual_seed(kGraphSeed);
    const std::vector<Tensor> r = exe.run(gi.feeds);
    EXPECT_TRUE(close(r[0], loss.detach(), 1e-12)) << "objective";
    for (size_t i = 0; i < with_grad.size(); ++i) {
      const Tensor& x = in[with_grad[i]];
      ASSERT_TRUE(x.grad().defined()) << "input " << with_grad[i] << ": no tape gradient";
      // The graph seeds sum's backward with an expand, the tape with a one: the same numbers,
      // summed in the same order, so equal to the last bits or very nearly.
      EXPECT_TRUE(close(r[1 + i], x.grad(), 1e-12)) << "gradient of input " << with_grad[i];
    }
  }
}

// ---- in place: output 0 over input inplace_input --------------------------------------------

using Inplace = OpTest;
TEST_P(Inplace, AliasedOutputMatches) {
  for (const OpCase& c : op_cases(op())) {
    if (c.skips(SampleCheck::no_inplace)) continue;
    SCOPED_TRACE(c.name);
    EXPECT_TRUE(aliased_output_matches(c, make_inputs(c)));
  }
}

// ---- low precision: bfloat16 and float16 against float32 -------------------------------------
// Every op with OpDef::low_precision = true runs every sample in bfloat16 and float16 (the
// floating inputs rounded to the dtype) and matches the op run in float32 on the same values
// widened back: outputs of the dtypes infer says, within kLowPrecisionTol of the float32
// result rounded to the output's dtype; eager and graph bit for bit; the tape's gradients
// against the float32 ones. An op computed through the float32 round trip (ops/prepare.h)
// is its float32 kernel plus one rounding; a native kernel (native_low_precision) differs
// more, within the same tolerance. Ops with low_precision = false reject a low-precision
// input with an error naming the op and the dtype.

namespace {

constexpr DType kLowPrecision[] = {bfloat16, float16};

// |a - e| <= tol (1 + |e|): about 3 ulps of bfloat16 (8 significant bits) and 8 of float16 (11).
double low_precision_tol(const OpCase& c) {
  const double base = c.dtype == bfloat16 ? 1e-2 : 1e-3;
  // A sample that loosens the float32 tolerance (an ill-conditioned op) loosens this one by
  // the same factor.
  return c.sample.tol > kFloat32Tol ? base * c.sample.tol / kFloat32Tol : base;
}

bool supports_low_precision(const OpDef& op) {
  return op.low_precision;
}
bool rejects_low_precision(const OpDef& op) {
  return !op.low_precision;
}

// Whether the sample has an input in the test's dtype (a floating input not `fixed`).
bool has_low_precision_input(const OpCase& c) {
  for (const SampleInput& in : c.sample.inputs)
    if (!in.fixed) return true;
  return false;
}

// `expected` (float32) rounded to `actual`'s dtype, as the comparison's reference.
Tensor rounded_like(const Tensor& expected, const Tensor& actual) {
  return is_floating(actual.dtype()) && actual.dtype() != expected.dtype()
             ? expected.to(actual.dtype())
             : expected;
}

// The gradients of sum_j sum(out_j * w_j) (in float32) with respect to the differentiable
// inputs, by the tape; undefined where the op gives none.
std::vector<Tensor> tape_gradients(const OpCase& c, std::vector<Tensor> in,
                                   const std::vector<Tensor>& w) {
  std::vector<Tensor> grads(in.size());
  for (size_t k = 0; k < in.size(); ++k)
    if (is_diff_input(c, k) && in[k].numel() > 0) in[k] = in[k].detach().requires_grad_();
  const std::vector<Tensor> out = call_op(*c.op, in, c.sample.attrs);
  Tensor total;
  for (size_t j = 0; j < out.size() && j < w.size(); ++j) {
    if (!w[j].defined()) continue;
    Tensor t = cast(sum(mul(out[j], w[j])), float32);
    total = total.defined() ? add(total, t) : t;
  }
  if (!total.defined() || !total.requires_grad()) return grads;
  total.backward();
  for (size_t k = 0; k < in.size(); ++k)
    if (in[k].requires_grad()) grads[k] = in[k].grad();
  return grads;
}

}  // namespace

using LowPrecision = OpTest;
TEST_P(LowPrecision, MatchesFloat32) {
  int checked = 0;
  for (const OpCase& c : op_cases(op(), {kLowPrecision[0], kLowPrecision[1]})) {
    if (!has_low_precision_input(c)) continue;
    SCOPED_TRACE(c.name);
    const double tol = low_precision_tol(c);
    const std::vector<Tensor> in = make_inputs(c);  // rounded to c.dtype
    const std::vector<Tensor> wide = cast_inputs(c, in, float32);
    const std::vector<TensorMeta> metas =
        op().infer({op().name.c_str(), metas_of(in), c.sample.attrs});
    const std::vector<Tensor> out = run_op(*c.op, eager_attrs(c), in);
    const std::vector<Tensor> ref = run_op(*c.op, eager_attrs(c), wide);
    ASSERT_EQ(out.size(), ref.size());
    for (size_t j = 0; j < out.size(); ++j) {
      if (j < metas.size()) {
        EXPECT_EQ(out[j].dtype(), metas[j].dtype) << "output " << j << "'s dtype";
      }
      EXPECT_TRUE(close(out[j], rounded_like(ref[j], out[j]), tol)) << "output " << j;
    }
    ++checked;
  }
  // A low-precision op whose samples never take a low-precision input would go unchecked.
  EXPECT_GT(checked, 0) << op().name << ": no sample has a floating input to run in bfloat16";
}

// Eager against a compiled graph (bit_exact), inputs fed, bit for bit.
TEST_P(LowPrecision, EagerGraphBitForBit) {
  for (const OpCase& c : op_cases(op(), {kLowPrecision[0], kLowPrecision[1]})) {
    if (!has_low_precision_input(c) || c.skips(SampleCheck::no_graph)) continue;
    SCOPED_TRACE(c.name);
    const std::vector<Tensor> in = make_inputs(c);
    const std::vector<Tensor> eager = run_op(*c.op, eager_attrs(c), in);
    std::vector<Tensor> captures(in.size());
    for (size_t k = 0; k < in.size(); ++k)
      if (mutates(*c.op, k)) captures[k] = in[k].clone();
    std::vector<Tensor> outs;
    Executable exe;
    GraphInputs gi;
    {
      Graph g;
      gi = graph_inputs(g, c, in, captures);
      outs = call_op(op(), gi.values, c.sample.attrs);
      if (outs.empty()) {  // compile needs an output
        outs.push_back(neg(g.input("dummy", {1})));
        gi.feeds["dummy"] = Tensor::zeros({1});
      }
      exe = compile(g, outs, {.bit_exact = true});
    }
    manual_seed(kGraphSeed);
    const std::vector<Tensor> r = exe.run(gi.feeds);
    size_t j = 0;
    for (; j < static_cast<size_t>(op().num_outputs); ++j)
      EXPECT_TRUE(same_bits(r[j], eager[j])) << "output " << j;
    for (size_t k = 0; k < in.size(); ++k)
      if (mutates(*c.op, k)) {
        EXPECT_TRUE(same_bits(gi.captured[k], eager[j++])) << "input " << k;
      }
  }
}

// The tape's gradients in the low-precision dtype against those in float32, on the same
// (rounded) inputs and objective weights.
TEST_P(LowPrecision, GradientMatchesFloat32) {
  if (!op().grad) GTEST_SKIP() << "not differentiable";
  for (const OpCase& c : op_cases(op(), {kLowPrecision[0], kLowPrecision[1]})) {
    if (!has_low_precision_input(c) || c.skips(SampleCheck::no_grad)) continue;
    SCOPED_TRACE(c.name);
    const double tol = low_precision_tol(c);
    const std::vector<Tensor> in = make_inputs(c);
    const std::vector<Tensor> wide = cast_inputs(c, in, float32);
    std::vector<Tensor> out;
    {
      NoGradGuard no_grad;
      out = call_op(op(), in, c.sample.attrs);
    }
    // Weights in each output's dtype (exact in float32 too).
    std::vector<Tensor> w(out.size()), w_wide(out.size());
    Generator gen(4321);
    for (size_t j = 0; j < out.size(); ++j) {
      if (j >= 32 || !((c.sample.diff_outputs >> j) & 1u) || !is_floating(out[j].dtype()) ||
          out[j].numel() == 0)
        continue;
      w[j] = Tensor::uniform(out[j].shape(), -1, 1, gen).to(out[j].dtype());
      w_wide[j] = w[j].to(float32);
    }
    const std::vector<Tensor> g = tape_gradients(c, in, w);
    const std::vector<Tensor> g_ref = tape_gradients(c, wide, w_wide);
    for (size_t k = 0; k < in.size(); ++k) {
      ASSERT_EQ(g[k].defined(), g_ref[k].defined()) << "gradient of input " << k;
      if (!g[k].defined()) continue;
      EXPECT_EQ(g[k].dtype(), in[k].dtype()) << "gradient of input " << k << "'s dtype";
      EXPECT_TRUE(close(g[k], rounded_like(g_ref[k], g[k]), tol)) << "gradient of input " << k;
    }
  }
}

// low_precision = false: each dtype is rejected, naming the op, the dtype and the input.
using LowPrecisionRejected = OpTest;
TEST_P(LowPrecisionRejected, NamesOpAndDtype) {
  int checked = 0;
  for (const OpCase& c : op_cases(op(), {kLowPrecision[0], kLowPrecision[1]})) {
    if (!has_low_precision_input(c)) continue;
    SCOPED_TRACE(c.name);
    size_t first = 0;
    while (c.sample.inputs[first].fixed) ++first;
    EXPECT_DUET_ERROR(run_op(c, make_inputs(c)),
                      op().name + ": dtype " + dtype_name(c.dtype) + " is not supported (input " +
                          std::to_string(first) + "; this op runs in float32/float64 only)");
    ++checked;
  }
  if (!checked) GTEST_SKIP() << "no sample with a floating input";
}

INSTANTIATE_TEST_SUITE_P(OpTable, Forward, ::testing::ValuesIn(op_indices()), op_param_name);
INSTANTIATE_TEST_SUITE_P(OpTable, Reference, ::testing::ValuesIn(op_indices(has_naive)),
                         op_param_name);
INSTANTIATE_TEST_SUITE_P(OpTable, Gradient, ::testing::ValuesIn(op_indices(differentiable)),
                         op_param_name);
INSTANTIATE_TEST_SUITE_P(OpTable, EagerGraph, ::testing::ValuesIn(op_indices()), op_param_name);
INSTANTIATE_TEST_SUITE_P(OpTable, EagerGraphGradient,
                         ::testing::ValuesIn(op_indices(differentiable)), op_param_name);
INSTANTIATE_TEST_SUITE_P(OpTable, Inplace, ::testing::ValuesIn(op_indices(may_write_over_input)),
                         op_param_name);
INSTANTIATE_TEST_SUITE_P(OpTable, LowPrecision,
                         ::testing::ValuesIn(op_indices(supports_low_precision)), op_param_name);
INSTANTIATE_TEST_SUITE_P(OpTable, LowPrecisionRejected,
                         ::testing::ValuesIn(op_indices(rejects_low_precision)), op_param_name);

// The table-driven op test (in the spirit of ggml's test-backend-ops): every op of the op
// table (all_ops()) on every one of its samples (OpDef::samples, src/ops/op_samples.h) in
// float32 and float64. One test per op and check, e.g. OpTable/Forward.MatchesFloat64/relu;
// a failure names its case, e.g. "relu_s2_float32" (sample 2 in float32).
//
//   Samples.EveryOpHasSamples   guard: every op has samples, of its arity, that infer accepts
//   Forward                     float32 against the same op on the inputs cast to float64
//                               (outputs, and the inputs an update op writes)
//   Gradient                    the tape's gradient (float64) against central differences
//   EagerGraph                  eager against a compiled graph (bit_exact), bit for bit
//   EagerGraphGradient          graph autodiff against the tape (float64)
//   Inplace                     output 0 written over input inplace_input, bit for bit
// The GPU against the CPU: tests/cuda/op_table_cuda_test.cpp.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "duet/graph.h"
#include "op_samples.h"

using namespace duet;
using namespace duet::test;

namespace {

constexpr double kFloat32Tol = 1e-4;  // float32 against float64: |a - e| <= tol (1 + |e|)

const OpDef& op_at(int i) {
  return *all_ops()[static_cast<size_t>(i)];
}

// The ops a check applies to (every op by default).
std::vector<int> op_indices(bool (*keep)(const OpDef&) = nullptr) {
  std::vector<int> r;
  for (int i = 0; i < kNumOps; ++i)
    if (!keep || keep(op_at(i))) r.push_back(i);
  return r;
}
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
  return j < 32 && ((c.sample.diff_outputs >> j) & 1u) && out.dtype() == float64 &&
         out.numel() > 0;
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
      if (op->num_inputs >= 0) EXPECT_EQ(n, static_cast<size_t>(op->num_inputs));
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
    for (size_t j = 0; j < out.size(); ++j) EXPECT_TRUE(close(out[j], ref[j], tol)) << "output " << j;
    ++checked;
  }
  if (!checked) GTEST_SKIP() << "no float32 sample";
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
    for (size_t k = 0; k < in.size(); ++k) {
      if (!in[k].requires_grad()) continue;
      const std::vector<double> analytic =
          in[k].grad().defined() ? in[k].grad().to_vector<double>()
                                 : std::vector<double>(static_cast<size_t>(in[k].numel()), 0.0);
      ASSERT_EQ(analytic.size(), static_cast<size_t>(in[k].numel()));
      double* p = in[k].data<double>();
      for (int64_t i = 0; i < in[k].numel(); ++i) {
        const double orig = p[i];
        p[i] = orig + eps;
        const double up = value();
        p[i] = orig - eps;
        const double down = value();
        p[i] = orig;
        const double numeric = (up - down) / (2 * eps);
        ASSERT_NEAR(analytic[i], numeric, atol + rtol * std::abs(numeric))
            << "d objective / d input " << k << " at flat index " << i;
      }
    }
  }
}

// ---- graph: eager against a compiled graph, bit for bit -------------------------------------

namespace {

// The inputs the graph reads: written inputs are captured (the graph writes them in place),
// the others are fed.
struct GraphInputs {
  std::vector<Tensor> values;                // what the op is called with while recording
  std::map<std::string, Tensor> feeds;       // name -> fed value
  std::vector<Tensor> captured;              // written inputs (index as in the op)
};

GraphInputs graph_inputs(Graph& g, const OpCase& c, const std::vector<Tensor>& in,
                         const std::vector<Tensor>& captures) {
  GraphInputs r;
  r.captured.resize(in.size());
  for (size_t k = 0; k < in.size(); ++k) {
    if (mutates(*c.op, k)) {
      r.captured[k] = captures[k];
      r.values.push_back(captures[k]);
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
TEST_P(EagerGraph, BitForBit) {
  for (const OpCase& c : op_cases(op())) {
    if (c.skips(SampleCheck::no_graph)) continue;
    SCOPED_TRACE(c.name);
    const std::vector<Tensor> in = make_inputs(c);
    const std::vector<Tensor> eager = run_op(*c.op, eager_attrs(c), in);
    std::vector<Tensor> captures(in.size());
    for (size_t k = 0; k < in.size(); ++k)
      if (mutates(*c.op, k)) captures[k] = in[k].clone();
    Tensor dummy = Tensor::zeros({1});
    std::vector<Tensor> outs;
    Executable exe;
    GraphInputs gi;
    {
      Graph g;
      gi = graph_inputs(g, c, in, captures);
      outs = call_op(op(), gi.values, c.sample.attrs);
      if (outs.empty()) {  // an in-place update: compile needs an output
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
    for (size_t k = 0; k < in.size(); ++k)
      if (mutates(*c.op, k)) EXPECT_TRUE(same_bits(gi.captured[k], eager[j++])) << "input " << k;
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

INSTANTIATE_TEST_SUITE_P(OpTable, Forward, ::testing::ValuesIn(op_indices()), op_param_name);
INSTANTIATE_TEST_SUITE_P(OpTable, Gradient, ::testing::ValuesIn(op_indices(differentiable)),
                         op_param_name);
INSTANTIATE_TEST_SUITE_P(OpTable, EagerGraph, ::testing::ValuesIn(op_indices()), op_param_name);
INSTANTIATE_TEST_SUITE_P(OpTable, EagerGraphGradient,
                         ::testing::ValuesIn(op_indices(differentiable)), op_param_name);
INSTANTIATE_TEST_SUITE_P(OpTable, Inplace, ::testing::ValuesIn(op_indices(may_write_over_input)),
                         op_param_name);

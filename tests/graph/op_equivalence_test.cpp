// Eager == graph for chains of ops: forward values and gradients (graph autodiff vs the
// tape), bit for bit, on float64 inputs. Single ops: tests/ops_table/.
#include "duet/graph.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

struct Case {
  const char* name;
  std::vector<Shape> shapes;
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  double lo = -1, hi = 1;
};

void check_case(const Case& c) {
  SCOPED_TRACE(c.name);
  std::vector<Tensor> xs;
  for (size_t i = 0; i < c.shapes.size(); ++i)
    xs.push_back(rand64(c.shapes[i], 100 + i, c.lo, c.hi));
  // Eager: forward, then the tape with a fixed output gradient.
  Tensor y = c.fn(xs);
  Generator gen(7);
  Tensor gy = Tensor::uniform(y.shape(), -1, 1, gen, y.dtype());
  y.backward(gy);
  // Graph: the same function traced, gradients by graph autodiff of <y, gy>.
  Graph g({.training = true});
  std::vector<Tensor> ins;
  for (size_t i = 0; i < c.shapes.size(); ++i)
    ins.push_back(g.input("x" + std::to_string(i), c.shapes[i], float64));
  Tensor ys = c.fn(ins);
  Tensor objective = sum(mul(ys, gy));
  std::vector<Tensor> grads = gradients(objective, ins);
  std::vector<Tensor> outs{ys};
  for (const Tensor& t : grads) outs.push_back(t);
  Executable exe = compile(g, outs, {.training = true, .bit_exact = true});
  std::map<std::string, Tensor> feeds;
  for (size_t i = 0; i < xs.size(); ++i) feeds["x" + std::to_string(i)] = xs[i].detach();
  std::vector<Tensor> r = exe.run(feeds);
  expect_close(r[0], y.detach(), 0, 0);
  for (size_t i = 0; i < xs.size(); ++i) {
    SCOPED_TRACE("gradient of input " + std::to_string(i));
    // The graph's seed gradient is sum's backward (an expand), the tape's is gy directly:
    // the same numbers, so the gradients agree to the last bits or very nearly.
    expect_close(r[1 + i], xs[i].grad(), 1e-12, 1e-14);
  }
}

}  // namespace

// Every op on its own, eager against graph (forward and gradients): the op table's test,
// tests/ops_table/ (EagerGraph, EagerGraphGradient). Here: chains the single-op samples do not
// reach, on float64 inputs: views of views (a reshape that must copy a permuted input, slices
// and pads of them), an expanded (stride 0) operand, scalar operators, and public functions
// made of several ops.
TEST(OpEquivalence, EagerAndGraphAgreeForOpChains) {
  std::vector<Case> cases = {
      {"scalars", {{4}}, [](auto& x) { return (2.0 - x[0]) * 3.0 / 2.0 + 1.0; }},
      {"where of a comparison",
       {{2, 3}, {2, 3}},
       [](auto& x) { return where(gt(x[0], 0.0), x[0], x[1]); }},
      {"batch_norm train",
       {{3, 2, 2, 3}, {2}, {2}},
       [](auto& x) { return batch_norm(x[0], x[1], x[2], {}, {}, true); }},
      {"mse", {{2, 3}, {2, 3}}, [](auto& x) { return mse_loss(x[0], x[1]); }},
      {"shape ops",
       {{2, 3, 4}},
       [](auto& x) {
         Tensor t = x[0].permute({2, 0, 1}).reshape({4, 6}).slice(1, 1, 5).unsqueeze(0);
         return pad(concat({t, t * 2.0}, 1), {1, 0, 0, 1}).flatten();
       }},
      {"expand sum_to",
       {{3, 1}},
       [](auto& x) {
         return x[0].expand({2, 3, 4}) * 1.5;
       }},
  };
  for (const Case& c : cases) check_case(c);
}

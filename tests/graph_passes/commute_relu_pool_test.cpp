// commute_relu_pool: relu -> max_pool2d becomes max_pool2d -> relu in training graphs, with
// bit-identical values and gradients (ties, zeros and all-negative windows included).
#include "duet/ops.h"
#include "pass_test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

// x: (2, 3, 7, 6) with values in {-2, -1, 0, 1, 2}: many ties, zeros and negative windows.
Tensor tie_heavy_input() {
  std::vector<float> v(2 * 3 * 7 * 6);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(static_cast<int>(i * 7 % 5) - 2);
  return Tensor::from_vector(v, {2, 3, 7, 6});
}

struct Built {
  std::vector<Tensor> outputs;  // loss, d loss / d x
};

// loss = sum(max_pool2d(relu(x)) * c), and its gradient with respect to x.
Built build(Graph& g, const Tensor& c, const Pool2dOptions& opts, bool extra_relu_reader) {
  Tensor x = g.input("x", {2, 3, 7, 6});
  Tensor r = relu(x);
  Tensor loss = sum(max_pool2d(r, opts) * c);
  if (extra_relu_reader) loss = loss + sum(r);
  return {{loss, gradients(loss, {x})[0]}};
}

}  // namespace

TEST(CommuteReluPool, RewritesAndKeepsEveryBit) {
  Generator gen(3);
  // (options, pooled shape of the (2, 3, 7, 6) input)
  const std::vector<std::pair<Pool2dOptions, Shape>> cases = {
      {Pool2dOptions{.kernel = {2, 2}, .stride = {2, 2}}, Shape{2, 3, 3, 3}},
      {Pool2dOptions{.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}, Shape{2, 3, 4, 3}}};
  for (const auto& [opts, pooled] : cases) {
    const Tensor c = Tensor::randn(pooled, gen);
    Graph g({.training = true});
    Built b = build(g, c, opts, false);
    std::vector<detail::ValueRef> outs =
        run_pass(g, b.outputs, detail::commute_relu_pool, {.training = true});
    expect_topological(*g.data());
    // relu now reads the pooled values; its gradient feeds the pooling's backward.
    int relus_after_pool = 0;
    for (const detail::Node& n : g.data()->nodes)
      if (!n.dead && n.kind == detail::NodeKind::op && n.op->name == "relu")
        relus_after_pool += g.data()->nodes[n.inputs[0].node].op != nullptr &&
                            g.data()->nodes[n.inputs[0].node].op->name == "max_pool2d";
    EXPECT_EQ(relus_after_pool, 1);

    // Compiled with and without the pass, and eager: the same bits.
    const Tensor x = tie_heavy_input();
    Graph g1({.training = true});
    Built b1 = build(g1, c, opts, false);
    Executable on = compile(g1, b1.outputs, {.training = true});
    Graph g2({.training = true});
    Built b2 = build(g2, c, opts, false);
    Executable off =
        compile(g2, b2.outputs, {.training = true, .disabled_passes = {"commute_relu_pool"}});
    std::vector<Tensor> ro = on.run({{"x", x}}), rf = off.run({{"x", x}});
    expect_same(ro[0], rf[0]);
    expect_same(ro[1], rf[1]);
    Tensor xe = x.clone().requires_grad_();
    Tensor le = sum(max_pool2d(relu(xe), opts) * c);
    le.backward();
    expect_same(ro[0], le.detach());
    expect_same(ro[1], xe.grad());
    (void)outs;
  }
}

TEST(CommuteReluPool, LeavesSharedReluAndEvalGraphsAlone) {
  Generator gen(4);
  const Pool2dOptions opts{.kernel = {2, 2}, .stride = {2, 2}};
  const Tensor c = Tensor::randn({2, 3, 3, 3}, gen);
  Graph shared({.training = true});
  Built b = build(shared, c, opts, /*extra_relu_reader=*/true);
  const size_t before = shared.data()->nodes.size();
  run_pass(shared, b.outputs, detail::commute_relu_pool, {.training = true});
  EXPECT_EQ(shared.data()->nodes.size(), before);

  Graph eval;
  Tensor y = max_pool2d(relu(eval.input("x", {2, 3, 7, 6})), opts);
  const size_t n_eval = eval.data()->nodes.size();
  run_pass(eval, {y}, detail::commute_relu_pool, {});
  EXPECT_EQ(eval.data()->nodes.size(), n_eval);
  EXPECT_EQ(eval.data()->nodes[1].op->name, "relu");  // still reads the input x
}

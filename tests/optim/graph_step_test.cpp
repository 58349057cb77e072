// Optimizers in graph mode: a compiled training step updates the same parameters and state
// tensors as eager steps, reads the lr at run time (set_lr after compile takes effect) and
// counts steps in the state tensors.
#include <memory>

#include "duet/graph.h"
#include "duet/ops.h"
#include "duet/optim.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

struct Problem {
  Tensor w, b;
  Problem() {
    Generator gen(11);
    w = Tensor::randn({3, 4}, gen, float64).requires_grad_();
    b = Tensor::randn({3}, gen, float64).requires_grad_();
  }
  Tensor loss(const Tensor& x, const Tensor& y) const { return cross_entropy(linear(x, w, b), y); }
};

using Factory = std::unique_ptr<optim::Optimizer> (*)(std::vector<Tensor>);

void check_graph_matches_eager(Factory make) {
  Generator gen(5);
  Problem eager, graph;
  auto opt_e = make({eager.w, eager.b});
  auto opt_g = make({graph.w, graph.b});
  Graph g({.training = true});
  Tensor xs = g.input("x", {6, 4}, float64);
  Tensor ys = g.input("y", {6}, int64);
  Executable step = compile(g, {graph.loss(xs, ys)}, {.training = true, .optimizer = opt_g.get()});
  EXPECT_EQ(opt_g->state(0).step(), 0);  // compiling runs nothing
  for (int it = 0; it < 4; ++it) {
    if (it == 2) {  // a schedule changes the lr between steps: no recompilation needed
      opt_e->set_lr(opt_e->lr() * 0.5);
      opt_g->set_lr(opt_g->lr() * 0.5);
    }
    Tensor x = Tensor::randn({6, 4}, gen, float64);
    Tensor y = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 0, 1, 2}, {6});
    opt_e->zero_grad();
    Tensor l = eager.loss(x, y);
    l.backward();
    opt_e->step();
    Tensor lg = step.run({{"x", x}, {"y", y}})[0];
    expect_close(lg, l, 1e-12, 1e-12);
    expect_close(graph.w, eager.w, 1e-12, 1e-12);
    expect_close(graph.b, eager.b, 1e-12, 1e-12);
    EXPECT_EQ(opt_g->state(0).step(), it + 1);
    EXPECT_EQ(opt_g->state(1).step(), it + 1);
  }
  for (size_t i = 0; i < 2; ++i)
    for (const auto& [key, t] : opt_e->state(i).tensors)
      expect_close(opt_g->state(i).get(key), t, 1e-12, 1e-12);
}

}  // namespace

TEST(OptimizerGraph, SgdMomentumMatchesEager) {
  check_graph_matches_eager([](std::vector<Tensor> ps) -> std::unique_ptr<optim::Optimizer> {
    return std::make_unique<optim::SGD>(ps, 0.2, 0.9, 0.0, 1e-3, /*nesterov=*/true);
  });
}

TEST(OptimizerGraph, PlainSgdMatchesEager) {
  check_graph_matches_eager([](std::vector<Tensor> ps) -> std::unique_ptr<optim::Optimizer> {
    return std::make_unique<optim::SGD>(ps, 0.1);
  });
}

TEST(OptimizerGraph, AdamWMatchesEager) {
  check_graph_matches_eager([](std::vector<Tensor> ps) -> std::unique_ptr<optim::Optimizer> {
    return std::make_unique<optim::AdamW>(ps, 0.05);
  });
}

TEST(OptimizerGraph, UpdateNodesReadLrAndStepTensors) {
  Problem p;
  optim::Adam adam({p.w, p.b}, 0.01);
  Graph g({.training = true});
  Tensor xs = g.input("x", {2, 4}, float64);
  Tensor ys = g.input("y", {2}, int64);
  Tensor loss = p.loss(xs, ys);
  std::vector<Tensor> grads = gradients(loss, adam.params());
  adam.apply_gradients(grads);  // symbolic grads: recorded, not run
  g.end_build();
  EXPECT_EQ(adam.state(0).step(), 0);
  const std::string dump = g.dump();
  EXPECT_NE(dump.find("adam_step_"), std::string::npos) << dump;
  // The lr and step are graph inputs (captures), not attributes.
  EXPECT_EQ(dump.find("lr="), std::string::npos) << dump;
  EXPECT_EQ(dump.find("step="), std::string::npos) << dump;
}

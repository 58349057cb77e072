// The whole pipeline on real training steps: compiled == eager (fashion_cnn: conv, batch norm,
// relu, pooling, linear, dropout; Adam), with every pass on and with each pass off.
#include <set>

#include "duet/models/fashion_cnn.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "pass_test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

double rel_diff(const Tensor& a, const Tensor& b) {
  std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
  double d = 0, m = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    d = std::max(d, std::abs(va[i] - vb[i]));
    m = std::max(m, std::abs(vb[i]));
  }
  return m > 0 ? d / m : d;
}

// Adam steps eagerly and compiled (passes in `disabled` off), from the same weights and
// seeds; the largest relative difference over the losses and the final state.
double train_difference(const std::set<std::string>& disabled, double dropout) {
  const int64_t bs = 8, steps = 3;
  Generator gen(7);
  std::vector<Tensor> xs, ys;
  for (int64_t s = 0; s < steps; ++s) {
    xs.push_back(Tensor::randn({bs, 1, 28, 28}, gen));
    ys.push_back(Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}, {bs}));
  }
  std::vector<Tensor> eager_losses, graph_losses;
  std::vector<nn::StateDict> states;
  for (bool graph : {false, true}) {
    Generator wgen(8);
    auto net = models::fashion_cnn(wgen, dropout);
    optim::Adam opt(net->parameters(), 1e-3);
    manual_seed(9);
    if (!graph) {
      for (int64_t s = 0; s < steps; ++s) {
        opt.zero_grad();
        Tensor loss = cross_entropy((*net)(xs[s]), ys[s]);
        loss.backward();
        opt.step();
        eager_losses.push_back(loss.detach());
      }
    } else {
      Graph g({.training = true});
      Tensor loss = cross_entropy((*net)(g.input("x", {bs, 1, 28, 28})), g.input("y", {bs}, int64));
      Executable step =
          compile(g, {loss}, {.training = true, .optimizer = &opt, .disabled_passes = disabled});
      for (int64_t s = 0; s < steps; ++s)
        graph_losses.push_back(step.run({{"x", xs[s]}, {"y", ys[s]}})[0].clone());
    }
    nn::StateDict sd;
    for (auto& [name, t] : net->state_dict()) sd.push_back({name, t.clone()});
    states.push_back(sd);
  }
  double d = 0;
  for (int64_t s = 0; s < steps; ++s) d = std::max(d, rel_diff(graph_losses[s], eager_losses[s]));
  for (size_t i = 0; i < states[0].size(); ++i) {
    const double di = rel_diff(states[1][i].second, states[0][i].second);
    EXPECT_LT(di, 1e-4) << states[0][i].first;
    d = std::max(d, di);
  }
  return d;
}

}  // namespace

TEST(PipelineTraining, CompiledStepsEqualEager) {
  // dropout = 0: the random stream of dropout is not what these passes change (the
  // compare_modes example test covers graph-vs-eager seeds).
  EXPECT_LT(train_difference({}, 0.0), 1e-5);
  EXPECT_LT(train_difference({"cse", "constant_folding", "fuse_epilogue", "dce"}, 0.0), 1e-5);
  for (const char* pass : {"cse", "constant_folding", "commute_relu_pool", "fuse_epilogue"}) {
    SCOPED_TRACE(pass);
    EXPECT_LT(train_difference({pass}, 0.0), 1e-5);
  }
}

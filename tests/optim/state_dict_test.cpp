// Optimizer::state_dict / load_state_dict: round trips that continue bit for bit (SGD with
// momentum, Adam, AdamW), loading in place into the state a compiled training graph holds,
// and errors that name the key and change nothing.
#include <memory>

#include "duet/graph.h"
#include "duet/ops.h"
#include "duet/optim.h"
#include "test_util.h"

using namespace duet;

namespace {

struct Problem {
  Tensor w, b;
  explicit Problem(uint64_t seed = 11) {
    Generator gen(seed);
    w = Tensor::randn({3, 4}, gen).requires_grad_();
    b = Tensor::randn({3}, gen).requires_grad_();
  }
  Tensor loss(const Tensor& x, const Tensor& y) const { return cross_entropy(linear(x, w, b), y); }
  void step(optim::Optimizer& opt, int it) const {
    Generator gen(100 + it);
    Tensor x = Tensor::randn({6, 4}, gen);
    Tensor y = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 0, 1, 2}, {6});
    opt.zero_grad();
    loss(x, y).backward();
    opt.step();
  }
};

using Factory = std::unique_ptr<optim::Optimizer> (*)(std::vector<Tensor>);

std::unique_ptr<optim::Optimizer> sgd(std::vector<Tensor> p) {
  return std::make_unique<optim::SGD>(std::move(p), 0.1, 0.9, 0.1, 1e-3);
}
std::unique_ptr<optim::Optimizer> adam(std::vector<Tensor> p) {
  return std::make_unique<optim::Adam>(std::move(p), 0.01, std::make_pair(0.8, 0.95), 1e-7);
}
std::unique_ptr<optim::Optimizer> adamw(std::vector<Tensor> p) {
  return std::make_unique<optim::AdamW>(std::move(p), 0.02);
}

std::vector<std::vector<float>> values(const optim::Optimizer& opt) {
  std::vector<std::vector<float>> v;
  for (const auto& [k, t] : opt.state_dict().state) v.push_back(t.to(float32).to_vector<float>());
  return v;
}

void round_trip(Factory make) {
  Problem a, b(12);
  auto opt_a = make({a.w, a.b});
  auto opt_b = make({b.w, b.b});
  opt_b->set_lr(0.5);  // to be overwritten
  for (int it = 0; it < 3; ++it) a.step(*opt_a, it);
  const Tensor b_state0 = opt_b->state(0).tensors.back().second;
  // The model weights travel separately (Module::state_dict); here by hand.
  {
    NoGradGuard no_grad;
    b.w.copy_(a.w);
    b.b.copy_(a.b);
  }
  optim::OptimizerStateDict sd = opt_a->state_dict();
  EXPECT_EQ(sd.name, opt_a->name());
  EXPECT_EQ(sd.hyperparameters.front().first, "lr");
  EXPECT_EQ(sd.state.front().first, "0.step");
  opt_b->load_state_dict(sd);
  EXPECT_TRUE(opt_b->state(0).tensors.back().second.is_same(b_state0));  // in place
  EXPECT_EQ(opt_b->hyperparameters(), opt_a->hyperparameters());
  EXPECT_EQ(values(*opt_b), values(*opt_a));
  EXPECT_EQ(opt_b->state(1).step(), 3);
  for (int it = 3; it < 5; ++it) {
    a.step(*opt_a, it);
    b.step(*opt_b, it);
  }
  EXPECT_EQ(b.w.to_vector<float>(), a.w.to_vector<float>());  // bit for bit
  EXPECT_EQ(b.b.to_vector<float>(), a.b.to_vector<float>());
  EXPECT_EQ(values(*opt_b), values(*opt_a));
}

}  // namespace

TEST(OptimizerStateDict, SgdMomentumRoundTripContinuesExactly) { round_trip(sgd); }
TEST(OptimizerStateDict, AdamRoundTripContinuesExactly) { round_trip(adam); }
TEST(OptimizerStateDict, AdamWRoundTripContinuesExactly) { round_trip(adamw); }

TEST(OptimizerStateDict, HyperParametersByName) {
  Problem p;
  optim::SGD opt({p.w, p.b}, 0.1, 0.9, 0.0, 5e-4, true);
  EXPECT_EQ(opt.hyperparameters(),
            (std::vector<std::pair<std::string, double>>{{"lr", 0.1},
                                                         {"momentum", 0.9},
                                                         {"dampening", 0.0},
                                                         {"weight_decay", 5e-4},
                                                         {"nesterov", 1.0}}));
  auto sd = opt.state_dict();
  sd.hyperparameters = {{"nesterov", 0.0}, {"lr", 0.3}, {"momentum", 0.5}, {"dampening", 0.1},
                        {"weight_decay", 0.0}};  // any order
  opt.load_state_dict(sd);
  EXPECT_EQ(opt.lr(), 0.3);
  EXPECT_EQ(opt.momentum, 0.5);
  EXPECT_EQ(opt.dampening, 0.1);
  EXPECT_FALSE(opt.nesterov);
  optim::Adam a({p.w}, 1e-3);
  EXPECT_EQ(a.state_dict().state.size(), 3u);  // 0.step, 0.exp_avg, 0.exp_avg_sq
}

TEST(OptimizerStateDict, LoadsIntoTheStateACompiledGraphHolds) {
  // Two identical problems; one trains eagerly, the other through a compiled step. Loading
  // a state dict into the graph's optimizer after compile changes what the next run uses.
  Problem eager, graph;
  optim::Adam opt_e({eager.w, eager.b}, 0.01);
  optim::Adam opt_g({graph.w, graph.b}, 0.01);
  Graph g({.training = true});
  Tensor xs = g.input("x", {6, 4});
  Tensor ys = g.input("y", {6}, int64);
  Executable step = compile(g, {graph.loss(xs, ys)}, {.training = true, .optimizer = &opt_g});
  for (int it = 0; it < 2; ++it) eager.step(opt_e, it);  // eager runs ahead by 2 steps
  {
    NoGradGuard no_grad;
    graph.w.copy_(eager.w);
    graph.b.copy_(eager.b);
  }
  auto sd = opt_e.state_dict();
  sd.hyperparameters[0].second = 0.005;
  opt_e.load_state_dict(sd);  // the same lr change for the eager twin
  opt_g.load_state_dict(sd);
  Generator gen(102);
  Tensor x = Tensor::randn({6, 4}, gen);
  Tensor y = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 0, 1, 2}, {6});
  step.run({{"x", x}, {"y", y}});
  eager.step(opt_e, 2);
  EXPECT_EQ(opt_g.state(0).step(), 3);
  test::expect_close(graph.w, eager.w, 1e-6, 1e-6);
  test::expect_close(graph.b, eager.b, 1e-6, 1e-6);
}

TEST(OptimizerStateDict, ErrorsNameTheKeyAndChangeNothing) {
  Problem p;
  optim::Adam opt({p.w, p.b}, 0.01);
  p.step(opt, 0);
  const auto before = values(opt);
  const auto good = opt.state_dict();
  auto expect_unchanged = [&] {
    EXPECT_EQ(values(opt), before);
    EXPECT_EQ(opt.lr(), 0.01);
    EXPECT_EQ(opt.beta1, 0.9);
  };
  auto bad = good;
  bad.name = "SGD";
  EXPECT_DUET_ERROR(opt.load_state_dict(bad), "Adam::load_state_dict", "optimizer 'SGD'",
                    "expected 'Adam'");
  bad = good;
  bad.hyperparameters.pop_back();
  EXPECT_DUET_ERROR(opt.load_state_dict(bad), "missing hyper-parameter 'weight_decay'");
  bad = good;
  bad.hyperparameters.emplace_back("amsgrad", 0.0);
  EXPECT_DUET_ERROR(opt.load_state_dict(bad), "unexpected hyper-parameter 'amsgrad'");
  bad = good;
  bad.hyperparameters[1].second = 1.5;  // beta1
  for (auto& s : bad.state) s.second = s.second.clone().fill_(7);
  EXPECT_DUET_ERROR(opt.load_state_dict(bad), "betas = (1.5, 0.999)", "[0, 1)");
  bad = good;
  bad.hyperparameters[0].second = -1;
  EXPECT_DUET_ERROR(opt.load_state_dict(bad), "lr = -1");
  bad = good;
  bad.hyperparameters[2].second = std::nan("");
  EXPECT_DUET_ERROR(opt.load_state_dict(bad), "'beta2' = nan", "finite");
  bad = good;
  bad.state.pop_back();  // 1.exp_avg_sq
  EXPECT_DUET_ERROR(opt.load_state_dict(bad), "missing state key '1.exp_avg_sq'", "(3,)");
  bad = good;
  bad.state[1].second = Tensor::zeros({4, 3});  // 0.exp_avg
  EXPECT_DUET_ERROR(opt.load_state_dict(bad), "state key '0.exp_avg' has shape (4, 3) float32",
                    "expects (3, 4) float32");
  bad = good;
  bad.state[0].second = Tensor::zeros({});  // 0.step as float32
  EXPECT_DUET_ERROR(opt.load_state_dict(bad), "'0.step'", "float32", "int64");
  bad = good;
  bad.state.emplace_back("2.exp_avg", Tensor::zeros({1}));
  EXPECT_DUET_ERROR(opt.load_state_dict(bad), "unexpected state key '2.exp_avg'", "2 parameters");
  bad = good;
  bad.state.push_back(bad.state[0]);
  EXPECT_DUET_ERROR(opt.load_state_dict(bad), "state key '0.step' appears more than once");
  expect_unchanged();

  optim::SGD plain({p.w}, 0.1);  // no momentum buffers
  auto sd = plain.state_dict();
  sd.hyperparameters[1].second = 0.9;
  EXPECT_DUET_ERROR(plain.load_state_dict(sd), "SGD: momentum = 0.9",
                    "built without momentum buffers");
  EXPECT_EQ(plain.momentum, 0.0);
}

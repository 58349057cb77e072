// duet::amp::GradScaler (duet/amp.h): the scale sequence of a training loop (back off on an
// overflow, grow after growth_interval good steps), skipped steps that leave parameters and
// optimizer state bit-identical (SGD with momentum, Adam), eager against a compiled step
// (CompileOptions::grad_scaler) bit for bit over a sequence with overflows, state_dict, errors.
#include <cmath>
#include <limits>
#include <memory>

#include "duet/amp.h"
#include "duet/graph.h"
#include "duet/io.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "duet/optim/updates.h"
#include "duet/train.h"
#include "io/io_test_util.h"
#include "test_util.h"

using namespace duet;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::shared_ptr<nn::Sequential> make_net(uint64_t seed) {
  Generator gen(seed);
  return std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(6, 8, true, gen), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(8, 3, true, gen)});
}

struct Batch {
  Tensor x, y;
};
Batch batch(int i) {
  Generator gen(100 + i);
  return {Tensor::randn({5, 6}, gen),
          Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 1, 0}, {5})};
}

// The loss times `factor` (a float32 scalar): factor = inf makes every gradient inf/NaN.
Tensor loss_of(nn::Module& net, const Tensor& x, const Tensor& y, const Tensor& factor) {
  return mul(cross_entropy(net(x), y), factor);
}

std::unique_ptr<optim::Optimizer> make_opt(const std::string& kind, nn::Module& net) {
  if (kind == "sgd") return std::make_unique<optim::SGD>(net.parameters(), 0.1, 0.9);
  return std::make_unique<optim::Adam>(net.parameters(), 0.01);
}

// Bit patterns of every parameter and every optimizer state tensor.
std::vector<std::vector<uint8_t>> snapshot(const optim::Optimizer& opt) {
  std::vector<std::vector<uint8_t>> r;
  auto add = [&](const Tensor& t) {
    const Tensor c = t.contiguous();
    const auto* p = static_cast<const uint8_t*>(c.data_ptr());
    r.emplace_back(p, p + c.numel() * static_cast<int64_t>(dtype_size(c.dtype())));
  };
  for (const Tensor& p : opt.params()) add(p);
  for (const auto& [k, t] : opt.state_dict().state) add(t);
  return r;
}

Tensor factor(double v) {
  return Tensor::full({}, v, float32);
}

}  // namespace

TEST(GradScaler, ScaleSequenceInATrainingLoop) {
  auto net = make_net(1);
  optim::SGD opt(net->parameters(), 0.05);
  amp::GradScaler scaler({.init_scale = 1024, .growth_interval = 2});
  EXPECT_EQ(scaler.get_scale(), 1024.0);
  // overflow pattern -> (stepped, scale after update)
  const bool overflow[] = {false, false, true, false, true, true, false, false, false};
  const double scales[] = {1024, 2048, 1024, 1024, 512, 256, 256, 512, 512};
  for (int i = 0; i < 9; ++i) {
    const Batch b = batch(i);
    opt.zero_grad();
    scaler.scale(loss_of(*net, b.x, b.y, factor(overflow[i] ? kInf : 1.0))).backward();
    EXPECT_EQ(scaler.step(opt), !overflow[i]) << "step " << i;
    EXPECT_EQ(scaler.found_inf().item<float>(), overflow[i] ? 1.0f : 0.0f);
    scaler.update();
    EXPECT_EQ(scaler.get_scale(), scales[i]) << "step " << i;
  }
  EXPECT_EQ(scaler.skipped_steps(), 3);
  EXPECT_EQ(opt.state(0).step(), 6);  // the skipped steps did not count
}

TEST(GradScaler, UnscaledGradientsEqualTheUnscaledLossGradients) {
  auto a = make_net(2), b = make_net(2);
  amp::GradScaler scaler({.init_scale = 4096});
  optim::SGD opt(a->parameters(), 0.1);
  const Batch x = batch(0);
  scaler.scale(loss_of(*a, x.x, x.y, factor(1))).backward();
  scaler.unscale_(opt);
  loss_of(*b, x.x, x.y, factor(1)).backward();
  const auto pa = a->parameters(), pb = b->parameters();
  // A power-of-two scale: scaling and unscaling are exact, so the gradients are the same bits
  // unless a scaled value rounds differently, which float32 backward through linear/relu/
  // cross_entropy does not do here; allow 1 ulp anyway.
  for (size_t i = 0; i < pa.size(); ++i) test::expect_close(pa[i].grad(), pb[i].grad(), 1e-6, 0);
  EXPECT_DUET_ERROR(scaler.unscale_(opt), "GradScaler::unscale_", "already called");
}

class GradScalerSkip : public ::testing::TestWithParam<std::string> {};

// A step with inf gradients leaves parameters and all optimizer state bit-identical: eagerly
// (step() reads the flag), with the device gate (apply_gradients), and in a compiled step.
TEST_P(GradScalerSkip, SkippedStepChangesNothing) {
  auto net = make_net(3);
  auto opt = make_opt(GetParam(), *net);
  amp::GradScaler scaler({.init_scale = 256});
  for (int i = 0; i < 2; ++i) {  // some momentum / moments first
    const Batch b = batch(i);
    opt->zero_grad();
    scaler.scale(loss_of(*net, b.x, b.y, factor(1))).backward();
    ASSERT_TRUE(scaler.step(*opt));
    scaler.update();
  }
  const Batch b = batch(5);
  // eager, host read
  auto before = snapshot(*opt);
  opt->zero_grad();
  scaler.scale(loss_of(*net, b.x, b.y, factor(kInf))).backward();
  EXPECT_FALSE(scaler.step(*opt));
  scaler.update();
  EXPECT_EQ(snapshot(*opt), before);
  EXPECT_EQ(scaler.get_scale(), 128.0);
  // eager, device gate
  opt->zero_grad();
  scaler.scale(loss_of(*net, b.x, b.y, factor(kInf))).backward();
  std::vector<Tensor> grads;
  for (const Tensor& p : opt->params()) grads.push_back(p.grad());
  scaler.apply_gradients(*opt, grads);
  EXPECT_EQ(snapshot(*opt), before);
  EXPECT_EQ(scaler.get_scale(), 64.0);
  // graph
  Graph g({.training = true});
  Tensor f = g.input("f", {});
  Tensor loss = loss_of(*net, g.input("x", {5, 6}), g.input("y", {5}, int64), f);
  Executable exe = compile(
      g, {loss},
      {.training = true, .optimizer = opt.get(), .bit_exact = true, .grad_scaler = &scaler});
  exe.run({{"x", b.x}, {"y", b.y}, {"f", factor(kInf)}});
  EXPECT_EQ(snapshot(*opt), before);
  EXPECT_EQ(scaler.get_scale(), 32.0);
  EXPECT_EQ(scaler.skipped_steps(), 3);
  // and a good step does change them
  exe.run({{"x", b.x}, {"y", b.y}, {"f", factor(1)}});
  EXPECT_NE(snapshot(*opt), before);
  EXPECT_EQ(scaler.skipped_steps(), 3);
}
INSTANTIATE_TEST_SUITE_P(Optimizers, GradScalerSkip, ::testing::Values("sgd", "adam"));

class GradScalerEagerGraph : public ::testing::TestWithParam<std::string> {};

// Ten steps with overflows at steps 3, 4 and 8 and growth every 2 good steps: eager
// (scale/backward/step/update) and a compiled step give the same parameters, optimizer
// state, scale and skip count, bit for bit.
TEST_P(GradScalerEagerGraph, BitIdentical) {
  const bool overflow[] = {false, false, false, true, true, false, false, false, true, false};
  const amp::GradScalerOptions so{.init_scale = 512, .growth_interval = 2};
  auto ne = make_net(4), ng = make_net(4);
  auto oe = make_opt(GetParam(), *ne), og = make_opt(GetParam(), *ng);
  amp::GradScaler se(so), sg(so);
  Graph g({.training = true});
  Tensor loss = loss_of(*ng, g.input("x", {5, 6}), g.input("y", {5}, int64), g.input("f", {}));
  Executable exe = compile(
      g, {loss}, {.training = true, .optimizer = og.get(), .bit_exact = true, .grad_scaler = &sg});
  for (int i = 0; i < 10; ++i) {
    const Batch b = batch(i);
    const Tensor f = factor(overflow[i] ? kInf : 1.0);
    oe->zero_grad();
    se.scale(loss_of(*ne, b.x, b.y, f)).backward();
    se.step(*oe);
    se.update();
    exe.run({{"x", b.x}, {"y", b.y}, {"f", f}});
    ASSERT_EQ(sg.get_scale(), se.get_scale()) << "step " << i;
  }
  EXPECT_EQ(snapshot(*og), snapshot(*oe));
  EXPECT_EQ(se.skipped_steps(), 3);
  EXPECT_EQ(sg.skipped_steps(), 3);
  EXPECT_EQ(se.state_dict()[1].second.item<int64_t>(), sg.state_dict()[1].second.item<int64_t>());
}
INSTANTIATE_TEST_SUITE_P(Optimizers, GradScalerEagerGraph, ::testing::Values("sgd", "adam"));

// A scale far too large: with the loss multiplied by 2^100, every step overflows float32
// until the scale has backed off enough, then training proceeds; with growth_interval 1000
// the scale only ever halves.
TEST(GradScaler, BacksOffFromAnOverflowingScale) {
  auto net = make_net(5);
  optim::SGD opt(net->parameters(), 0.1);
  amp::GradScaler scaler({.init_scale = std::ldexp(1.0, 40), .growth_interval = 1000});
  int stepped = 0;
  for (int i = 0; i < 24; ++i) {
    const Batch b = batch(i);
    opt.zero_grad();
    scaler.scale(loss_of(*net, b.x, b.y, factor(std::ldexp(1.0, 100)))).backward();
    stepped += scaler.step(opt) ? 1 : 0;
    scaler.update();
  }
  EXPECT_GE(scaler.skipped_steps(), 8);  // 2^40 * 2^100 * |g| > 2^128 for |g| > 2^-12
  EXPECT_GT(stepped, 0);
  EXPECT_EQ(scaler.skipped_steps() + stepped, 24);
  EXPECT_EQ(scaler.get_scale(), std::ldexp(1.0, 40 - static_cast<int>(scaler.skipped_steps())));
}

TEST(GradScaler, DisabledPassesThrough) {
  auto net = make_net(6), ref = make_net(6);
  optim::SGD opt(net->parameters(), 0.1), ref_opt(ref->parameters(), 0.1);
  amp::GradScaler scaler({.enabled = false});
  const Batch b = batch(0);
  Tensor loss = loss_of(*net, b.x, b.y, factor(1));
  EXPECT_EQ(scaler.scale(loss).impl(), loss.impl());
  loss.backward();
  EXPECT_TRUE(scaler.step(opt));
  scaler.update();
  loss_of(*ref, b.x, b.y, factor(1)).backward();
  ref_opt.step();
  EXPECT_EQ(snapshot(opt), snapshot(ref_opt));
  EXPECT_EQ(scaler.get_scale(), 1.0);
}

TEST(GradScaler, StateDictRoundTrip) {
  auto net = make_net(7);
  optim::SGD opt(net->parameters(), 0.1);
  amp::GradScaler a({.init_scale = 64, .growth_interval = 3});
  const bool overflow[] = {false, true, false, false};
  for (int i = 0; i < 4; ++i) {
    const Batch b = batch(i);
    opt.zero_grad();
    a.scale(loss_of(*net, b.x, b.y, factor(overflow[i] ? kInf : 1))).backward();
    a.step(opt);
    a.update();
  }
  std::vector<std::pair<std::string, Tensor>> saved;
  for (const auto& [k, t] : a.state_dict()) saved.emplace_back(k, t.clone());
  ASSERT_EQ(saved.size(), 2u);
  EXPECT_EQ(saved[0].first, "scale");
  EXPECT_EQ(saved[1].first, "growth_tracker");
  amp::GradScaler b({.growth_interval = 3});
  const Tensor held = b.scale_tensor();  // load copies in place: held tensors see it
  b.load_state_dict(saved);
  EXPECT_EQ(held.item<float>(), 32.0f);
  EXPECT_EQ(b.get_scale(), a.get_scale());
  EXPECT_EQ(b.state_dict()[1].second.item<int64_t>(), 2);
  // The next good step grows both the same way.
  for (amp::GradScaler* s : {&a, &b}) {
    opt.zero_grad();
    const Batch x = batch(9);
    s->scale(loss_of(*net, x.x, x.y, factor(1))).backward();
    s->unscale_(opt);
    s->update();
  }
  EXPECT_EQ(b.get_scale(), 64.0);
  EXPECT_EQ(a.get_scale(), 64.0);
}

TEST(GradScaler, Errors) {
  EXPECT_DUET_ERROR(amp::GradScaler({.init_scale = -1}), "GradScaler", "init_scale = -1");
  EXPECT_DUET_ERROR(amp::GradScaler({.growth_factor = 0.5}), "GradScaler", "growth_factor = 0.5",
                    "> 1");
  EXPECT_DUET_ERROR(amp::GradScaler({.backoff_factor = 1}), "GradScaler", "backoff_factor = 1",
                    "(0, 1)");
  EXPECT_DUET_ERROR(amp::GradScaler({.growth_interval = 0}), "GradScaler", "growth_interval = 0");
  amp::GradScaler s({.init_scale = 8});
  EXPECT_DUET_ERROR(s.update(), "GradScaler::update", "step(opt) or unscale_(opt) first");
  using State = std::vector<std::pair<std::string, Tensor>>;
  const Tensor tracker = Tensor::zeros({}, int64);
  EXPECT_DUET_ERROR(s.load_state_dict(State{{"growth_tracker", tracker}}), "load_state_dict",
                    "missing key 'scale'", "float32 scalar");
  EXPECT_DUET_ERROR(s.load_state_dict(State{{"scale", Tensor::full({}, 2.0, float64)},
                                            {"growth_tracker", tracker}}),
                    "key 'scale'", "float64", "expected a float32 scalar of shape ()");
  EXPECT_DUET_ERROR(
      s.load_state_dict(State{{"scale", Tensor::ones({2})}, {"growth_tracker", tracker}}),
      "key 'scale' has shape (2,)");
  EXPECT_DUET_ERROR(
      s.load_state_dict(
          State{{"scale", factor(2)}, {"growth_tracker", tracker}, {"_growth_tracker", tracker}}),
      "unexpected key '_growth_tracker'", "'scale' and 'growth_tracker'");
  EXPECT_DUET_ERROR(s.load_state_dict(State{{"scale", factor(-2)}, {"growth_tracker", tracker}}),
                    "scale = -2", "finite value > 0");
  EXPECT_DUET_ERROR(s.load_state_dict(State{{"scale", factor(2)},
                                            {"growth_tracker", Tensor::full({}, 5000, int64)}}),
                    "growth_tracker = 5000", "growth_interval = 2000");
  EXPECT_EQ(s.get_scale(), 8.0);  // nothing loaded by the refused calls
  // Graph mode needs an optimizer, and one that can skip on the device.
  Graph g({.training = true});
  Tensor x = g.input("x", {2});
  EXPECT_DUET_ERROR(compile(g, {sum(x)}, {.training = true, .grad_scaler = &s}),
                    "grad_scaler needs an optimizer");
}

// A checkpoint with a GradScaler (Checkpoint::grad_scaler): saved under "grad_scaler.",
// restored in place; a checkpoint without one refuses a scaler target and changes nothing.
TEST(GradScaler, CheckpointRoundTrip) {
  test::TempDir dir;
  const std::string path = dir.file("scaler.safetensors");
  auto net = make_net(8);
  optim::SGD opt(net->parameters(), 0.1);
  amp::GradScaler a({.init_scale = 64, .growth_interval = 5});
  for (int i = 0; i < 3; ++i) {
    const Batch b = batch(i);
    opt.zero_grad();
    a.scale(loss_of(*net, b.x, b.y, factor(i == 1 ? kInf : 1))).backward();
    a.step(opt);
    a.update();
  }
  train::save_checkpoint(path, {.model = net.get(), .optimizer = &opt, .grad_scaler = &a});
  EXPECT_EQ(io::load_safetensors_metadata(path).at("parts"), "model,optimizer,grad_scaler");
  amp::GradScaler b({.growth_interval = 5});
  train::load_checkpoint(path, {.grad_scaler = &b, .default_generator = false});
  EXPECT_EQ(b.get_scale(), 32.0);
  EXPECT_EQ(b.state_dict()[1].second.item<int64_t>(), 1);
  const std::string plain = dir.file("plain.safetensors");
  train::save_checkpoint(plain, {.model = net.get()});
  amp::GradScaler c({.init_scale = 8});
  EXPECT_DUET_ERROR(train::load_checkpoint(plain, {.grad_scaler = &c}),
                    "holds no grad_scaler state");
  EXPECT_EQ(c.get_scale(), 8.0);
}

// The fuse_updates pass (adam_step_ of a linear weight gradient -> linear_grad_adam_step_)
// keeps the loss-scaling gate: with found_inf = 1 the fused update changes nothing.
TEST(GradScaler, FusedLinearAdamUpdateKeepsTheGate) {
  Generator gen(9);
  Tensor w = Tensor::randn({4, 3}, gen), m = Tensor::zeros({4, 3}), v = Tensor::zeros({4, 3});
  Tensor lr = Tensor::full({}, 0.01, float64), step = Tensor::zeros({}, int64);
  Graph g({.training = true});
  Tensor go = g.input("go", {2, 4}), x = g.input("x", {2, 3}), f = g.input("f", {});
  optim::adam_step_(w, matmul(permute(go, {1, 0}), x), m, v, lr, step, {}, f);
  Executable exe = compile(g, {sum(x)}, {.training = true});
  ASSERT_NE(exe.dump().find("linear_grad_adam_step_"), std::string::npos) << exe.dump();
  const std::vector<float> w0 = w.to_vector<float>();
  const Tensor go_v = Tensor::randn({2, 4}, gen), x_v = Tensor::randn({2, 3}, gen);
  exe.run({{"go", go_v}, {"x", x_v}, {"f", factor(1)}});
  EXPECT_EQ(w.to_vector<float>(), w0);
  EXPECT_EQ(m.to_vector<float>(), std::vector<float>(12, 0.0f));
  EXPECT_EQ(step.item<int64_t>(), 0);
  exe.run({{"go", go_v}, {"x", x_v}, {"f", factor(0)}});
  EXPECT_NE(w.to_vector<float>(), w0);
  EXPECT_EQ(step.item<int64_t>(), 1);
}

// float16 autocast with loss scaling, eager (forward and loss in duet::autocast) against
// CompileOptions{.autocast = float16, .grad_scaler}: the same parameters, optimizer state and
// scale after steps with an overflow, bit for bit.
TEST(GradScaler, Float16AutocastEagerEqualsCompiledStep) {
  const bool overflow[] = {false, true, false, false, false};
  const amp::GradScalerOptions so{.init_scale = 1024, .growth_interval = 2};
  auto ne = make_net(10), ng = make_net(10);
  optim::Adam oe(ne->parameters(), 0.01), og(ng->parameters(), 0.01);
  amp::GradScaler se(so), sg(so);
  Graph g({.training = true});
  Tensor loss = loss_of(*ng, g.input("x", {5, 6}), g.input("y", {5}, int64), g.input("f", {}));
  Executable exe = compile(g, {loss},
                           {.training = true,
                            .optimizer = &og,
                            .bit_exact = true,
                            .autocast = float16,
                            .grad_scaler = &sg});
  for (int i = 0; i < 5; ++i) {
    const Batch b = batch(i);
    const Tensor f = factor(overflow[i] ? kInf : 1.0);
    oe.zero_grad();
    Tensor l;
    {
      auto scope = autocast(float16);
      l = loss_of(*ne, b.x, b.y, f);
    }
    se.scale(l).backward();
    EXPECT_EQ(se.step(oe), !overflow[i]) << "step " << i;
    se.update();
    exe.run({{"x", b.x}, {"y", b.y}, {"f", f}});
    ASSERT_EQ(sg.get_scale(), se.get_scale()) << "step " << i;
  }
  EXPECT_EQ(snapshot(og), snapshot(oe));
  EXPECT_EQ(sg.skipped_steps(), 1);
  for (const Tensor& p : ng->parameters()) EXPECT_EQ(p.dtype(), float32);
}

namespace {
// An optimizer without the device-side gate (skips_on_device() is false).
class PlainSgd : public optim::Optimizer {
 public:
  explicit PlainSgd(std::vector<Tensor> params) : Optimizer(std::move(params), 0.1, "PlainSgd") {}
  void apply_gradients(const std::vector<Tensor>& grads) override {
    NoGradGuard no_grad;
    for (size_t i = 0; i < grads.size(); ++i)
      if (grads[i].defined()) params_[i].copy_(sub(params_[i], mul(grads[i], 0.1)));
  }
};
}  // namespace

TEST(GradScaler, OptimizersWithoutTheGate) {
  auto net = make_net(11);
  PlainSgd plain(net->parameters());
  amp::GradScaler s({.init_scale = 8});
  const Batch b = batch(0);
  // eager step() reads the flag on the host, so any optimizer works
  plain.zero_grad();
  s.scale(loss_of(*net, b.x, b.y, factor(kInf))).backward();
  const auto before = snapshot(plain);
  EXPECT_FALSE(s.step(plain));
  s.update();
  EXPECT_EQ(snapshot(plain), before);
  // the device gate needs skips_on_device()
  std::vector<Tensor> grads(plain.params().size());
  EXPECT_DUET_ERROR(s.apply_gradients(plain, grads), "GradScaler::apply_gradients", "PlainSgd",
                    "cannot skip its update on the device");
  EXPECT_DUET_ERROR(plain.apply_gradients_unless_inf(grads, factor(1)), "PlainSgd",
                    "cannot skip its update on the device");
  optim::SGD sgd(net->parameters(), 0.1);
  EXPECT_DUET_ERROR(sgd.apply_gradients_unless_inf(grads, Tensor::ones({1})), "SGD",
                    "found_inf has shape (1,)", "float32 scalar");
  Graph g({.training = true});
  Tensor loss = loss_of(*net, g.input("x", {5, 6}), g.input("y", {5}, int64), factor(1));
  EXPECT_DUET_ERROR(compile(g, {loss}, {.training = true, .optimizer = &plain, .grad_scaler = &s}),
                    "cannot skip its update on the device");
}

// Module: state_dict names and order, parameter counts, modes, load_state_dict and its errors.
#include "duet/nn.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

// Sequential(Conv2d, BatchNorm2d, ReLU, Sequential(Conv2d, BatchNorm2d), AdaptiveAvgPool2d,
//            Flatten, Linear)
std::shared_ptr<nn::Sequential> small_model(uint64_t seed = 0) {
  Generator gen(seed);
  auto inner = std::make_shared<nn::Sequential>();
  inner->push_back(std::make_shared<nn::Conv2d>(4, 8, 3, Conv2dOptions{.padding = {1, 1}},
                                                /*bias=*/false, gen));
  inner->push_back(std::make_shared<nn::BatchNorm2d>(8));
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Conv2d>(1, 4, 3, Conv2dOptions{}, true, gen));
  net->push_back(std::make_shared<nn::BatchNorm2d>(4));
  net->push_back(std::make_shared<nn::ReLU>());
  net->push_back(inner);
  net->push_back(std::make_shared<nn::AdaptiveAvgPool2d>(1));
  net->push_back(std::make_shared<nn::Flatten>());
  net->push_back(std::make_shared<nn::Linear>(8, 10, true, gen));
  return net;
}

std::vector<std::string> names(const nn::StateDict& d) {
  std::vector<std::string> out;
  for (auto& kv : d) out.push_back(kv.first);
  return out;
}

// Deep copies of every tensor's values, for "unchanged" checks.
std::vector<std::vector<double>> snapshot(const nn::Module& m) {
  std::vector<std::vector<double>> out;
  for (auto& kv : m.state_dict()) out.push_back(kv.second.to_vector<double>());
  return out;
}

}  // namespace

TEST(Module, StateDictNamesInPyTorchOrder) {
  auto net = small_model();
  nn::StateDict sd = net->state_dict();
  const std::vector<std::string> expected = {"0.weight",
                                             "0.bias",
                                             "1.weight",
                                             "1.bias",
                                             "1.running_mean",
                                             "1.running_var",
                                             "1.num_batches_tracked",
                                             "3.0.weight",
                                             "3.1.weight",
                                             "3.1.bias",
                                             "3.1.running_mean",
                                             "3.1.running_var",
                                             "3.1.num_batches_tracked",
                                             "6.weight",
                                             "6.bias"};
  EXPECT_EQ(names(sd), expected);
  Tensor nbt = nn::find(sd, "1.num_batches_tracked");
  ASSERT_TRUE(nbt.defined());
  EXPECT_EQ(nbt.dtype(), int64);
  EXPECT_EQ(nbt.shape(), Shape{});
  EXPECT_EQ(nbt.item<int64_t>(), 0);
  EXPECT_EQ(nn::find(sd, "0.weight").shape(), (Shape{4, 1, 3, 3}));
  EXPECT_EQ(nn::find(sd, "3.0.weight").shape(), (Shape{8, 4, 3, 3}));
  EXPECT_EQ(nn::find(sd, "6.weight").shape(), (Shape{10, 8}));
  EXPECT_FALSE(nn::find(sd, "3.0.bias").defined());
  // The handles are live: state_dict()["0.weight"] is the module's weight.
  auto conv = std::dynamic_pointer_cast<nn::Conv2d>((*net)[0]);
  ASSERT_TRUE(conv);
  EXPECT_TRUE(nn::find(sd, "0.weight").is_same(conv->weight));
}

TEST(Module, ParametersBuffersAndCounts) {
  auto net = small_model();
  const std::vector<std::string> params = {"0.weight", "0.bias",     "1.weight",
                                           "1.bias",   "3.0.weight", "3.1.weight",
                                           "3.1.bias", "6.weight",   "6.bias"};
  EXPECT_EQ(names(net->named_parameters()), params);
  EXPECT_EQ(
      names(net->named_buffers()),
      (std::vector<std::string>{"1.running_mean", "1.running_var", "1.num_batches_tracked",
                                "3.1.running_mean", "3.1.running_var", "3.1.num_batches_tracked"}));
  EXPECT_EQ(net->parameters().size(), params.size());
  // 4*9 + 4 + 4 + 4 + 8*4*9 + 8 + 8 + 10*8 + 10
  EXPECT_EQ(net->num_parameters(), 36 + 4 + 8 + 288 + 16 + 80 + 10);
  for (auto& p : net->parameters()) {
    EXPECT_TRUE(p.requires_grad());
    EXPECT_TRUE(p.is_leaf());
  }
  for (auto& b : net->buffers()) EXPECT_FALSE(b.requires_grad());
  EXPECT_TRUE(net->named_parameters(/*recurse=*/false).empty());
  auto mods = net->named_modules();
  ASSERT_EQ(mods.size(), 10u);  // root, 0..6, 3.0, 3.1
  EXPECT_EQ(mods[0].first, "");
  EXPECT_EQ(mods[4].first, "3");
  EXPECT_EQ(mods[5].first, "3.0");
  EXPECT_EQ(mods[6].first, "3.1");
  EXPECT_EQ(mods[7].first, "4");
  EXPECT_EQ(mods[6].second->type_name(), "BatchNorm2d");
}

TEST(Module, TrainEvalPropagates) {
  auto net = small_model();
  for (auto& [name, m] : net->named_modules()) EXPECT_TRUE(m->is_training()) << name;
  net->eval();
  for (auto& [name, m] : net->named_modules()) EXPECT_FALSE(m->is_training()) << name;
  net->train();
  for (auto& [name, m] : net->named_modules()) EXPECT_TRUE(m->is_training()) << name;
  (*net)[3]->eval();  // only the nested block
  EXPECT_TRUE(net->is_training());
  for (auto& [name, m] : net->named_modules())
    EXPECT_EQ(m->is_training(), name.rfind("3", 0) != 0) << name;
}

TEST(Module, RegistrationErrors) {
  nn::Module m("Custom");
  m.register_parameter("w", Tensor::zeros({2}));
  EXPECT_DUET_ERROR(m.register_parameter("w", Tensor::zeros({2})), "Custom", "'w'", "already used");
  EXPECT_DUET_ERROR(m.register_buffer("a.b", Tensor::zeros({2})), "'a.b'", "'.'");
  EXPECT_DUET_ERROR(m.register_module("w", std::make_shared<nn::ReLU>()), "'w'");
  EXPECT_DUET_ERROR(m.forward(Tensor::zeros({1})), "Custom", "forward");
}

TEST(Module, LoadStateDictRoundTrip) {
  auto a = small_model(1), b = small_model(2);
  // Make the buffers differ too.
  {
    NoGradGuard ng;
    nn::find(a->state_dict(), "1.running_mean").fill_(0.5);
    nn::find(a->state_dict(), "1.num_batches_tracked").fill_(7);
  }
  nn::StateDict snap;
  for (auto& [k, v] : a->state_dict()) snap.emplace_back(k, v.clone());
  b->load_state_dict(snap);
  auto sa = a->state_dict(), sb = b->state_dict();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i].first, sb[i].first);
    EXPECT_EQ(sa[i].second.dtype(), sb[i].second.dtype());
    expect_close(sb[i].second, sa[i].second, 0, 0);
  }
  // Loading copies values: the handles stay the module's own and keep requires_grad.
  auto conv = std::dynamic_pointer_cast<nn::Conv2d>((*b)[0]);
  EXPECT_TRUE(nn::find(b->state_dict(), "0.weight").is_same(conv->weight));
  EXPECT_FALSE(conv->weight.is_same(nn::find(snap, "0.weight")));
  EXPECT_TRUE(conv->weight.requires_grad());
  EXPECT_EQ(nn::find(b->state_dict(), "1.num_batches_tracked").item<int64_t>(), 7);
}

TEST(Module, LoadStateDictErrorsLeaveModelUnchanged) {
  auto net = small_model(3);
  auto before = snapshot(*net);
  nn::StateDict good;
  for (auto& [k, v] : small_model(4)->state_dict()) good.emplace_back(k, v);

  // Missing key (the good entries before it must not be copied either).
  nn::StateDict missing = good;
  missing.erase(missing.begin() + 5);  // "1.running_var"
  EXPECT_DUET_ERROR(net->load_state_dict(missing), "missing", "'1.running_var'");
  EXPECT_EQ(snapshot(*net), before);

  // Unexpected key.
  nn::StateDict unexpected = good;
  unexpected.emplace_back("7.weight", Tensor::zeros({3}));
  EXPECT_DUET_ERROR(net->load_state_dict(unexpected), "unexpected", "'7.weight'");
  EXPECT_EQ(snapshot(*net), before);

  // Shape mismatch: names the key and both shapes.
  nn::StateDict wrong = good;
  wrong.back().second = Tensor::zeros({11});  // "6.bias" should be (10)
  EXPECT_DUET_ERROR(net->load_state_dict(wrong), "'6.bias'", "(11,)", "(10,)");
  EXPECT_EQ(snapshot(*net), before);

  // Non-strict loading skips missing and unexpected keys but still copies the rest.
  net->load_state_dict(missing, /*strict=*/false);
  EXPECT_NE(snapshot(*net), before);
  expect_close(nn::find(net->state_dict(), "0.weight"), nn::find(good, "0.weight"), 0, 0);
  EXPECT_DUET_ERROR(net->load_state_dict(wrong, false), "'6.bias'");
}

TEST(Module, ZeroGradDropsGradients) {
  nn::Linear fc(3, 2);
  Tensor x = Tensor::ones({4, 3});
  sum(fc(x)).backward();
  ASSERT_TRUE(fc.weight.grad().defined());
  ASSERT_TRUE(fc.bias.grad().defined());
  fc.zero_grad();
  EXPECT_FALSE(fc.weight.grad().defined());
  EXPECT_FALSE(fc.bias.grad().defined());
}

TEST(Module, ReprLooksLikePyTorch) {
  auto net = small_model();
  const std::string r = net->repr();
  EXPECT_NE(r.find("Sequential(\n  (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1))\n"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("(1): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, "
                   "track_running_stats=True)"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("  (3): Sequential(\n    (0): Conv2d(4, 8, kernel_size=(3, 3), stride=(1, 1), "
                   "padding=(1, 1), bias=False)"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("(6): Linear(in_features=8, out_features=10, bias=True)\n)"), std::string::npos)
      << r;
}

TEST(Module, ForwardShapesThroughTheModel) {
  auto net = small_model();
  Generator g(5);
  Tensor x = Tensor::randn({2, 1, 8, 8}, g);
  Tensor y = (*net)(x);
  EXPECT_EQ(y.shape(), (Shape{2, 10}));
  sum(y).backward();
  for (auto& [name, p] : net->named_parameters()) EXPECT_TRUE(p.grad().defined()) << name;
}

TEST(Sequential, FromListIndexingAndErrors) {
  nn::Sequential s({std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(4, 2)});
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(names(s.state_dict()), (std::vector<std::string>{"1.weight", "1.bias"}));
  EXPECT_EQ(s[1]->type_name(), "Linear");
  EXPECT_EQ(s(Tensor::ones({3, 1, 2, 2})).shape(), (Shape{3, 2}));
  EXPECT_DUET_ERROR(s[2], "Sequential", "index 2", "size 2");
  EXPECT_DUET_ERROR(s.push_back(nullptr), "Sequential", "null");
  size_t count = 0;
  for (auto& m : s) count += m != nullptr;
  EXPECT_EQ(count, 2u);
}

TEST(Module, SharedModuleParametersListedOnce) {
  auto fc = std::make_shared<nn::Linear>(3, 3);
  nn::Sequential s({fc, std::make_shared<nn::ReLU>(), fc});
  EXPECT_EQ(names(s.named_parameters()), (std::vector<std::string>{"0.weight", "0.bias"}));
  EXPECT_EQ(s.state_dict().size(), 4u);  // state_dict keeps every name, like PyTorch
}

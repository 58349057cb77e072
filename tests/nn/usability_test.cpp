// Issue #13's rough edges, one test (or more) each: per-axis options from one value (1),
// item() and printing a shape, nn::make, modules with several inputs (3), load_state_dict's
// report and its one message for every problem (5), errors naming the module path (6), and
// state dicts without num_batches_tracked (8).
#include <sstream>

#include "duet/models.h"
#include "duet/nn.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

// Two inputs, one output: a + scale * b.
struct AddScaled : nn::Module {
  double scale;
  explicit AddScaled(double s) : Module("AddScaled"), scale(s) {}
  std::vector<Tensor> forward_many(const std::vector<Tensor>& in) override {
    DUET_CHECK(in.size() == 2, "AddScaled: got ", in.size(), " inputs (expected 2)");
    return {add(in[0], mul(in[1], scale))};
  }
};

// One input, two outputs: (x + 1, x * 2).
struct Split : nn::Module {
  Split() : Module("Split") {}
  std::vector<Tensor> forward_many(const std::vector<Tensor>& in) override {
    return {add(in[0], 1.0), mul(in[0], 2.0)};
  }
};

// fc1 -> relu -> head(fc2), so that a shape error in fc2 names "head.fc2".
struct Head : nn::Module {
  std::shared_ptr<nn::Linear> fc2;
  Head() : Module("Head") { fc2 = register_module("fc2", std::make_shared<nn::Linear>(5, 3)); }
  Tensor forward(const Tensor& x) override { return (*fc2)(x); }
};
struct Net : nn::Module {
  std::shared_ptr<nn::Linear> fc1;
  std::shared_ptr<Head> head;
  explicit Net(int64_t hidden) : Module("Net") {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(4, hidden));
    head = register_module("head", std::make_shared<Head>());
  }
  Tensor forward(const Tensor& x) override { return (*head)(relu((*fc1)(x))); }
};

struct NoForward : nn::Module {
  NoForward() : Module("NoForward") {}
};

}  // namespace

// ---- 1. one value means both axes; malformed values fail at construction ----

TEST(Options, OneValueMeansBothAxes) {
  nn::Conv2d conv(1, 16, 3, {.padding = 1});
  EXPECT_EQ(conv.options.padding, (Int2{1, 1}));
  EXPECT_NE(conv.repr().find("padding=(1, 1)"), std::string::npos) << conv.repr();
  EXPECT_EQ(conv(Tensor::zeros({1, 1, 28, 28})).shape(), (Shape{1, 16, 28, 28}));

  nn::Conv2d strided(1, 4, 3, {.stride = 2});
  EXPECT_EQ(strided.options.stride, (Int2{2, 2}));
  EXPECT_EQ(strided(Tensor::zeros({1, 1, 28, 28})).shape(), (Shape{1, 4, 13, 13}));

  nn::Conv2d per_axis(1, 4, {3, 1}, {.padding = {1, 0}});
  EXPECT_EQ(per_axis(Tensor::zeros({1, 1, 8, 8})).shape(), (Shape{1, 4, 8, 8}));
  EXPECT_NE(per_axis.repr().find("kernel_size=(3, 1), stride=(1, 1), padding=(1, 0)"),
            std::string::npos)
      << per_axis.repr();

  // The op's options and the pooling layers too.
  Tensor x = Tensor::ones({1, 1, 6, 6});
  EXPECT_EQ(conv2d(x, Tensor::ones({1, 1, 3, 3}), Tensor(), {.stride = 2, .padding = 1}).shape(),
            (Shape{1, 1, 3, 3}));
  nn::MaxPool2d pool({.kernel = 3, .stride = 2, .padding = 1});
  EXPECT_EQ(pool.options.kernel, (Int2{3, 3}));
  EXPECT_EQ(pool(x).shape(), (Shape{1, 1, 3, 3}));
  EXPECT_EQ(max_pool2d(x, {.kernel = 2}).shape(), (Shape{1, 1, 3, 3}));

  std::ostringstream os;
  os << Int2{1, 2} << " " << Int2(7);
  EXPECT_EQ(os.str(), "(1, 2) (7, 7)");
}

TEST(Options, MalformedValuesFailAtConstruction) {
  EXPECT_DUET_ERROR(nn::Conv2d(1, 4, 3, {.stride = 0}), "Conv2d: stride = (0, 0)", "expected >= 1");
  EXPECT_DUET_ERROR(nn::Conv2d(1, 4, 3, {.stride = {2, -1}}), "Conv2d: stride = (2, -1)");
  EXPECT_DUET_ERROR(nn::Conv2d(1, 4, 3, {.padding = -1}), "Conv2d: padding = (-1, -1)",
                    "expected >= 0");
  EXPECT_DUET_ERROR(nn::Conv2d(1, 4, 3, {.dilation = {1, 0}}), "Conv2d: dilation = (1, 0)");
  EXPECT_DUET_ERROR(nn::Conv2d(6, 4, 3, {.groups = 4}), "Conv2d: groups = 4", "in_channels = 6");
  EXPECT_DUET_ERROR(nn::Conv2d(1, 4, 0), "Conv2d: kernel_size = (0, 0)");
  EXPECT_DUET_ERROR(nn::MaxPool2d({.kernel = 0}), "MaxPool2d: kernel = (0, 0)");
  EXPECT_DUET_ERROR(nn::AvgPool2d({.kernel = 2, .padding = -1}), "AvgPool2d: padding = (-1, -1)");
  EXPECT_DUET_ERROR(nn::MaxPool2d({.kernel = 2, .stride = -2}), "MaxPool2d: stride = (-2, -2)");
  EXPECT_DUET_ERROR(nn::MaxPool2d({.kernel = 2, .dilation = 0}), "MaxPool2d: dilation = (0, 0)");
}

// ---- 3. item(), printing a shape, nn::make, several inputs ----

TEST(Usability, ItemAndShapePrinting) {
  Tensor t = Tensor::full({1}, 2.5);
  double v = t.item();
  EXPECT_EQ(v, 2.5);
  EXPECT_EQ(t.item<float>(), 2.5f);
  std::ostringstream os;
  os << Tensor::zeros({2, 3}).shape() << " " << Shape{4};
  EXPECT_EQ(os.str(), "(2, 3) (4,)");
  // Shape is still a vector of int64.
  std::vector<int64_t> as_vector = Tensor::zeros({5, 6}).shape();
  Shape back = as_vector;
  EXPECT_EQ(back, (Shape{5, 6}));
}

TEST(Usability, MakeTakesABracedOptionsList) {
  auto conv = nn::make<nn::Conv2d>(1, 16, 3, {.padding = 1});
  EXPECT_EQ(conv->options.padding, (Int2{1, 1}));
  auto no_bias = nn::make<nn::Conv2d>(1, 16, 3, {.stride = 2}, /*bias=*/false);
  EXPECT_FALSE(no_bias->bias.defined());
  auto pool = nn::make<nn::MaxPool2d>({.kernel = 3, .stride = 2});
  EXPECT_EQ(pool->options.stride, (Int2{2, 2}));
  auto fc = nn::make<nn::Linear>(4, 2);  // no options: forwarded as is
  EXPECT_EQ(fc->num_parameters(), 10);
  auto spelled = std::make_shared<nn::Conv2d>(1, 16, 3, nn::Conv2dOptions{.padding = 1});
  EXPECT_EQ(spelled->options.padding, (Int2{1, 1}));
}

TEST(Usability, ModulesWithSeveralInputsAndOutputs) {
  auto m = std::make_shared<AddScaled>(10.0);
  Tensor a = Tensor::from_vector<float>({1, 2}, {2}).requires_grad_();
  Tensor b = Tensor::from_vector<float>({3, 4}, {2}).requires_grad_();
  Tensor y = (*m)(a, b);
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{31, 42}));
  sum(y).backward();
  EXPECT_EQ(b.grad().to_vector<float>(), (std::vector<float>{10, 10}));
  std::vector<Tensor> all = (*m)({a, b});
  ASSERT_EQ(all.size(), 1u);
  EXPECT_DUET_ERROR((*m)(a), "AddScaled: got 1 inputs");

  auto split = std::make_shared<Split>();
  std::vector<Tensor> two = (*split)(std::vector<Tensor>{a});
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1].to_vector<float>(), (std::vector<float>{2, 4}));
  EXPECT_DUET_ERROR((*split)(a), "Split: forward_many returned 2 outputs");

  // A one-input module called through the vector form; and one with no forward at all.
  nn::ReLU relu_layer;
  EXPECT_EQ(relu_layer(std::vector<Tensor>{a})[0].to_vector<float>(), (std::vector<float>{1, 2}));
  EXPECT_DUET_ERROR(relu_layer({a, b}), "ReLU: got 2 inputs, but this module takes one",
                    "forward_many");
  NoForward none;
  EXPECT_DUET_ERROR(none(a), "NoForward: forward is not implemented");
  EXPECT_DUET_ERROR(none({a, b}), "NoForward: got 2 inputs");
}

TEST(Usability, SeveralInputsInGraphMode) {
  auto m = std::make_shared<AddScaled>(2.0);
  auto step =
      jit([&](const std::vector<Tensor>& in) { return std::vector<Tensor>{(*m)(in[0], in[1])}; });
  Tensor y = step({Tensor::ones({3}), Tensor::ones({3})})[0];
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{3, 3, 3}));
}

// ---- 5. load_state_dict: a report, and every problem in one bounded message ----

TEST(LoadStateDict, NonStrictReturnsMissingAndUnexpectedKeys) {
  Net a(5), b(5);
  nn::StateDict sd = a.state_dict();
  sd.erase(sd.begin() + 1);  // fc1.bias
  sd.emplace_back("extra.weight", Tensor::zeros({2}));
  nn::LoadReport r = b.load_state_dict(sd, /*strict=*/false);
  EXPECT_EQ(r.missing_keys, (std::vector<std::string>{"fc1.bias"}));
  EXPECT_EQ(r.unexpected_keys, (std::vector<std::string>{"extra.weight"}));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.str(), "missing keys: 'fc1.bias'; unexpected keys: 'extra.weight'");
  expect_close(b.fc1->weight, a.fc1->weight, 0, 0);  // what was there was loaded
  EXPECT_TRUE(b.load_state_dict(a.state_dict()).ok());
}

TEST(LoadStateDict, StrictReportsEveryProblemInOneMessage) {
  Net a(5), b(6);
  nn::StateDict sd = a.state_dict();
  sd.erase(sd.begin() + 1);                             // missing fc1.bias
  sd.emplace_back("extra.weight", Tensor::zeros({2}));  // unexpected
  // and fc1.weight: (5, 4) in the dict, (6, 4) in the model.
  Tensor before = b.fc1->weight.clone();
  EXPECT_DUET_ERROR(b.load_state_dict(sd), "3 problems", "into Net (nothing was changed)",
                    "missing key 'fc1.bias' (expected shape (6,))", "unexpected key 'extra.weight'",
                    "shape mismatch for 'fc1.weight': the state dict has (5, 4) but the model "
                    "expects (6, 4)");
  expect_close(b.fc1->weight, before, 0, 0);
}

TEST(LoadStateDict, MessageStaysShortWithManyProblems) {
  Net a(5);
  nn::StateDict junk;
  for (int i = 0; i < 500; ++i)
    junk.emplace_back("junk." + std::string(300, 'k') + std::to_string(i), Tensor::zeros({1}));
  try {
    a.load_state_dict(junk);
    ADD_FAILURE() << "expected duet::Error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_LT(what.size(), 2000u);
    EXPECT_NE(what.find("504 problems"), std::string::npos) << what;  // 4 missing + 500
    EXPECT_NE(what.find("more"), std::string::npos) << what;
  }
}

// ---- 8. BatchNorm state dicts without num_batches_tracked ----

TEST(LoadStateDict, NumBatchesTrackedIsOptional) {
  Generator gen(1);
  auto src = models::create_model("resnet18", 10, gen);
  auto dst = models::create_model("resnet18", 10, gen);
  nn::find(dst->state_dict(), "bn1.num_batches_tracked").fill_(5);
  nn::StateDict sd;
  for (auto& [k, v] : src->state_dict())
    if (k.find("num_batches_tracked") == std::string::npos) sd.emplace_back(k, v);
  nn::LoadReport r = dst->load_state_dict(sd);  // strict
  EXPECT_TRUE(r.ok()) << r.str();
  EXPECT_EQ(nn::find(dst->state_dict(), "bn1.num_batches_tracked").item<int64_t>(), 0);
  expect_close(nn::find(dst->state_dict(), "layer1.0.bn1.running_var"),
               nn::find(src->state_dict(), "layer1.0.bn1.running_var"), 0, 0);
  // Only that key is optional.
  sd.erase(sd.begin() + 2);  // bn1.bias
  EXPECT_DUET_ERROR(dst->load_state_dict(sd), "missing key 'bn1.bias'");
}

// ---- 6. errors inside a module name its path ----

TEST(ModulePath, ShapeErrorNamesThePath) {
  Net net(5);
  // fc1 expects 4 features.
  EXPECT_DUET_ERROR(net(Tensor::zeros({8, 7})), "fc1 (Linear): Linear: input has shape (8, 7)");
  Net wrong(6);  // fc1 gives 6 features, head.fc2 expects 5
  EXPECT_DUET_ERROR(wrong(Tensor::zeros({8, 4})),
                    "head.fc2 (Linear): Linear: input has shape (8, 6)");
  // Inside a Sequential, the child's position; and a zoo model's nested path.
  auto seq = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(4, 3), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(2, 1)});
  EXPECT_DUET_ERROR((*seq)(Tensor::zeros({1, 4})), "2 (Linear): Linear: input has shape (1, 3)");
  Generator gen(0);
  auto resnet = models::create_model("resnet18", 10, gen);
  EXPECT_DUET_ERROR((*resnet)(Tensor::zeros({1, 2, 32, 32})), "conv1 (Conv2d): conv2d");
  // The path is added once, by the innermost module.
  try {
    net(Tensor::zeros({8, 7}));
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("Net"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(nn::module_call_stack().empty());
}

TEST(ModulePath, TheOutermostModuleItself) {
  AddScaled m(1.0);
  EXPECT_DUET_ERROR(m(Tensor::zeros({2}), Tensor::zeros({3})), "AddScaled: add");
}

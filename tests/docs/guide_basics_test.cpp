// docs/guide.md, part E's sections (building and linking, tensors and autograd, a custom
// module, a hand-written training loop, eager or graph, model summary): each ```cpp block of
// those sections appears here line for line (UserGuide.SnippetsAreHere), inside a TEST that
// checks what the block's comments promise.
#include <gtest/gtest.h>

#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "duet/duet.h"
#include "guide_toy.h"
#include "test_util.h"

using duet::int64;

namespace {

// ---- a custom module (the guide's Fusion block, at namespace scope as in a program) ----
struct Fusion : duet::nn::Module {
  std::shared_ptr<duet::nn::Linear> image, text;
  Fusion() : Module("Fusion") {
    image = register_module("image", std::make_shared<duet::nn::Linear>(8, 4));
    text = register_module("text", std::make_shared<duet::nn::Linear>(6, 4));
  }
  // Two inputs: override forward_many; callers write (*fusion)(a, b).
  std::vector<duet::Tensor> forward_many(const std::vector<duet::Tensor>& in) override {
    return {duet::relu(duet::add((*image)(in[0]), (*text)(in[1])))};
  }
};

struct SmallCnn : duet::nn::Module {
  std::shared_ptr<duet::nn::Conv2d> conv;
  std::shared_ptr<duet::nn::Linear> fc;
  SmallCnn() : Module("SmallCnn") {
    conv = register_module("conv", duet::nn::make<duet::nn::Conv2d>(1, 8, 3, {.padding = 1}));
    fc = register_module("fc", std::make_shared<duet::nn::Linear>(8 * 14 * 14, 10));
  }
  duet::Tensor forward(const duet::Tensor& x) override {  // x: (N, 1, 28, 28)
    duet::Tensor h = duet::max_pool2d(duet::relu((*conv)(x)), {.kernel = 2});  // (N, 8, 14, 14)
    return (*fc)(duet::flatten(h, 1));                                         // (N, 10)
  }
};

using guide_toy::Toy;
using guide_toy::toy_data;
using guide_toy::toy_net;

double accuracy(duet::nn::Module& net, const Toy& d) {
  duet::NoGradGuard no_grad;
  net.eval();
  duet::Tensor hit = duet::eq(duet::argmax(net(d.inputs), 1), d.labels);
  net.train();
  return duet::sum(hit.to(duet::float32)).item() / 256.0;
}

}  // namespace

TEST(GuideBasics, Tensors) {
  testing::internal::CaptureStdout();
  duet::Generator gen(0);                                   // seeded: same numbers every run
  duet::Tensor a = duet::Tensor::randn({2, 3}, gen);        // float32, on the CPU
  duet::Tensor b = duet::Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  duet::Tensor c = duet::add(duet::mul(a, 2.0), b);         // elementwise, with broadcasting
  std::cout << c.shape() << "\n";                           // (2, 3)
  duet::Tensor row = b.slice(0, 1, 2);                      // a view (1, 3): shares b's memory
  double total = duet::sum(b).item();                       // 21
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "(2, 3)\n");
  EXPECT_EQ(row.to_vector<float>(), (std::vector<float>{4, 5, 6}));
  EXPECT_EQ(total, 21.0);
  EXPECT_EQ(a.dtype(), duet::float32);
  b.fill_(0);
  EXPECT_EQ(row.to_vector<float>(), (std::vector<float>{0, 0, 0}));
}

TEST(GuideBasics, Autograd) {
  duet::Tensor w = duet::Tensor::from_vector<float>({1, -2, 3}, {3}).requires_grad_();
  duet::Tensor x = duet::Tensor::from_vector<float>({4, 5, 6}, {3});
  duet::Tensor loss = duet::sum(duet::mul(w, x));           // w . x = 4 - 10 + 18 = 12
  loss.backward();
  std::vector<float> g = w.grad().to_vector<float>();       // d loss / d w = x: {4, 5, 6}
  {
    duet::NoGradGuard no_grad;                              // no tape: inference, updates
    duet::Tensor y = duet::mul(w, 2.0);                     // y.requires_grad() is false
  }
  EXPECT_TRUE(duet::mul(w, 2.0).requires_grad());  // the tape is on again
  {
    duet::NoGradGuard no_grad;
    EXPECT_FALSE(duet::mul(w, 2.0).requires_grad());
  }
  EXPECT_EQ(loss.item(), 12.0);
  EXPECT_EQ(g, (std::vector<float>{4, 5, 6}));
}

TEST(GuideBasics, CustomModule) {
  auto fusion = std::make_shared<Fusion>();
  duet::Tensor y = (*fusion)(duet::Tensor::ones({2, 8}), duet::Tensor::ones({2, 6}));  // (2, 4)
  duet::nn::StateDict sd = fusion->state_dict();  // image.weight, image.bias, text.weight, ...
  std::cout << *fusion << "\n";                    // Fusion((image): Linear(8, 4, ...) ...)
  EXPECT_EQ(y.shape(), (duet::Shape{2, 4}));
  ASSERT_EQ(sd.size(), 4u);
  EXPECT_EQ(sd[0].first, "image.weight");
  EXPECT_EQ(sd[2].first, "text.weight");
}

TEST(GuideBasics, ModuleErrors) {
  auto net = std::make_shared<SmallCnn>();
  duet::Tensor logits = (*net)(duet::Tensor::zeros({4, 1, 28, 28}));  // (4, 10)
  std::string what;
  try {
    (*net)(duet::Tensor::zeros({4, 1, 32, 32}));  // 8 * 16 * 16 features reach fc
  } catch (const duet::Error& e) {
    what = e.what();  // "fc (Linear): Linear: input has shape (4, 2048) ..."
  }
  EXPECT_EQ(logits.shape(), (duet::Shape{4, 10}));
  EXPECT_EQ(what.rfind("fc (Linear): Linear: input has shape (4, 2048)", 0), 0u) << what;
}

TEST(GuideBasics, HandWrittenLoop) {
  Toy d = toy_data();
  duet::Tensor inputs = d.inputs, labels = d.labels;
  auto net = toy_net();
  duet::optim::SGD sgd(net->parameters(), /*lr=*/0.1, /*momentum=*/0.9);
  for (int epoch = 0; epoch < 10; ++epoch) {
    double epoch_loss = 0;
    for (int64_t at = 0; at < 256; at += 32) {
      duet::Tensor x = inputs.slice(0, at, at + 32), y = labels.slice(0, at, at + 32);
      sgd.zero_grad();
      duet::Tensor loss = duet::cross_entropy((*net)(x), y);  // mean over the batch
      loss.backward();
      sgd.step();
      epoch_loss += loss.item() / 8;
    }
    std::cout << "epoch " << epoch << " loss " << epoch_loss << "\n";
  }
  EXPECT_GT(accuracy(*net, d), 0.95);
}

TEST(GuideBasics, JitTrainingStep) {
  Toy d = toy_data();
  duet::Tensor inputs = d.inputs, labels = d.labels;
  auto net = toy_net();
  duet::optim::SGD sgd(net->parameters(), 0.1, 0.9);
  auto step = duet::jit([&](const std::vector<duet::Tensor>& in) {
    return std::vector<duet::Tensor>{duet::cross_entropy((*net)(in[0]), in[1])};
  }, {.training = true, .optimizer = &sgd}, "train_step");
  for (int epoch = 0; epoch < 10; ++epoch)
    for (int64_t at = 0; at < 256; at += 32) {
      // forward, backward and the SGD update: one compiled step (traced on the first call)
      duet::Tensor loss = step({inputs.slice(0, at, at + 32), labels.slice(0, at, at + 32)})[0];
    }
  size_t compiles = step.num_compiles();  // 1: every batch has the same shape
  EXPECT_EQ(compiles, 1u);
  EXPECT_GT(accuracy(*net, d), 0.95);

  // Eager and jit train the same: the same seed gives the same weights (up to rounding).
  auto eager = toy_net();
  duet::optim::SGD eager_sgd(eager->parameters(), 0.1, 0.9);
  for (int epoch = 0; epoch < 10; ++epoch)
    for (int64_t at = 0; at < 256; at += 32) {
      eager_sgd.zero_grad();
      duet::cross_entropy((*eager)(inputs.slice(0, at, at + 32)), labels.slice(0, at, at + 32))
          .backward();
      eager_sgd.step();
    }
  duet::test::expect_close(eager->parameters()[0], net->parameters()[0], 1e-4, 1e-4);
}

TEST(GuideBasics, GraphAndCompile) {
  Toy d = toy_data();
  duet::Tensor inputs = d.inputs;
  auto net = toy_net();
  duet::Graph g;                                      // an eval graph: modules run in eval mode
  duet::Tensor x = g.input("x", {64, 2});
  duet::Tensor logits = (*net)(x);                    // ordinary model code records nodes
  duet::Executable predict = duet::compile(g, {logits});
  std::cout << predict.memory_report().str() << "\n";  // "parameters 328 B, ..."
  duet::Tensor out = predict.run({{"x", inputs.slice(0, 0, 64)}})[0].clone();  // (64, 2)
  EXPECT_EQ(out.shape(), (duet::Shape{64, 2}));
  net->eval();
  duet::NoGradGuard no_grad;
  duet::test::expect_close(out, (*net)(inputs.slice(0, 0, 64)), 1e-5, 1e-5);
  EXPECT_EQ(predict.memory_report().str().rfind("parameters 328 B, ", 0), 0u)
      << predict.memory_report().str();
}

TEST(GuideBasics, TracingTraps) {
  auto net = toy_net();
  testing::internal::CaptureStderr();
  duet::Tensor temperature = duet::Tensor::full({1}, 2.0);
  auto predict = duet::jit([&](const std::vector<duet::Tensor>& in) {
    double t = temperature.item();  // warns: the value is baked into the graph
    return std::vector<duet::Tensor>{duet::div((*net)(in[0]), t)};
  });
  predict({duet::Tensor::ones({4, 2})});
  temperature.fill_(4.0);                 // the baked value is stale:
  predict({duet::Tensor::ones({4, 2})});  // traces again ("duet: jit 'fn' retracing: ...")
  predict({duet::Tensor::ones({3, 2})});  // a new shape compiles again ("recompiling: ...")
  std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(predict.num_compiles(), 3u);
  EXPECT_NE(log.find("retracing"), std::string::npos) << log;
  EXPECT_NE(log.find("recompiling: input 0 shape changed from (4, 2) to (3, 2)"), std::string::npos)
      << log;
}

TEST(GuideBasics, Summary) {
  testing::internal::CaptureStdout();
  auto resnet = duet::models::create_model("resnet18", 1000);
  duet::Summary s = duet::summary(*resnet, {1, 3, 224, 224}, {.depth = 1});
  std::cout << s;  // the table below
  int64_t params = s.total_params;        // 11689512, as torchvision
  int64_t macs = s.total_multiply_adds;   // 1814073344: "1.81 G", as torchinfo
  const std::string table = testing::internal::GetCapturedStdout();
  EXPECT_EQ(params, 11689512);
  EXPECT_EQ(macs, 1814073344);
  std::cerr << table;
}

// duet::summary against hand counts (a small CNN) and a zoo model's totals (resnet18:
// 11,689,512 parameters as torchvision; 1.81 G multiply-adds at 224x224 as torchinfo).
#include "duet/summary.h"

#include <sstream>

#include "duet/models.h"
#include "duet/nn.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

// conv 1->4 3x3 pad 1, BN, ReLU, max-pool 2, flatten, linear 64->10.
std::shared_ptr<nn::Sequential> small_cnn() {
  Generator gen(0);
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(nn::make<nn::Conv2d>(1, 4, 3, {.padding = 1}));
  net->push_back(std::make_shared<nn::BatchNorm2d>(4));
  net->push_back(std::make_shared<nn::ReLU>());
  net->push_back(std::make_shared<nn::MaxPool2d>(2));
  net->push_back(std::make_shared<nn::Flatten>());
  net->push_back(std::make_shared<nn::Linear>(64, 10, true, gen));
  return net;
}

}  // namespace

TEST(Summary, SmallCnnHandCounts) {
  auto net = small_cnn();
  Summary s = summary(*net, {2, 1, 8, 8});
  ASSERT_EQ(s.rows.size(), 7u);  // the Sequential and its six children
  EXPECT_EQ(s.rows[0].type, "Sequential");
  EXPECT_EQ(s.rows[0].output_shape, (Shape{2, 10}));
  // conv: (2, 4, 8, 8) = 512 outputs x 9 products; 4 x 9 weights + 4 biases.
  EXPECT_EQ(s.rows[1].name, "0");
  EXPECT_EQ(s.rows[1].type, "Conv2d");
  EXPECT_EQ(s.rows[1].depth, 1);
  EXPECT_EQ(s.rows[1].output_shape, (Shape{2, 4, 8, 8}));
  EXPECT_EQ(s.rows[1].params, 40);
  EXPECT_EQ(s.rows[1].multiply_adds, 512 * 9);
  EXPECT_EQ(s.rows[2].params, 8);  // BN weight + bias (running stats are buffers)
  EXPECT_EQ(s.rows[2].multiply_adds, 0);
  EXPECT_EQ(s.rows[4].output_shape, (Shape{2, 4, 4, 4}));
  // linear: 2 x 10 outputs x 64 products; 640 weights + 10 biases.
  EXPECT_EQ(s.rows[6].output_shape, (Shape{2, 10}));
  EXPECT_EQ(s.rows[6].params, 650);
  EXPECT_EQ(s.rows[6].multiply_adds, 20 * 64);
  EXPECT_EQ(s.total_params, 40 + 8 + 650);
  EXPECT_EQ(s.rows[0].params, s.total_params);
  EXPECT_EQ(s.trainable_params, s.total_params);
  EXPECT_EQ(s.total_multiply_adds, 512 * 9 + 20 * 64);
  EXPECT_EQ(s.rows[0].multiply_adds, s.total_multiply_adds);
  // Memory: inputs 2*64 floats; params 698 floats; BN buffers 4 + 4 floats + one int64;
  // leaf outputs: conv, BN, ReLU 512 each, pool 128, flatten 128, linear 20 floats.
  EXPECT_EQ(s.input_bytes, 2 * 64 * 4);
  EXPECT_EQ(s.params_bytes, 698 * 4);
  EXPECT_EQ(s.buffers_bytes, 8 * 4 + 8);
  EXPECT_EQ(s.forward_activation_bytes, (3 * 512 + 128 + 128 + 20) * 4);
  EXPECT_EQ(s.backward_activation_bytes, s.forward_activation_bytes);

  const std::string text = s.str();
  for (const char* part :
       {"Layer (type)", "Sequential", "  0 (Conv2d)", "(2, 4, 8, 8)", "4,608", "  5 (Linear)",
        "650", "1,280", "Total params: 698", "Trainable params: 698", "Non-trainable params: 0",
        "Total mult-adds: 5.89 K", "Input size: 512 B", "Params size: 2.73 KiB"})
    EXPECT_NE(text.find(part), std::string::npos) << part << " not in\n" << text;
  std::ostringstream os;
  os << s;
  EXPECT_EQ(os.str(), text);
}

TEST(Summary, FrozenParametersAndDepth) {
  auto net = small_cnn();
  for (auto& p : (*net)[0]->parameters()) p.requires_grad_(false);
  Summary s = summary(*net, {1, 1, 8, 8}, {.depth = 0});
  ASSERT_EQ(s.rows.size(), 1u);
  EXPECT_EQ(s.trainable_params, 658);
  EXPECT_EQ(s.non_trainable_params, 40);
  EXPECT_NE(s.str().find("Partial"), std::string::npos) << s.str();
}

TEST(Summary, NothingIsComputedAndTheModelIsUnchanged) {
  auto net = small_cnn();
  net->train();
  const MemoryStats before = memory_stats(cpu);
  Summary s = summary(*net, {64, 1, 8, 8});
  EXPECT_EQ(s.rows[1].output_shape, (Shape{64, 4, 8, 8}));
  // No activation was allocated (the batch of 64 would need 64 KiB for the conv output).
  EXPECT_LT(memory_stats(cpu).current_bytes - before.current_bytes, 1024);
  EXPECT_TRUE(net->training_flag());
  EXPECT_EQ(nn::find(net->state_dict(), "1.num_batches_tracked").item<int64_t>(), 0);
}

TEST(Summary, WrongInputNamesTheLayer) {
  auto net = small_cnn();
  EXPECT_DUET_ERROR(summary(*net, {2, 3, 8, 8}), "0 (Conv2d): conv2d");
}

TEST(Summary, ResNet18TotalsMatchTorchvisionAndTorchinfo) {
  Generator gen(0);
  auto net = models::create_model("resnet18", 1000, gen);
  Summary s = summary(*net, {1, 3, 224, 224}, {.depth = 10});  // every module (downsample.0)
  EXPECT_EQ(s.total_params, 11689512);                         // torchvision
  // Independent count: each Conv2d's output elements x (in / groups * kh * kw), plus the fc.
  int64_t macs = 0;
  for (auto& [name, m] : net->named_modules())
    for (const SummaryRow& r : s.rows)
      if (r.name == name) {
        if (auto* c = dynamic_cast<nn::Conv2d*>(m))
          macs += numel(r.output_shape) * (c->in_channels / c->options.groups) * c->kernel_size[0] *
                  c->kernel_size[1];
        if (auto* l = dynamic_cast<nn::Linear*>(m)) macs += l->in_features * l->out_features;
      }
  EXPECT_EQ(s.total_multiply_adds, macs);
  EXPECT_NEAR(static_cast<double>(s.total_multiply_adds) / 1e9, 1.81, 0.01);  // torchinfo 1.81 G
  EXPECT_NE(s.str().find("Total mult-adds: 1.81 G"), std::string::npos) << s.str();
  // The default depth 3 reaches the convolutions of each block.
  s = summary(*net, {1, 3, 224, 224});
  bool found = false;
  for (const SummaryRow& r : s.rows)
    found = found || (r.name == "layer1.0.conv1" && r.type == "Conv2d" && r.depth == 3 &&
                      r.output_shape == Shape{1, 64, 56, 56} && r.params == 36864);
  EXPECT_TRUE(found) << s.str();
}

TEST(Summary, SeveralInputs) {
  struct Add : nn::Module {
    Add() : Module("Add") {}
    std::vector<Tensor> forward_many(const std::vector<Tensor>& in) override {
      return {add(in[0], in[1])};
    }
  };
  Add m;
  Summary s = summary(m, {{2, 3}, {2, 3}});  // a list of shapes: one per input
  EXPECT_EQ(s.rows[0].output_shape, (Shape{2, 3}));
  EXPECT_EQ(s.input_bytes, 2 * 6 * 4);
  EXPECT_EQ(summary(m, std::vector<Shape>{{4, 1}, {4, 1}}).rows[0].output_shape, (Shape{4, 1}));
}

TEST(Summary, AModuleCalledTwiceHasTwoRowsAndIsCountedOnce) {
  struct Twice : nn::Module {
    std::shared_ptr<nn::Linear> fc;
    Twice() : Module("Twice") { fc = register_module("fc", std::make_shared<nn::Linear>(4, 4)); }
    Tensor forward(const Tensor& x) override { return (*fc)(relu((*fc)(x))); }
  };
  Twice m;
  Summary s = summary(m, {3, 4});
  ASSERT_EQ(s.rows.size(), 3u);
  EXPECT_FALSE(s.rows[1].repeated);
  EXPECT_TRUE(s.rows[2].repeated);
  EXPECT_EQ(s.rows[2].name, "fc");
  EXPECT_EQ(s.total_params, 20);
  EXPECT_EQ(s.total_multiply_adds, 2 * 3 * 4 * 4);
  EXPECT_EQ(s.rows[2].multiply_adds, 3 * 4 * 4);
  EXPECT_NE(s.str().find("(repeated)"), std::string::npos) << s.str();
}

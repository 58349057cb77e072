// docs/guide.md, "Exporting and importing ONNX models": its snippets, run, with what their
// comments promise checked (the exported file loads back and gives the model's logits, eagerly
// and compiled; the module's mode is kept; the graph still compiles after export).
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>

#include "duet/duet.h"
#include "duet/models/zoo.h"
#include "duet/nn.h"
#include "duet/onnx.h"

namespace {

std::string temp(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("duet_guide_onnx_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

double max_rel_diff(const duet::Tensor& a, const duet::Tensor& b) {
  const double scale = duet::max(duet::abs(b), {}, false).item();
  return duet::max(duet::abs(duet::sub(a, b)), {}, false).item() / scale;
}

TEST(GuideOnnx, ExportAndImport) {
  if (!duet::onnx::available()) GTEST_SKIP() << "libduet built without ONNX";
  duet::Generator gen(5);
  const std::string onnx_path = temp("resnet18.onnx"), graph_path = temp("graph.onnx");

  auto net = duet::models::create_model("resnet18", 10, gen);
  duet::onnx::export_model(*net, {duet::Tensor::zeros({1, 3, 64, 64})}, onnx_path,
                           {.dynamic_batch = true});  // net's own train/eval mode is kept
  auto model = duet::onnx::load(onnx_path);  // an nn::Module running the ONNX graph
  duet::Tensor x = duet::Tensor::randn({4, 3, 64, 64}, gen);
  duet::Tensor logits = (*model)(x);  // (4, 10): net's logits in eval mode
  duet::Executable exe = model->compile({{4, 3, 64, 64}});  // a compiled graph, as for any model
  duet::Tensor same = exe.run({{model->inputs()[0].name, x}})[0];

  EXPECT_TRUE(net->training_flag());  // create_model builds in training mode; still so
  net->eval();
  duet::Tensor ref;
  {
    duet::NoGradGuard no_grad;
    ref = (*net)(x);
  }
  ASSERT_EQ(logits.shape(), (duet::Shape{4, 10}));
  EXPECT_LT(max_rel_diff(logits, ref), 1e-4);
  EXPECT_LT(max_rel_diff(same, ref), 1e-4);

  duet::Graph g;
  duet::Tensor images = g.input("images", {8, 3, 64, 64});
  duet::Tensor probs = duet::softmax((*net)(images), 1);
  duet::onnx::export_model(g, {probs}, graph_path, {.opset = 13, .output_names = {"probs"}});
  duet::Executable step = duet::compile(g, {probs});

  auto reread = duet::onnx::load(graph_path);
  EXPECT_EQ(reread->opset(), 13);
  EXPECT_EQ(reread->outputs()[0].name, "probs");
  const duet::Tensor x8 = duet::Tensor::randn({8, 3, 64, 64}, gen);
  EXPECT_LT(max_rel_diff(step.run({{"images", x8}})[0], (*reread)(x8)), 1e-4);
  std::filesystem::remove(onnx_path);
  std::filesystem::remove(graph_path);
}

}  // namespace

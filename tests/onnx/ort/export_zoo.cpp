// Exports zoo models for ONNX Runtime (ctest onnx_runtime_zoo, check_zoo.py): each with random
// weights and random batch-norm statistics and affine parameters (as the classify test does),
// in eval mode, 10 classes, plus its input and duet's logits as ONNX TensorProto files.
//
//   onnx_export_zoo OUT_DIR CASE...     CASE: a model name, or a variant:
//     NAME                    opset 17, batch norm folded, static shapes, input (2, 3, 64, 64)
//     NAME@dynamic            dynamic_batch, traced at batch 2, run at batch 3
//     NAME@opset13_unfolded   opset 13, BatchNormalization nodes (fold_batch_norm = false)
//   writes OUT_DIR/CASE.onnx, CASE.input.pb, CASE.output.pb and prints one line per case.
//   onnx_export_zoo --list              prints duet::models::model_names(), one a line
//   onnx_export_zoo --ops OUT_DIR       one model per op-table sample (op_cases.cpp)
#include <chrono>
#include <cstdio>
#include <string>

#include "duet/autograd.h"
#include "duet/duet.h"
#include "duet/models/zoo.h"
#include "duet/onnx.h"

using namespace duet;

namespace duet::test {
int export_op_cases(const std::string& dir);
}

namespace {

void randomize_batch_norms(nn::Module& net, Generator& gen) {
  NoGradGuard no_grad;
  for (const auto& [name, m] : net.named_modules()) {
    if (m->type_name() != "BatchNorm2d") continue;
    for (auto [k, t] : m->named_parameters(false)) {
      if (k == "weight") t.copy_(add(Tensor::rand(t.shape(), gen), 0.5));
      if (k == "bias") t.copy_(mul(Tensor::randn(t.shape(), gen), 0.1));
    }
    for (auto [k, t] : m->named_buffers(false)) {
      if (k == "running_mean") t.copy_(mul(Tensor::randn(t.shape(), gen), 0.1));
      if (k == "running_var") t.copy_(add(mul(Tensor::rand(t.shape(), gen), 1.5), 0.5));
    }
  }
}

void export_case(const std::string& dir, const std::string& c) {
  const auto at = c.find('@');
  const std::string model = c.substr(0, at);
  const std::string variant = at == std::string::npos ? "" : c.substr(at + 1);
  DUET_CHECK(variant.empty() || variant == "dynamic" || variant == "opset13_unfolded",
             "onnx_export_zoo: unknown variant '", variant, "' in '", c, "'");
  models::require_model(model, "onnx_export_zoo");
  const auto t0 = std::chrono::steady_clock::now();
  Generator gen(42);
  std::shared_ptr<nn::Module> net = models::create_model(model, 10, gen);
  randomize_batch_norms(*net, gen);
  net->eval();
  onnx::ExportOptions o;
  if (variant == "dynamic") o.dynamic_batch = true;
  if (variant == "opset13_unfolded") {
    o.opset = 13;
    o.fold_batch_norm = false;
  }
  const Tensor example = Tensor::randn({2, 3, 64, 64}, gen);
  onnx::export_model(*net, {example}, dir + "/" + c + ".onnx", o);
  // The dynamic export runs at another batch size than it was traced at.
  const Tensor x = variant == "dynamic" ? Tensor::randn({3, 3, 64, 64}, gen) : example;
  Tensor logits;
  {
    NoGradGuard no_grad;
    logits = (*net)(x);
  }
  onnx::save_tensor(x, dir + "/" + c + ".input.pb", "input");
  onnx::save_tensor(logits.contiguous(), dir + "/" + c + ".output.pb", "output");
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("onnx_export_zoo: %s exported (%.1f s)\n", c.c_str(), s);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--list") {
    for (const std::string& m : models::model_names()) std::printf("%s\n", m.c_str());
    return 0;
  }
  if (argc == 3 && std::string(argv[1]) == "--ops") {
    try {
      return test::export_op_cases(argv[2]);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 1;
    }
  }
  if (argc < 3) {
    std::fprintf(stderr, "usage: onnx_export_zoo OUT_DIR CASE...\n");
    return 2;
  }
  try {
    for (int i = 2; i < argc; ++i) export_case(argv[1], argv[i]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

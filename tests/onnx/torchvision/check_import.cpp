// Checks duet's import of exported models against the exporter's own outputs: for each case
// directory (model.onnx, input_<i>.pb, output_<i>.pb), loads the model with duet::onnx::load,
// runs it eagerly (forward_many) and compiled (Model::compile at the inputs' shapes), and
// requires for every output equal dtype and shape and
//   max |duet - reference| <= 1e-4 * max |reference|
// (the reference is PyTorch's output for torch.onnx.export's files, ONNX Runtime's for the
// NHWC models). Prints one line per case and run; exits 1 when any check fails.
//
//   onnx_check_import CASE_DIR...
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "duet/error.h"
#include "duet/graph.h"
#include "duet/onnx.h"
#include "duet/tensor.h"

namespace fs = std::filesystem;

namespace {

constexpr double kRelTol = 1e-4;

std::vector<duet::Tensor> read_tensors(const fs::path& dir, const std::string& prefix) {
  std::vector<duet::Tensor> out;
  for (int i = 0;; ++i) {
    fs::path p = dir / (prefix + std::to_string(i) + ".pb");
    if (!fs::exists(p)) break;
    out.push_back(duet::onnx::load_tensor(p.string()));
  }
  return out;
}

// "" when `got` is within tolerance of `want`, else why not. Sets `ratio` to
// max|got - want| / max|want|.
std::string check(const duet::Tensor& got, const duet::Tensor& want, double& ratio) {
  if (!got.defined()) return "undefined output";
  if (got.dtype() != want.dtype())
    return std::string("dtype ") + duet::dtype_name(got.dtype()) + ", expected " +
           duet::dtype_name(want.dtype());
  if (got.shape() != want.shape()) return "shape differs";
  auto g = got.to(duet::float64).contiguous().to_vector<double>();
  auto w = want.to(duet::float64).contiguous().to_vector<double>();
  double max_ref = 0, max_diff = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    max_ref = std::max(max_ref, std::fabs(w[i]));
    double d = std::fabs(g[i] - w[i]);
    if (std::isnan(d)) d = INFINITY;
    max_diff = std::max(max_diff, d);
  }
  ratio = max_ref > 0 ? max_diff / max_ref : max_diff;
  if (!(max_diff <= kRelTol * max_ref)) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "max |diff| %.3g > %.0e * max |ref| (%.3g)", max_diff, kRelTol,
                  max_ref);
    return buf;
  }
  return "";
}

// Checks one mode's outputs; prints and returns false on a mismatch.
bool check_outputs(const std::string& name, const char* mode, const std::vector<duet::Tensor>& out,
                   const std::vector<duet::Tensor>& expected) {
  if (out.size() < expected.size()) {
    std::printf("FAIL %-40s %-6s %zu outputs, expected %zu\n", name.c_str(), mode, out.size(),
                expected.size());
    return false;
  }
  bool ok = true;
  double worst = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    double ratio = 0;
    std::string why = check(out[i], expected[i], ratio);
    worst = std::max(worst, ratio);
    if (!why.empty()) {
      std::printf("FAIL %-40s %-6s output %zu: %s\n", name.c_str(), mode, i, why.c_str());
      ok = false;
    }
  }
  if (ok) std::printf("ok   %-40s %-6s max|diff|/max|ref| = %.2e\n", name.c_str(), mode, worst);
  return ok;
}

bool run_case(fs::path dir) {
  if (dir.filename().empty()) dir = dir.parent_path();  // "case/" from a shell glob
  std::string name = dir.filename().string();
  std::printf("RUN  %s\n", name.c_str());
  std::fflush(stdout);
  try {
    auto model = duet::onnx::load((dir / "model.onnx").string());
    auto inputs = read_tensors(dir, "input_");
    auto expected = read_tensors(dir, "output_");
    if (inputs.size() != model->inputs().size() || expected.empty()) {
      std::printf("FAIL %s: %zu inputs for %zu declared, %zu expected outputs\n", name.c_str(),
                  inputs.size(), model->inputs().size(), expected.size());
      return false;
    }
    bool ok = check_outputs(name, "eager", model->forward_many(inputs), expected);
    std::vector<duet::Shape> shapes;
    std::map<std::string, duet::Tensor> feeds;
    for (size_t i = 0; i < inputs.size(); ++i) {
      shapes.push_back(inputs[i].shape());
      feeds[model->inputs()[i].name] = inputs[i];
    }
    auto exe = model->compile(shapes);
    ok = check_outputs(name, "graph", exe.run(feeds), expected) && ok;
    return ok;
  } catch (const std::exception& e) {
    std::printf("FAIL %s: %s\n", name.c_str(), e.what());
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: onnx_check_import CASE_DIR...\n";
    return 2;
  }
  int failed = 0;
  for (int i = 1; i < argc; ++i) failed += run_case(argv[i]) ? 0 : 1;
  std::printf("%d of %d models imported within %.0e relative, eager and graph\n", argc - 1 - failed,
              argc - 1, kRelTol);
  return failed ? 1 : 0;
}

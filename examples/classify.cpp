// Runs a model-zoo classifier on a batch of images read from a safetensors file.
//
//   classify --model resnet18 --weights resnet18.safetensors --input x.safetensors
//            --output logits.safetensors [--mode eager|graph] [--num-classes K]
//
// Reads tensor "input" (N, 3, H, W) float32 (F16/BF16 files are converted), builds
// duet::models::create_model(NAME, K), loads the weights (strict, all-or-nothing), switches
// to eval mode, runs eagerly or as a compiled eval graph, and writes tensor "output": the
// logits, (N, K) float32. K defaults to the number of rows the weights file gives the model's
// classifier weight (its last 2-D parameter, e.g. "fc.weight"), or 1000 when the file lacks it.
// Prints one summary line. Exit code 0 on success, 1 with "error: ..." on any error.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>

#include "common/cli.h"
#include "duet/autograd.h"
#include "duet/duet.h"
#include "duet/graph.h"
#include "duet/io.h"
#include "duet/models/zoo.h"

using namespace duet;

namespace {

const char* kUsage = R"(usage: classify --model NAME --weights W.safetensors --input X.safetensors
                --output Y.safetensors [options]
  --model NAME          a duet::models name (resnet18, ..., vgg16_bn, mobilenet_v2,
                        efficientnet_b0 ... efficientnet_b7)
  --weights FILE        safetensors state_dict with torchvision names (strict load)
  --input FILE          safetensors file with tensor "input": (N, 3, H, W) float32
  --output FILE         written: safetensors file with tensor "output": (N, K) float32 logits
  --mode eager|graph    execution mode (default eager)
  --device cpu|cuda     device (default cpu)
  --num-classes K       classifier outputs (default: from the weights file's classifier
                        weight, or 1000 when the file has none)
)";

struct Options {
  std::string model, weights, input, output, mode = "eager", device = "cpu";
  int64_t num_classes = 0;  // 0: infer from the weights
};

// "'a', 'b', 'c', ... (120 tensors)": the first few names of a file's tensors.
std::string some_names(const nn::StateDict& d) {
  if (d.empty()) return "no tensors";
  std::string r;
  for (size_t i = 0; i < std::min<size_t>(d.size(), 4); ++i)
    r += (i ? ", '" : "'") + d[i].first + "'";
  return d.size() > 4 ? r + ", ... (" + std::to_string(d.size()) + " tensors)" : r;
}

// The model's classifier weight: its last 2-D tensor in state_dict order ("fc.weight",
// "classifier.1.weight", "classifier.6.weight" for the torchvision families).
std::string classifier_key(const nn::Module& net) {
  std::string key;
  for (const auto& [k, t] : net.state_dict())
    if (t.dim() == 2) key = k;
  return key;
}

int run(const Options& o) {
  for (const auto& [flag, value] : {std::pair<const char*, const std::string*>{"--model", &o.model},
                                    {"--weights", &o.weights},
                                    {"--input", &o.input},
                                    {"--output", &o.output}})
    DUET_CHECK(!value->empty(), "classify: ", flag, " is required (see --help)");
  DUET_CHECK(o.mode == "eager" || o.mode == "graph", "classify: --mode ", o.mode,
             " is not a mode (expected eager or graph)");
  const Device device = parse_device(o.device);  // throws when the device is not available
  models::require_model(o.model, "classify");

  const nn::StateDict weights = io::load_safetensors(o.weights);
  const nn::StateDict inputs = io::load_safetensors(o.input);
  const Tensor x = nn::find(inputs, "input");
  DUET_CHECK(x.defined(), "classify: '", o.input, "' has no tensor 'input' (it has ",
             some_names(inputs), ")");
  DUET_CHECK(x.dtype() == float32, "classify: tensor 'input' in '", o.input, "' is ", x.dtype(),
             " (expected float32)");
  DUET_CHECK(x.dim() == 4 && x.size(1) == 3 && x.numel() > 0, "classify: tensor 'input' in '",
             o.input, "' has shape ", shape_str(x.shape()),
             " (expected (N, 3, H, W) with N, H, W > 0)");

  Generator gen(0);
  int64_t k = o.num_classes ? o.num_classes : 1000;
  std::shared_ptr<nn::Module> net = models::create_model(o.model, k, gen);
  if (!o.num_classes) {
    const Tensor w = nn::find(weights, classifier_key(*net));
    if (w.defined() && w.dim() == 2 && w.size(0) != k && w.size(0) > 0) {
      k = w.size(0);
      net = models::create_model(o.model, k, gen);
    }
  }
  try {
    net->load_state_dict(weights);
  } catch (const Error& e) {
    throw Error(detail::cat("classify: weights '", o.weights, "' do not fit ", o.model, " with ", k,
                            " classes: ", e.what()));
  }
  net->eval();
  net->to(device);

  NoGradGuard no_grad;
  Tensor logits;
  double compile_ms = 0;
  auto t0 = std::chrono::steady_clock::now();
  if (o.mode == "eager") {
    logits = (*net)(x.to(device));
    synchronize(device);
  } else {
    Graph g;
    Tensor xs = g.input("input", x.shape(), x.dtype(), device);
    Tensor ys = (*net)(xs);
    // One run: a CUDA Graph would be captured on the second run and never replayed.
    Executable exe = compile(g, {ys}, {.cuda_graph = false});
    compile_ms = examples::seconds_since(t0) * 1e3;
    const Tensor xd = x.to(device);
    t0 = std::chrono::steady_clock::now();
    logits = exe.run({{"input", xd}})[0].clone();
    synchronize(device);
  }
  const double run_ms = examples::seconds_since(t0) * 1e3;
  DUET_CHECK(logits.shape() == (Shape{x.size(0), k}), "classify: ", o.model, " returned shape ",
             shape_str(logits.shape()), " (expected ", shape_str({x.size(0), k}), ")");
  io::save_safetensors(o.output, {{"output", logits.to(cpu).contiguous().to(float32)}},
                       {{"model", o.model}, {"mode", o.mode}});

  std::printf("classify: model %s, mode %s, input %s, output %s, %.2f ms", o.model.c_str(),
              o.mode.c_str(), shape_str(x.shape()).c_str(), shape_str(logits.shape()).c_str(),
              run_ms);
  if (o.mode == "graph") std::printf(" (compile %.2f ms)", compile_ms);
  std::printf("\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    examples::Cli cli(argc, argv, "classify", kUsage);
    if (cli.help()) {
      std::cout << kUsage;
      return 0;
    }
    Options o;
    o.model = cli.get("--model", "");
    o.weights = cli.get("--weights", "");
    o.input = cli.get("--input", "");
    o.output = cli.get("--output", "");
    o.mode = cli.get("--mode", o.mode);
    o.device = cli.get("--device", o.device);
    o.num_classes = cli.get_int("--num-classes", 0);
    cli.finish();
    return run(o);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

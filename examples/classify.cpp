// Runs a model-zoo classifier on a batch of images read from a safetensors file.
//
//   classify --model resnet18 --weights resnet18.safetensors --input x.safetensors
//            --output logits.safetensors [--mode eager|graph] [--num-classes K]
//            [--export-onnx model.onnx] [--keep-weights]
//   classify --onnx model.onnx --input x.safetensors --output logits.safetensors
//            [--mode eager|graph] [--keep-weights]
//   classify ... --precision bf16     # bfloat16 autocast (eager scope / graph compile option)
//
// Reads tensor "input" (N, 3, H, W) float32 (F16/BF16 files are converted), builds
// duet::models::create_model(NAME, K), loads the weights (strict, all-or-nothing), switches
// to eval mode, runs eagerly or as a compiled eval graph, and writes tensor "output": the
// logits, (N, K) float32. K defaults to the number of rows the weights file gives the model's
// classifier weight (its last 2-D parameter, e.g. "fc.weight"), or 1000 when the file lacks it.
// --export-onnx also writes the model (weights loaded, eval) as an ONNX file with a dynamic
// batch axis (duet::onnx::export_model); --onnx runs an ONNX file (duet::onnx::load, e.g. one
// written by --export-onnx or by torch.onnx.export) instead of a zoo model, eagerly or as a
// compiled graph, with the same input, output and summary line.
// Graph mode compiles with CompileOptions::release_weights and drops the model before the run,
// so the executable holds the only copy of the weights it has folded or packed (graph inference
// peak <= eager's; docs/graph_mode.md, "Inference memory"); --keep-weights keeps the model.
// --precision bf16|fp16 runs the forward pass under autocast (eager: duet::autocast around it;
// graph: CompileOptions::autocast): convolutions and matrix products in that dtype, the
// weights stay float32; the logits are written as float32 either way.
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
#include "duet/onnx.h"

using namespace duet;

namespace {

const char* kUsage = R"(usage: classify --model NAME --weights W.safetensors --input X.safetensors
                --output Y.safetensors [options]
       classify --onnx MODEL.onnx --input X.safetensors --output Y.safetensors [options]
  --model NAME          a duet::models name (resnet18, ..., vgg16_bn, mobilenet_v2,
                        efficientnet_b0 ... efficientnet_b7)
  --weights FILE        safetensors state_dict with torchvision names (strict load)
  --input FILE          safetensors file with tensor "input": (N, 3, H, W) float32
  --output FILE         written: safetensors file with tensor "output": (N, K) float32 logits
  --mode eager|graph    execution mode (default eager)
  --precision P         fp32 (default), bf16 or fp16: run the forward pass under autocast
                        to that dtype (the output file stays float32)
  --device cpu|cuda     device (default cpu)
  --num-classes K       classifier outputs (default: from the weights file's classifier
                        weight, or 1000 when the file has none)
  --export-onnx FILE    also write the model (weights loaded, eval) as an ONNX file
                        (opset 17, batch norm folded, dynamic batch axis)
  --onnx FILE           run this ONNX model instead of --model/--weights (CPU)
  --keep-weights        graph mode: keep the model alive beside the executable (by default it
                        is dropped after compiling and the executable keeps one copy of the
                        weights it folds/packs: CompileOptions::release_weights)
)";

struct Options {
  std::string model, weights, input, output, mode = "eager", device = "cpu";
  std::string export_onnx, onnx;
  int64_t num_classes = 0;        // 0: infer from the weights
  bool keep_weights = false;      // graph mode: no release_weights, the model stays alive
  examples::Precision precision;  // --precision
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

// Reads tensor "input" (N, 3, H, W) float32 from a safetensors file.
Tensor read_input(const std::string& path) {
  const nn::StateDict inputs = io::load_safetensors(path);
  const Tensor x = nn::find(inputs, "input");
  DUET_CHECK(x.defined(), "classify: '", path, "' has no tensor 'input' (it has ",
             some_names(inputs), ")");
  DUET_CHECK(x.dtype() == float32, "classify: tensor 'input' in '", path, "' is ", x.dtype(),
             " (expected float32)");
  DUET_CHECK(x.dim() == 4 && x.size(1) == 3 && x.numel() > 0, "classify: tensor 'input' in '", path,
             "' has shape ", shape_str(x.shape()), " (expected (N, 3, H, W) with N, H, W > 0)");
  return x;
}

// Runs `net` on x eagerly or as a compiled eval graph; returns the logits and the times.
// Graph mode takes the caller's only handle on the model and, unless keep_weights, drops it
// after compiling: the run then releases the captured weights the executable has folded or
// packed (CompileOptions::release_weights), so the weights exist once.
Tensor run_model(std::shared_ptr<nn::Module> net, const Tensor& x, const Options& o, Device device,
                 const std::string& input_name, double* compile_ms, double* run_ms) {
  NoGradGuard no_grad;
  Tensor logits;
  auto t0 = std::chrono::steady_clock::now();
  if (o.mode == "eager") {
    // fp32: autocast off for the scope (a no-op unless a caller turned it on).
    AutocastGuard scope(o.precision.autocast.value_or(bfloat16), o.precision.low());
    logits = (*net)(x.to(device));
    synchronize(device);
  } else {
    Graph g;
    Tensor xs = g.input(input_name, x.shape(), x.dtype(), device);
    Tensor ys = (*net)(xs);
    // One run: a CUDA Graph would be captured on the second run and never replayed.
    Executable exe = compile(g, {ys},
                             {.cuda_graph = false,
                              .release_weights = !o.keep_weights,
                              .autocast = o.precision.autocast});
    if (!o.keep_weights) net.reset();
    *compile_ms = examples::seconds_since(t0) * 1e3;
    const Tensor xd = x.to(device);
    t0 = std::chrono::steady_clock::now();
    logits = exe.run({{input_name, xd}})[0].clone();
    synchronize(device);
  }
  *run_ms = examples::seconds_since(t0) * 1e3;
  return logits;
}

void write_output(const Options& o, const std::string& model, const Tensor& x, const Tensor& logits,
                  double compile_ms, double run_ms) {
  io::save_safetensors(o.output, {{"output", logits.to(cpu).contiguous().to(float32)}},
                       {{"model", model}, {"mode", o.mode}, {"precision", o.precision.name}});
  std::printf("classify: model %s, mode %s, precision %s, input %s, output %s, %.2f ms",
              model.c_str(), o.mode.c_str(), o.precision.name.c_str(), shape_str(x.shape()).c_str(),
              shape_str(logits.shape()).c_str(), run_ms);
  if (o.mode == "graph") std::printf(" (compile %.2f ms)", compile_ms);
  std::printf("\n");
}

// --onnx: an imported model instead of a zoo model.
int run_onnx(const Options& o) {
  for (const auto& [flag, value] : {std::pair<const char*, const std::string*>{"--model", &o.model},
                                    {"--weights", &o.weights},
                                    {"--export-onnx", &o.export_onnx}})
    DUET_CHECK(value->empty(), "classify: ", flag, " cannot be used with --onnx (the ONNX file ",
               "holds the model and its weights)");
  DUET_CHECK(o.num_classes == 0, "classify: --num-classes cannot be used with --onnx");
  DUET_CHECK(parse_device(o.device) == cpu, "classify: --onnx runs on the CPU (got --device ",
             o.device, ")");
  std::shared_ptr<onnx::Model> m = onnx::load(o.onnx);
  DUET_CHECK(m->inputs().size() == 1 && m->outputs().size() == 1, "classify: '", o.onnx, "' has ",
             m->inputs().size(), " inputs and ", m->outputs().size(),
             " outputs (expected one image input and one logits output)");
  const Tensor x = read_input(o.input);
  double compile_ms = 0, run_ms = 0;
  const std::string input_name = m->inputs()[0].name;
  const Tensor logits = run_model(std::move(m), x, o, cpu, input_name, &compile_ms, &run_ms);
  DUET_CHECK(logits.dim() == 2 && logits.size(0) == x.size(0), "classify: '", o.onnx,
             "' returned shape ", shape_str(logits.shape()), " (expected (", x.size(0), ", K))");
  write_output(o, o.onnx, x, logits, compile_ms, run_ms);
  return 0;
}

int run(const Options& o) {
  DUET_CHECK(o.mode == "eager" || o.mode == "graph", "classify: --mode ", o.mode,
             " is not a mode (expected eager or graph)");
  if (!o.onnx.empty()) {
    for (const auto& [flag, value] :
         {std::pair<const char*, const std::string*>{"--input", &o.input}, {"--output", &o.output}})
      DUET_CHECK(!value->empty(), "classify: ", flag, " is required (see --help)");
    return run_onnx(o);
  }
  for (const auto& [flag, value] : {std::pair<const char*, const std::string*>{"--model", &o.model},
                                    {"--weights", &o.weights},
                                    {"--input", &o.input},
                                    {"--output", &o.output}})
    DUET_CHECK(!value->empty(), "classify: ", flag, " is required (see --help)");
  const Device device = parse_device(o.device);  // throws when the device is not available
  models::require_model(o.model, "classify");

  nn::StateDict weights = io::load_safetensors(o.weights);
  const Tensor x = read_input(o.input);

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
  weights.clear();  // copied into the model: the file's tensors need not stay
  net->eval();
  if (!o.export_onnx.empty()) {
    onnx::export_model(*net, {x}, o.export_onnx, {.dynamic_batch = true});
    std::printf("classify: wrote %s (opset 17, dynamic batch)\n", o.export_onnx.c_str());
  }
  net->to(device);

  double compile_ms = 0, run_ms = 0;
  const Tensor logits = run_model(std::move(net), x, o, device, "input", &compile_ms, &run_ms);
  DUET_CHECK(logits.shape() == (Shape{x.size(0), k}), "classify: ", o.model, " returned shape ",
             shape_str(logits.shape()), " (expected ", shape_str({x.size(0), k}), ")");
  write_output(o, o.model, x, logits, compile_ms, run_ms);
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
    o.precision = cli.get_precision();
    o.device = cli.get("--device", o.device);
    o.num_classes = cli.get_int("--num-classes", 0);
    o.export_onnx = cli.get("--export-onnx", "");
    o.onnx = cli.get("--onnx", "");
    o.keep_weights = cli.flag("--keep-weights");
    cli.finish();
    return run(o);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

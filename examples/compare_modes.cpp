// Eager vs graph on the same model, weights and data: step time, compile time, peak memory
// and the largest difference between the two runs.
//
//   compare_modes --steps 20 --batch-size 1 [--json] [--data DIR] [--synthetic]
//   compare_modes --model resnet18 --size 64 --steps 5 --batch-size 2   # a zoo model
//   compare_modes --precision bf16 --steps 5 --batch-size 8   # both modes under autocast
//   compare_modes --device cuda --steps 20 --batch-size 1   # on a GPU, graph replayed as a
//                                                           # CUDA Graph (--no-cuda-graph: not)
//
// Peak memory is the allocator's high-water mark during the steps *beyond* what was live
// before them (parameters and optimizer state, identical in both modes): for eager the
// activations, saved tensors, gradients and temporaries; for graph the planned arena
// (gradients, activations, workspace), measured and planned. On a GPU every step is timed
// until duet::synchronize(device) returns; the data is on the device before the steps.
// --precision bf16|fp16: eager runs the forward pass and the loss inside duet::autocast(dtype),
// graph compiles with CompileOptions::autocast; fp16 adds loss scaling (an amp::GradScaler per
// mode: scale/step/update eagerly, CompileOptions::grad_scaler in the compiled step). The
// differences are then between two low-precision runs (the same casts in the same places).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <optional>
#include <set>

#include "common/cli.h"
#include "duet/data.h"
#include "duet/duet.h"
#include "duet/equivalence.h"
#include "duet/graph.h"
#include "duet/models/fashion_cnn.h"
#include "duet/models/zoo.h"
#include "duet/optim.h"

using namespace duet;

namespace {

const char* kUsage = R"(usage: compare_modes [options]
  --model NAME        fashion_cnn (default) or a zoo model (resnet18, mobilenet_v2, ...),
                      which runs on random (N, 3, size, size) images and 1000 classes
  --size N            zoo models: input height and width (default 64)
  --steps N           training steps per mode (default 20)
  --batch-size N      batch size (default 64)
  --seed N            seed (default 0)
  --precision P       fp32 (default), bf16 or fp16: both modes under autocast to that dtype
                      (fp16 with loss scaling); parameters and Adam stay float32
  --device cpu|cuda   device (default cpu; cuda:N for another GPU)
  --no-cuda-graph     graph mode on CUDA: launch kernel by kernel instead of capturing the
                      step as a CUDA Graph (on its second run) and replaying it
  --data DIR          Fashion-MNIST directory (default /usr/share/datasets/fashion-mnist)
  --synthetic         random images and labels instead of Fashion-MNIST
  --json              print one JSON object as the last stdout line
  --profile           print the graph step's time per op kind
  --disable-passes A,B  compile without these graph passes (e.g. fuse_updates,cse)
)";

using Named = nn::StateDict;

struct RunResult {
  std::vector<double> step_ms;
  std::vector<Tensor> losses;
  Named final_state;
  int64_t peak_bytes = 0;
  int64_t planned_bytes = 0;
  double compile_ms = 0;
  std::string memory_report;
  int num_captures = 0;
};

}  // namespace

int main(int argc, char** argv) {
  try {
    examples::Cli cli(argc, argv, "compare_modes", kUsage);
    if (cli.help()) {
      std::cout << kUsage;
      return 0;
    }
    const std::string model_name = cli.get("--model", "fashion_cnn");
    const int64_t steps = cli.get_int("--steps", 20);
    const int64_t bs = cli.get_int("--batch-size", 64);
    const int64_t seed = cli.get_int("--seed", 0, 0);
    const examples::Precision precision = cli.get_precision();
    const bool scaled = precision.autocast == float16;  // fp16: loss scaling in both modes
    const std::string device_name = cli.get("--device", "cpu");
    const bool cuda_graph = !cli.flag("--no-cuda-graph");
    const std::string dir = cli.get("--data", data::kFashionMnistDir);
    const int64_t size = cli.get_int("--size", 64);
    const bool zoo = model_name != "fashion_cnn";
    const bool synthetic = cli.flag("--synthetic") || zoo;
    const bool json = cli.flag("--json");
    const bool profile = cli.flag("--profile");
    const std::vector<std::string> disabled_list =
        examples::split_list(cli.get("--disable-passes", ""));
    const std::set<std::string> disabled(disabled_list.begin(), disabled_list.end());
    cli.finish();
    const Device device = parse_device(device_name);  // throws when the device is not available
    const bool on_gpu = device.type == DeviceType::cuda;
    // x: (bs, 1, 28, 28) for fashion_cnn, (bs, 3, size, size) for zoo models
    const Shape image_shape = zoo ? Shape{bs, 3, size, size} : Shape{bs, 1, 28, 28};
    const uint64_t classes = zoo ? 1000 : 10;

    // Data: the first steps * batch images (or random ones).
    Generator gen(static_cast<uint64_t>(seed));
    std::vector<std::pair<Tensor, Tensor>> batches;
    if (synthetic) {
      for (int64_t s = 0; s < steps; ++s) {
        Tensor y = Tensor::empty({bs}, int64);
        for (int64_t i = 0; i < bs; ++i)
          y.data<int64_t>()[i] = static_cast<int64_t>(gen.below(classes));
        batches.emplace_back(Tensor::randn(image_shape, gen), y);
      }
    } else {
      data::IdxDataset train = data::load_fashion_mnist(dir, true, true);
      DUET_CHECK(steps * bs <= train.size(), "compare_modes: ", steps, " steps of ", bs,
                 " images need ", steps * bs, " images; the training set has ", train.size());
      for (int64_t s = 0; s < steps; ++s)
        batches.emplace_back(train.images().slice(0, s * bs, (s + 1) * bs).contiguous(),
                             train.labels().slice(0, s * bs, (s + 1) * bs).contiguous());
    }
    // Both modes read the batches where the model is, uploaded before anything is timed.
    for (auto& [x, y] : batches) {
      x = x.to(device);
      y = y.to(device);
    }

    manual_seed(static_cast<uint64_t>(seed));
    std::shared_ptr<nn::Module> net = zoo ? models::create_model(model_name, 1000, gen)
                                          : std::shared_ptr<nn::Module>(models::fashion_cnn(gen));
    net->to(device);  // before the optimizers: their state follows the parameters' device
    const Named initial = nn::clone_state_dict(net->state_dict());
    auto params = net->parameters();

    // ---- eager ----
    RunResult eager;
    {
      manual_seed(static_cast<uint64_t>(seed));
      optim::Adam opt(params, 1e-3);
      std::optional<amp::GradScaler> scaler;
      if (scaled) scaler.emplace();
      synchronize(device);
      reset_peak_memory(device);
      const int64_t base = memory_stats(device).current_bytes;
      for (int64_t s = 0; s < steps; ++s) {
        const auto t0 = std::chrono::steady_clock::now();
        opt.zero_grad();
        Tensor loss;
        {
          // fp32: autocast off for the scope
          AutocastGuard scope(precision.autocast.value_or(bfloat16), precision.low());
          loss = cross_entropy((*net)(batches[s].first), batches[s].second);
        }
        if (scaler) {
          scaler->scale(loss).backward();
          scaler->step(opt);  // skipped on inf/NaN gradients
          scaler->update();
        } else {
          loss.backward();
          opt.step();
        }
        synchronize(device);  // a GPU step ends when its kernels have (no-op on the CPU)
        eager.step_ms.push_back(examples::seconds_since(t0) * 1e3);
        eager.losses.push_back(loss.detach());
      }
      opt.zero_grad();
      eager.peak_bytes = memory_stats(device).peak_bytes - base;
      eager.final_state = nn::clone_state_dict(net->state_dict());
    }

    // ---- graph ----
    net->load_state_dict(initial);
    RunResult graph;
    {
      manual_seed(static_cast<uint64_t>(seed));
      optim::Adam opt(params, 1e-3);
      std::optional<amp::GradScaler> scaler;
      if (scaled) scaler.emplace();
      synchronize(device);
      reset_peak_memory(device);
      const int64_t base = memory_stats(device).current_bytes;
      const auto t0 = std::chrono::steady_clock::now();
      Graph g({.training = true});
      Tensor x = g.input("x", image_shape, float32, device);
      Tensor y = g.input("y", {bs}, int64, device);
      Tensor loss = cross_entropy((*net)(x), y);
      Executable step = compile(g, {loss},
                                {.training = true,
                                 .optimizer = &opt,
                                 .disabled_passes = disabled,
                                 .cuda_graph = cuda_graph,
                                 .autocast = precision.autocast,
                                 .grad_scaler = scaler ? &*scaler : nullptr});
      graph.compile_ms = examples::seconds_since(t0) * 1e3;
      for (int64_t s = 0; s < steps; ++s) {
        const auto t1 = std::chrono::steady_clock::now();
        std::vector<Tensor> out = step.run({{"x", batches[s].first}, {"y", batches[s].second}});
        synchronize(device);
        graph.step_ms.push_back(examples::seconds_since(t1) * 1e3);
        graph.losses.push_back(out[0].clone());
      }
      graph.peak_bytes = memory_stats(device).peak_bytes - base;
      // After the runs: on CUDA the report includes what the CUDA Graph capture kept.
      graph.planned_bytes = step.memory_report().arena;
      graph.memory_report = step.memory_report().str();
      graph.num_captures = step.num_captures();
      graph.final_state = nn::clone_state_dict(net->state_dict());
      if (profile) {
        const Named after = nn::clone_state_dict(net->state_dict());
        std::cout << step.profile({{"x", batches[0].first}, {"y", batches[0].second}}, 20);
        net->load_state_dict(after);  // profiling trained further; put the compared state back
      }
    }
    net->load_state_dict(initial);

    double diff_loss = 0, diff_params = 0;
    for (int64_t s = 0; s < steps; ++s)
      diff_loss = std::max(diff_loss, relative_difference(graph.losses[s], eager.losses[s]));
    for (size_t i = 0; i < eager.final_state.size(); ++i)
      diff_params = std::max(diff_params, relative_difference(graph.final_state[i].second,
                                                              eager.final_state[i].second));
    const double e_ms = examples::median(eager.step_ms), g_ms = examples::median(graph.step_ms);
    if (!json) {
      std::printf(
          "compare_modes: %s, %s%s, %lld steps, batch %lld, %s data, %s%s\n", model_name.c_str(),
          precision.name.c_str(), scaled ? " (loss scaling)" : "", static_cast<long long>(steps),
          static_cast<long long>(bs), synthetic ? "synthetic" : "Fashion-MNIST",
          device.str().c_str(),
          on_gpu ? (cuda_graph ? ", graph replayed as a CUDA Graph" : ", no CUDA Graph") : "");
      std::printf("%-34s %14s %14s\n", "", "eager", "graph");
      std::printf("%-34s %14.3f %14.3f\n", "median step (ms)", e_ms, g_ms);
      std::printf("%-34s %14s %14.1f\n", "compile (ms)", "-", graph.compile_ms);
      std::printf("%-34s %14.2f %14.2f\n", "peak memory, measured (MiB)",
                  eager.peak_bytes / 1048576.0, graph.peak_bytes / 1048576.0);
      std::printf("%-34s %14s %14.2f\n", "peak memory, planned (MiB)", "-",
                  graph.planned_bytes / 1048576.0);
      std::printf("%-34s %29.3g\n", "max relative difference, loss", diff_loss);
      std::printf("%-34s %29.3g\n", "max relative difference, params", diff_params);
      std::printf("speed-up graph/eager: %.2fx; memory graph/eager: %.2f\n", e_ms / g_ms,
                  static_cast<double>(graph.peak_bytes) / std::max<int64_t>(eager.peak_bytes, 1));
      std::printf("graph plan: %s\n", graph.memory_report.c_str());
      if (on_gpu)
        std::printf("CUDA Graph captures: %d (the median step is a replay from step 3 on)\n",
                    graph.num_captures);
    }
    std::printf(
        "{\"model\": \"%s\", \"precision\": \"%s\", \"device\": \"%s\", \"cuda_graph\": %s, "
        "\"captures\": %d, "
        "\"steps\": %lld, \"batch_size\": %lld, \"eager_step_ms\": %.4f, \"graph_step_ms\": %.4f, "
        "\"speedup\": %.3f, \"compile_ms\": %.2f, "
        "\"eager_peak_bytes\": %lld, \"graph_peak_bytes\": %lld, "
        "\"graph_planned_bytes\": %lld, \"max_rel_diff\": %.3g, "
        "\"max_rel_diff_loss\": %.3g, \"max_rel_diff_params\": %.3g}\n",
        model_name.c_str(), precision.name.c_str(), device.str().c_str(),
        on_gpu ? (cuda_graph ? "true" : "false") : "null", graph.num_captures,
        static_cast<long long>(steps), static_cast<long long>(bs), e_ms, g_ms, e_ms / g_ms,
        graph.compile_ms, static_cast<long long>(eager.peak_bytes),
        static_cast<long long>(graph.peak_bytes), static_cast<long long>(graph.planned_bytes),
        std::max(diff_loss, diff_params), diff_loss, diff_params);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

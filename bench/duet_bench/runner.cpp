// duet-bench's grid point: see runner.h.
#include "duet_bench/runner.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include "common/cli.h"
#include "duet/amp.h"
#include "duet/autograd.h"
#include "duet/cuda.h"
#include "duet/graph.h"
#include "duet/memory.h"
#include "duet/models/zoo.h"
#include "duet/ops.h"
#include "duet/optim.h"

namespace duet::bench {
namespace {

using clock = std::chrono::steady_clock;
using examples::seconds_since;

bool is_out_of_memory(const std::exception& e) {
  return std::string(e.what()).find("out of memory") != std::string::npos;
}

// Graph mode on CUDA: run 1 is uncaptured, run 2 captures, run 3 replays. The warm-up covers
// all three so that the timed steps are replays only.
constexpr int64_t kCudaGraphWarmup = 3;

int64_t warmup_steps(const PointSpec& spec) {
  return spec.graph && spec.device.type == DeviceType::cuda
             ? std::max(spec.warmup, kCudaGraphWarmup)
             : spec.warmup;
}

// Times `steps` calls of `step` after the untimed warm-up ones.
template <class F>
void time_steps(const PointSpec& spec, PointResult& r, F&& step) {
  // A GPU step is timed until its kernels have finished (the host only queues them).
  r.warmup_run = warmup_steps(spec);
  for (int64_t i = 0; i < r.warmup_run; ++i) {
    step();
    synchronize(spec.device);
  }
  // On the GPU the peak covers the timed steps only, as bench/pytorch_reference.py measures
  // torch.cuda.max_memory_allocated (cudnnFind's one-off scratch on the first step is left
  // out on both sides).
  // Graph mode: the arena is allocated at compile time and whatever the CUDA Graph capture
  // kept stays allocated, so both are still counted.
  if (spec.device.type == DeviceType::cuda && r.warmup_run > 0) reset_peak_memory(spec.device);
  for (int64_t i = 0; i < spec.steps; ++i) {
    const auto t0 = clock::now();
    step();
    synchronize(spec.device);
    r.step_s.push_back(seconds_since(t0));
  }
}

void run_inside(const PointSpec& spec, PointResult& r) {
  Generator gen(spec.seed);
  auto net = models::create_model(spec.model, spec.num_classes, gen);
  // x: (batch, 3, size, size) images; y: (batch) labels in [0, num_classes)
  Tensor x = Tensor::randn({spec.batch, 3, spec.size, spec.size}, gen);
  Tensor y = Tensor::empty({spec.batch}, int64);
  for (int64_t i = 0; i < spec.batch; ++i)
    y.data<int64_t>()[i] = static_cast<int64_t>(gen.below(static_cast<uint64_t>(spec.num_classes)));
  // Inputs live on the device before timing, as in bench/pytorch_reference.py: graph mode
  // copies a device feed into its fixed input buffer, eager mode reads it in place.
  net->to(spec.device);
  x = x.to(spec.device);
  y = y.to(spec.device);

  // Peak memory counts the model, its inputs and the step, not how the model was built
  // (initialisation temporaries).
  reset_peak_memory(spec.device);
  if (!spec.train) net->eval();
  // float16 training: loss scaling (bfloat16 needs none).
  std::optional<amp::GradScaler> scaler;
  if (spec.train && spec.autocast == float16) scaler.emplace();
  // Eager: autocast to spec.autocast inside the scope, or off for it (fp32).
  const DType lowp = spec.autocast.value_or(bfloat16);
  const bool cast = spec.autocast.has_value();
  if (spec.train && !spec.graph) {
    optim::Adam opt(net->parameters(), 1e-3);
    time_steps(spec, r, [&] {
      opt.zero_grad();
      Tensor loss;
      {
        AutocastGuard scope(lowp, cast);
        loss = cross_entropy((*net)(x), y);
      }
      if (scaler) {
        scaler->scale(loss).backward();
        scaler->step(opt);
        scaler->update();
      } else {
        loss.backward();
        opt.step();
      }
    });
  } else if (spec.train) {
    optim::Adam opt(net->parameters(), 1e-3);
    const auto t0 = clock::now();
    Graph g({.training = true});
    Tensor gx = g.input("x", x.shape(), x.dtype(), spec.device);
    Tensor gy = g.input("y", y.shape(), int64, spec.device);
    Tensor loss = cross_entropy((*net)(gx), gy);
    Executable exe = compile(g, {loss},
                             {.training = true,
                              .optimizer = &opt,
                              .cuda_graph = spec.cuda_graph,
                              .autocast = spec.autocast,
                              .grad_scaler = scaler ? &*scaler : nullptr});
    r.compile_ms = seconds_since(t0) * 1e3;
    const std::map<std::string, Tensor> feeds{{"x", x}, {"y", y}};
    time_steps(spec, r, [&] { exe.run(feeds); });
    r.num_captures = exe.num_captures();
    r.capture_scratch_bytes = exe.memory_report().capture_scratch;
  } else if (!spec.graph) {
    NoGradGuard no_grad;
    AutocastGuard scope(lowp, cast);
    time_steps(spec, r, [&] { (void)(*net)(x); });
  } else {
    const auto t0 = clock::now();
    Graph g;
    Tensor gx = g.input("x", x.shape(), x.dtype(), spec.device);
    Tensor logits = (*net)(gx);
    Executable exe = compile(
        g, {logits},
        {.cuda_graph = spec.cuda_graph, .release_weights = true, .autocast = spec.autocast});
    r.compile_ms = seconds_since(t0) * 1e3;
    // Inference only: the executable owns the weights' only use from here on. Dropping the
    // model lets the first run release each captured weight right after folding/packing it
    // (CompileOptions::release_weights), so the weights exist once, as in eager inference.
    net.reset();
    const std::map<std::string, Tensor> feeds{{"x", x}};
    time_steps(spec, r, [&] { exe.run(feeds); });
    r.num_captures = exe.num_captures();
    r.capture_scratch_bytes = exe.memory_report().capture_scratch;
  }
}

}  // namespace

bool uses_cuda_graph(const PointSpec& spec) {
  return spec.graph && spec.cuda_graph && spec.device.type == DeviceType::cuda;
}

double PointResult::mean_s() const {
  return step_s.empty() ? 0 : std::accumulate(step_s.begin(), step_s.end(), 0.0) / step_s.size();
}

double PointResult::median_s() const {
  return examples::median(step_s);
}

PointResult run_point(const PointSpec& spec) {
  PointResult r;
  empty_cache(spec.device);  // each point starts from a clean allocator, like a fresh process
  reset_peak_memory(spec.device);
  const int64_t base = memory_stats(spec.device).current_bytes;
  try {
    run_inside(spec, r);
  } catch (const std::bad_alloc& e) {
    r = PointResult{.out_of_memory = true, .error = "out of memory (std::bad_alloc)"};
  } catch (const std::exception& e) {
    if (!is_out_of_memory(e)) throw;
    r = PointResult{.out_of_memory = true, .error = e.what()};
  }
  const MemoryStats after = memory_stats(spec.device);
  r.peak_bytes = after.peak_bytes - base + r.capture_scratch_bytes;
  r.device_used_bytes = after.device_used_bytes;
  empty_cache(spec.device);
  return r;
}

double forward_gmacs(nn::Module& net, int64_t size) {
  net.eval();
  Graph g;
  Tensor logits = net(g.input("x", {1, 3, size, size}));
  g.end_build();
  return static_cast<double>(multiply_adds(g)) / 1e9;
}

}  // namespace duet::bench

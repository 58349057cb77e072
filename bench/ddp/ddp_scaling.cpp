// ddp_scaling: data-parallel training throughput, one process against several ranks on the
// same global batch (issue #15's target: 2 ranks x 1 thread >= 1.8x one process x 1 thread).
//
//   ddp_scaling --mode eager --batch 16 --threads 1 --json                  # one process
//   mpirun --allow-run-as-root --oversubscribe -np 2 ddp_scaling --distributed --batch 8
//                                                                           # 2 ranks x 8
//   bash bench/distributed_scaling.sh    # both, eager and graph, and the table
//
// Each step is a training step of fit's shape: forward, cross-entropy, gradients, Adam; with
// --distributed the gradients are averaged by a GradientReducer (eager: bucket all-reduces
// started by the grad-ready hooks during backward; graph: all_reduce_start/wait nodes in the
// compiled step). Step times are per rank, after --warmup untimed steps; images/s =
// world x batch / the median step time of the slowest rank. Eager also reports the share of
// communication hidden behind backward: per bucket, the part of [all-reduce start, completion]
// before backward ended (GradientReducer::last_timings() and last_backward_seconds()), over
// the buckets' total all-reduce time.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>

#include "common/cli.h"
#include "duet/autograd.h"
#include "duet/distributed.h"
#include "duet/distributed/ddp.h"
#include "duet/duet.h"
#include "duet/jit.h"
#include "duet/models/zoo.h"
#include "duet/optim.h"
#include "duet/threads.h"

using namespace duet;

namespace {

const char* kUsage = R"(usage: ddp_scaling [options]
  --model NAME      a duet-bench model (default resnet18)
  --size N          input H = W (default 128)
  --batch N         per-rank batch (default 8)
  --mode eager|graph  (default eager)
  --steps N         timed steps (default 10)
  --warmup N        untimed steps first (default 2)
  --threads N       CPU threads per process (default 1)
  --bucket-mb X     DDP bucket cap (default 25)
  --no-overlap      eager: all-reduce after backward instead of during it
  --grad-view       eager: DDPOptions::gradient_as_bucket_view (no copy back per step)
  --optimizer adam|sgd  Adam lr 1e-3 (default, as duet-bench) or SGD lr 0.01 momentum 0.9
  --distributed     one rank of an mpirun launch (duet::distributed::init())
  --json            one JSON line (rank 0)
)";

struct Options {
  std::string model = "resnet18", mode = "eager", optimizer = "adam";
  int64_t size = 128, batch = 8, steps = 10, warmup = 2, threads = 1;
  double bucket_mb = 25;
  bool overlap = true, grad_view = false, distributed = false, json = false;
};

int run(const Options& o) {
  DUET_CHECK(o.mode == "eager" || o.mode == "graph", "ddp_scaling: --mode ", o.mode,
             " (expected eager or graph)");
  set_num_threads(static_cast<int>(o.threads));
  if (o.distributed) distributed::init();
  const int world = distributed::world_size(), rank = distributed::rank();
  Generator gen(0);
  auto net = models::create_model(o.model, 1000, gen);
  DUET_CHECK(o.optimizer == "adam" || o.optimizer == "sgd", "ddp_scaling: --optimizer ",
             o.optimizer, " (expected adam or sgd)");
  // Every rank runs the whole update: a fixed cost per step that data parallelism does not
  // divide (Adam: ~7 passes over the parameters' bytes; SGD with momentum: ~5).
  std::unique_ptr<optim::Optimizer> optimizer;
  if (o.optimizer == "adam")
    optimizer = std::make_unique<optim::Adam>(net->parameters(), 1e-3);
  else
    optimizer = std::make_unique<optim::SGD>(net->parameters(), 0.01, 0.9);
  optim::Optimizer& opt = *optimizer;
  // x: (batch, 3, size, size); y: (batch) labels; different per rank (its shard)
  Generator data_gen(100 + static_cast<uint64_t>(rank));
  Tensor x = Tensor::randn({o.batch, 3, o.size, o.size}, data_gen);
  Tensor y = Tensor::empty({o.batch}, int64);
  for (int64_t i = 0; i < o.batch; ++i)
    y.data<int64_t>()[i] = static_cast<int64_t>(data_gen.below(1000));

  std::unique_ptr<distributed::GradientReducer> reducer;
  if (o.distributed) {
    distributed::broadcast_module(*net);
    reducer = std::make_unique<distributed::GradientReducer>(
        opt.params(), distributed::DDPOptions{.bucket_cap_mb = o.bucket_mb,
                                              .overlap = o.overlap,
                                              .gradient_as_bucket_view = o.grad_view});
  }
  std::unique_ptr<JitFunction> step;
  if (o.mode == "graph")
    step = std::make_unique<JitFunction>(
        [&](const std::vector<Tensor>& in) {
          Tensor loss = cross_entropy((*net)(in[0]), in[1]);
          std::vector<Tensor> grads = duet::gradients(loss, opt.params());
          if (reducer) grads = reducer->all_reduce_gradients(grads);
          opt.apply_gradients(grads);
          return std::vector<Tensor>{loss};
        },
        CompileOptions{.training = true}, "ddp_train_step");

  std::vector<double> step_s, hidden_fraction, comm_s, cpu_s;
  for (int64_t i = 0; i < o.warmup + o.steps; ++i) {
    if (o.distributed) distributed::barrier();  // ranks start each step together
    const auto t0 = std::chrono::steady_clock::now();
    const std::clock_t c0 = std::clock();
    if (step) {
      (*step)({x, y});
    } else {
      opt.zero_grad();
      if (reducer) reducer->prepare_for_backward();
      Tensor loss = cross_entropy((*net)(x), y);
      loss.backward();
      if (reducer) reducer->finish();
      opt.step();
    }
    const double s = examples::seconds_since(t0);
    const double c = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    if (i < o.warmup) continue;
    step_s.push_back(s);
    cpu_s.push_back(c);
    if (reducer && !step) {
      const auto timings = reducer->last_timings();
      const double compute_end = reducer->last_backward_seconds();
      double comm = 0, hidden = 0;
      for (const auto& t : timings) {
        comm += t.completed - t.started;
        hidden += std::max(0.0, std::min(t.completed, compute_end) - t.started);
      }
      if (comm > 0) hidden_fraction.push_back(hidden / comm);
      comm_s.push_back(comm);
    }
  }
  double median_s = examples::median(step_s);
  double slowest = median_s;
  if (o.distributed) {
    Tensor t = Tensor::from_vector(std::vector<double>{median_s}, {1}, float64);
    distributed::all_reduce(t, distributed::ReduceOp::max);
    slowest = t.to_vector<double>()[0];
  }
  const double ips = static_cast<double>(world * o.batch) / slowest;
  const double hidden = hidden_fraction.empty() ? -1 : examples::median(hidden_fraction);
  const double comm = comm_s.empty() ? -1 : examples::median(comm_s);
  const double cpu = examples::median(cpu_s);  // this process's CPU seconds per step
  if (rank != 0) return 0;
  if (o.json) {
    std::printf(
        "{\"model\": \"%s\", \"optimizer\": \"%s\", \"size\": %lld, \"mode\": \"%s\", "
        "\"world_size\": %d, "
        "\"batch_per_rank\": %lld, \"global_batch\": %lld, \"threads\": %lld, "
        "\"bucket_mb\": %g, \"buckets\": %zu, "
        "\"median_step_s\": %.4f, \"images_per_second\": %.3f, \"cpu_s_per_step\": %.4f, "
        "\"comm_s_per_step\": %s, \"hidden_comm_fraction\": %s}\n",
        o.model.c_str(), o.optimizer.c_str(), static_cast<long long>(o.size), o.mode.c_str(), world,
        static_cast<long long>(o.batch), static_cast<long long>(world * o.batch),
        static_cast<long long>(o.threads), o.bucket_mb,
        reducer ? reducer->buckets().size() : size_t{0}, slowest, ips, cpu,
        comm < 0 ? "null" : std::to_string(comm).c_str(),
        hidden < 0 ? "null" : std::to_string(hidden).c_str());
  } else {
    std::printf("%s %s %lldx%lld, %d rank(s) x %lld thread(s): %.3f s/step, %.2f images/s\n",
                o.model.c_str(), o.mode.c_str(), static_cast<long long>(o.batch),
                static_cast<long long>(o.size), world, static_cast<long long>(o.threads), slowest,
                ips);
    if (hidden >= 0) std::printf("communication hidden behind backward: %.0f%%\n", 100 * hidden);
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    examples::Cli cli(argc, argv, "ddp_scaling", kUsage);
    if (cli.help()) {
      std::cout << kUsage;
      return 0;
    }
    Options o;
    o.model = cli.get("--model", o.model);
    o.size = cli.get_int("--size", o.size, 1);
    o.batch = cli.get_int("--batch", o.batch, 1);
    o.mode = cli.get("--mode", o.mode);
    o.optimizer = cli.get("--optimizer", o.optimizer);
    o.steps = cli.get_int("--steps", o.steps, 1);
    o.warmup = cli.get_int("--warmup", o.warmup, 0);
    o.threads = cli.get_int("--threads", o.threads, 1);
    o.bucket_mb = cli.get_double("--bucket-mb", o.bucket_mb);
    o.overlap = !cli.flag("--no-overlap");
    o.grad_view = cli.flag("--grad-view");
    o.distributed = cli.flag("--distributed");
    o.json = cli.flag("--json");
    cli.finish();
    return run(o);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

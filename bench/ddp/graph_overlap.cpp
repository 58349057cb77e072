// graph_overlap: how much of the gradient all-reduce a compiled (graph-mode) data-parallel
// training step hides behind backward, measured from the profiler's trace.
//
//   mpirun --allow-run-as-root --oversubscribe -np 2 graph_overlap --batch 8 --size 128
//       [--bucket-mb 25] [--steps 5] [--warmup 2] [--threads 1] [--trace rank0_step.json]
//
// Each rank compiles a resnet18 training step (forward, cross-entropy, gradients,
// GradientReducer::all_reduce_gradients: per bucket an all_reduce_start / all_reduce_wait
// pair, SGD) twice: with the schedule_collectives pass (starts right after their bucket's last
// gradient, waits right before the first update) and without it (every start after the whole
// backward, so nothing overlaps). Per timed step, from the duet::profiler graph_node events:
//   exposed = the time the step spends inside all_reduce_wait nodes (blocked on the network),
//             per wait the smallest over the ranks (the last rank to arrive waits for the
//             transfer only; the others also for that rank's compute);
//   hidden  = 1 - exposed (scheduled) / exposed (unscheduled), clamped to [0, 1]: without the
//             pass every all-reduce runs while the step waits (nothing overlaps), so its
//             exposed time is the communication time in place (same buckets, same moment:
//             the variants alternate step by step); the share of it the schedule hid.
// Also printed: the buckets all-reduced alone (blocking, after a barrier), and hidden against
// that (1 - exposed / alone), which is noisier (measured at another moment).
// Also printed: where the first start runs (share of the step's time before it). Medians over
// --steps steps, after --warmup untimed steps; rank 0 prints, both ranks measure.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "distributed/process_group.h"
#include "duet/distributed.h"
#include "duet/distributed/ddp.h"
#include "duet/duet.h"
#include "duet/jit.h"
#include "duet/models/resnet.h"
#include "duet/optim.h"
#include "duet/profiler.h"
#include "duet/threads.h"

using namespace duet;

namespace {

struct Args {
  int64_t batch = 8, size = 128, steps = 5, warmup = 2, threads = 1;
  double bucket_mb = 25;
  std::string trace;  // --trace PATH: rank 0's Chrome trace of one scheduled step
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--batch") a.batch = std::atoll(v);
    else if (k == "--size") a.size = std::atoll(v);
    else if (k == "--steps") a.steps = std::atoll(v);
    else if (k == "--warmup") a.warmup = std::atoll(v);
    else if (k == "--threads") a.threads = std::atoll(v);
    else if (k == "--bucket-mb") a.bucket_mb = std::atof(v);
    else if (k == "--trace") a.trace = v;
    else {
      std::fprintf(stderr, "graph_overlap: unknown option %s\n", k.c_str());
      std::exit(2);
    }
  }
  return a;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct StepTimes {
  double step_s = 0, exposed_s = 0, first_start_share = 0;
  std::vector<double> waits_s;  // each all_reduce_wait node, in run order
};

// Runs `steps` profiled steps; per step: the run's time, the time in all_reduce_wait nodes,
// and the share of the run before the first all_reduce_start node.
std::vector<StepTimes> profiled_steps(JitFunction& step, const Tensor& x, const Tensor& y,
                                      int64_t steps) {
  std::vector<StepTimes> out;
  for (int64_t s = 0; s < steps; ++s) {
    distributed::barrier();
    profiler::Profile p({.record_shapes = false});
    step({x, y});
    p.stop();
    StepTimes t;
    int64_t run_start = 0, first_start = -1;
    for (const profiler::Event& e : p.events()) {
      if (e.kind == profiler::EventKind::graph_run) {
        t.step_s = e.duration_ns * 1e-9;
        run_start = e.start_ns;
      } else if (e.kind == profiler::EventKind::graph_node) {
        if (e.name == "all_reduce_wait") {
          t.exposed_s += e.duration_ns * 1e-9;
          t.waits_s.push_back(e.duration_ns * 1e-9);
        }
        if (e.name == "all_reduce_start" && first_start < 0) first_start = e.start_ns;
      }
    }
    if (first_start >= 0 && t.step_s > 0)
      t.first_start_share = (first_start - run_start) * 1e-9 / t.step_s;
    // A rank that reaches a wait before its peer also waits for the peer's compute (the other
    // processes on this machine slow the ranks unevenly): the rank that arrives last waits for
    // the communication only, so keep the smallest wait over the ranks.
    std::vector<double> w = t.waits_s;
    w.push_back(t.exposed_s);
    Tensor m = Tensor::from_vector(w, {static_cast<int64_t>(w.size())}, float64);
    distributed::all_reduce(m, distributed::ReduceOp::min);
    const std::vector<double> mins = m.to_vector<double>();
    t.waits_s.assign(mins.begin(), mins.end() - 1);
    t.exposed_s = 0;
    for (double x : t.waits_s) t.exposed_s += x;
    out.push_back(t);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  distributed::init();
  set_num_threads(static_cast<int>(a.threads));
  const bool main_rank = distributed::is_main_process();
  Generator gen(7);
  auto net = models::resnet18(10, gen);
  net->train();
  distributed::broadcast_module(*net);
  optim::SGD opt(net->parameters(), 0.01, 0.9);
  distributed::GradientReducer reducer(opt.params(), {.bucket_cap_mb = a.bucket_mb});
  auto make_step = [&](bool schedule) {
    CompileOptions o{.training = true};
    if (!schedule) o.disabled_passes = {"schedule_collectives"};
    return jit(
        [&](const std::vector<Tensor>& in) {
          Tensor loss = cross_entropy((*net)(in[0]), in[1]);
          std::vector<Tensor> grads = gradients(loss, opt.params());
          opt.apply_gradients(reducer.all_reduce_gradients(grads));
          return std::vector<Tensor>{loss};
        },
        o, schedule ? "step_scheduled" : "step_unscheduled");
  };
  JitFunction scheduled = make_step(true), unscheduled = make_step(false);
  Generator data(100 + distributed::rank());
  Tensor x = Tensor::randn({a.batch, 3, a.size, a.size}, data);
  std::vector<int64_t> labels(static_cast<size_t>(a.batch));
  for (int64_t i = 0; i < a.batch; ++i) labels[i] = (i * 3 + distributed::rank()) % 10;
  Tensor y = Tensor::from_vector(labels, {a.batch});
  for (int64_t w = 0; w < a.warmup; ++w) {
    scheduled({x, y});
    unscheduled({x, y});
  }

  // The buckets' all-reduces alone, blocking: the communication one step needs.
  std::vector<Tensor> bufs;
  for (const auto& b : reducer.buckets()) bufs.push_back(Tensor::zeros({b.numel}, b.dtype));
  std::vector<double> comm;
  auto& group = distributed::detail::ProcessGroup::get();
  for (int64_t r = 0; r < a.steps; ++r) {
    distributed::barrier();
    const auto t0 = std::chrono::steady_clock::now();
    for (Tensor& buf : bufs)
      group.all_reduce(buf.data_ptr(), buf.numel(), buf.dtype(), distributed::ReduceOp::avg,
                       "graph_overlap comm")
          ->wait();
    comm.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }

  // Alternate the two variants (and which goes first) so that both see the same load.
  std::vector<StepTimes> with, without;
  for (int64_t s = 0; s < a.steps; ++s) {
    for (int k = 0; k < 2; ++k) {
      const bool sched = (k == 0) == (s % 2 == 0);
      for (const StepTimes& t : profiled_steps(sched ? scheduled : unscheduled, x, y, 1))
        (sched ? with : without).push_back(t);
    }
  }
  if (!a.trace.empty()) {  // one more scheduled step, traced (both ranks run it)
    distributed::barrier();
    profiler::Profile p;
    scheduled({x, y});
    p.stop();
    if (main_rank) p.export_chrome_trace(a.trace);
  }
  auto field = [](const std::vector<StepTimes>& v, double StepTimes::*f) {
    std::vector<double> r;
    for (const StepTimes& t : v) r.push_back(t.*f);
    return median(r);
  };
  const double comm_s = median(comm);
  const double exp_with = field(with, &StepTimes::exposed_s);
  const double exp_without = field(without, &StepTimes::exposed_s);
  const double hidden = std::clamp(1.0 - exp_with / exp_without, 0.0, 1.0);
  const double hidden_alone = std::clamp(1.0 - exp_with / comm_s, 0.0, 1.0);
  if (main_rank) {
    int64_t numel = 0;
    for (const auto& b : reducer.buckets()) numel += b.numel;
    std::printf("graph_overlap: resnet18, %lld x 3 x %lld x %lld per rank, %d ranks, %lld "
                "thread(s) per rank, %zu buckets (%.1f MB), medians of %lld steps\n",
                static_cast<long long>(a.batch), static_cast<long long>(a.size),
                static_cast<long long>(a.size), distributed::world_size(),
                static_cast<long long>(a.threads), reducer.buckets().size(), numel * 4.0 / 1e6,
                static_cast<long long>(a.steps));
    std::printf("  communication alone (buckets all-reduced back to back): %.1f ms\n",
                comm_s * 1e3);
    std::printf("  scheduled:   step %.1f ms, blocked in all_reduce_wait %.1f ms, first start "
                "at %.0f%% of the step\n",
                field(with, &StepTimes::step_s) * 1e3, exp_with * 1e3,
                100 * field(with, &StepTimes::first_start_share));
    std::printf("  unscheduled: step %.1f ms, blocked in all_reduce_wait %.1f ms, first start "
                "at %.0f%% of the step\n",
                field(without, &StepTimes::step_s) * 1e3, exp_without * 1e3,
                100 * field(without, &StepTimes::first_start_share));
    // Per wait, the median over the steps; their sum is steadier than the median of the
    // per-step sums (a hiccup of the machine lands in a different wait each step).
    auto per_wait = [&](const std::vector<StepTimes>& v, double* total) {
      std::string r;
      *total = 0;
      for (size_t k = 0; !v.empty() && k < v[0].waits_s.size(); ++k) {
        std::vector<double> w;
        for (const StepTimes& t : v) w.push_back(k < t.waits_s.size() ? t.waits_s[k] : 0);
        *total += median(w);
        r += " " + std::to_string(static_cast<int>(median(w) * 1e3 + 0.5));
      }
      return r;
    };
    double sum_with = 0, sum_without = 0;
    const std::string pw = per_wait(with, &sum_with), pwo = per_wait(without, &sum_without);
    std::printf("  per wait (ms, median): scheduled%s (sum %.1f); unscheduled%s (sum %.1f)\n",
                pw.c_str(), sum_with * 1e3, pwo.c_str(), sum_without * 1e3);
    std::printf("  hidden: %.0f%% of the communication from the per-wait medians, %.0f%% from "
                "the per-step totals (against the buckets alone: %.0f%%)\n",
                100 * std::clamp(1.0 - sum_with / sum_without, 0.0, 1.0), 100 * hidden,
                100 * hidden_alone);
  }
  return 0;
}

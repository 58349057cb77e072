// eager_overlap: how much of DistributedDataParallel's gradient all-reduce an eager step hides
// behind backward, overlap on against off under the same machine load.
//
//   bash scripts/mpirun_test.sh 2 build/bench/eager_overlap --batch 8 --size 128 --bucket-mb 25
//
// Two GradientReducers share the model's parameters, one with DDPOptions::overlap and one
// without; steps alternate between them (only the armed one acts: prepare_for_backward arms
// the hooks for one backward), so both see the same load. Per step: forward, cross-entropy,
// backward (which returns with the averaged gradients), SGD. Reported on rank 0, medians over
// --steps steps of each kind after 2 untimed ones:
//   hidden   the part of the all-reduce time (a bucket's start to its completion, one
//            collective at a time) before the end of backward's compute, from
//            GradientReducer::last_timings() and last_backward_seconds()
//   left     time from the end of backward's compute to backward() returning (the waits and
//            the copies back): the communication the step still pays for
//   step     forward + backward, barrier to return
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "duet/distributed.h"
#include "duet/distributed/ddp.h"
#include "duet/duet.h"
#include "duet/models/zoo.h"
#include "duet/optim.h"
#include "duet/threads.h"

using namespace duet;

namespace {

struct Options {
  std::string model = "resnet18";
  int64_t batch = 8, size = 128, steps = 8, threads = 1;
  double bucket_mb = 25;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      DUET_CHECK(i + 1 < argc, "eager_overlap: ", a, " needs a value");
      return argv[++i];
    };
    if (a == "--model") {
      o.model = next();
    } else if (a == "--batch") {
      o.batch = std::atol(next().c_str());
    } else if (a == "--size") {
      o.size = std::atol(next().c_str());
    } else if (a == "--steps") {
      o.steps = std::atol(next().c_str());
    } else if (a == "--threads") {
      o.threads = std::atol(next().c_str());
    } else if (a == "--bucket-mb") {
      o.bucket_mb = std::atof(next().c_str());
    } else {
      DUET_CHECK(false, "eager_overlap: unknown option ", a,
                 " (expected --model, --batch, --size, --steps, --threads, --bucket-mb)");
    }
  }
  DUET_CHECK(o.batch > 0 && o.size > 0 && o.steps > 0 && o.threads > 0 && o.bucket_mb > 0,
             "eager_overlap: every number must be positive");
  return o;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    set_num_threads(static_cast<int>(o.threads));
    distributed::init();
    const int rank = distributed::rank();
    Generator gen(0);
    auto net = models::create_model(o.model, 1000, gen);
    distributed::broadcast_module(*net);
    distributed::GradientReducer on(net->parameters(),
                                    {.bucket_cap_mb = o.bucket_mb, .overlap = true});
    distributed::GradientReducer off(net->parameters(),
                                     {.bucket_cap_mb = o.bucket_mb, .overlap = false});
    optim::SGD opt(net->parameters(), 0.01, 0.9);
    Generator data(100 + static_cast<uint64_t>(rank));  // each rank its own shard
    Tensor x = Tensor::randn({o.batch, 3, o.size, o.size}, data);
    Tensor y = Tensor::zeros({o.batch}, int64);

    using Clock = std::chrono::steady_clock;
    std::vector<double> step_on, step_off, left_on, left_off, hidden;
    for (int64_t s = 0; s < 2 * o.steps + 2; ++s) {
      const bool use_on = s % 2 == 0;
      distributed::GradientReducer& r = use_on ? on : off;
      opt.zero_grad();
      distributed::barrier();
      const auto t0 = Clock::now();
      r.prepare_for_backward();
      cross_entropy((*net)(x), y).backward();
      const double step = std::chrono::duration<double>(Clock::now() - t0).count();
      opt.step();
      if (s < 2) continue;
      const double end = r.last_backward_seconds();
      (use_on ? step_on : step_off).push_back(step);
      (use_on ? left_on : left_off).push_back(step - end);
      if (!use_on) continue;
      double prev = 0, busy = 0, before_end = 0;
      for (const auto& b : r.last_timings()) {
        const double start = std::max(b.started, prev);  // one collective at a time
        busy += b.completed - start;
        before_end += std::max(0.0, std::min(b.completed, end) - start);
        prev = b.completed;
      }
      hidden.push_back(busy > 0 ? before_end / busy : 0.0);
    }
    if (rank == 0)
      std::printf(
          "%s batch %ld x 3 x %ld x %ld per rank, %d ranks, %zu buckets of <= %g MB, medians of "
          "%zu steps: overlap on: hidden %.0f%%, left %.1f ms, step %.3f s | off: left %.1f ms, "
          "step %.3f s\n",
          o.model.c_str(), static_cast<long>(o.batch), static_cast<long>(o.size),
          static_cast<long>(o.size), distributed::world_size(), on.buckets().size(), o.bucket_mb,
          step_on.size(), 100 * median(hidden), 1e3 * median(left_on), median(step_on),
          1e3 * median(left_off), median(step_off));
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "eager_overlap: %s\n", e.what());
    return 1;
  }
}

// All-reduce cost on N ranks (docs/distributed.md, "The communication thread"): the time of an
// all_reduce of resnet18's gradients (47 MB of float32) and the CPU the process uses meanwhile,
// then the CPU the communication thread uses while it waits for a late peer.
//
//   bash scripts/mpirun_test.sh 2 build/bench/bench_allreduce [MB] [REPEATS]
//   DUET_DIST_POLL_US=200 bash scripts/mpirun_test.sh 2 build/bench/bench_allreduce
//
// Prints, on rank 0: the median (and min, max) of REPEATS timed all-reduces after one warm-up,
// the process CPU time per wall time during them (the main thread blocks in Work::wait(), so
// this is the communication thread and MPI), and the same ratio while rank 1 sleeps 2 s before
// joining (the cost of waiting).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "duet/distributed.h"
#include "duet/tensor.h"

namespace dist = duet::distributed;

namespace {

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  const double mb = argc > 1 ? std::atof(argv[1]) : 46.76;  // resnet18: 11.69M parameters
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 10;
  dist::init();
  const int r = dist::rank(), n = dist::world_size();
  const auto count = static_cast<int64_t>(mb * 1e6 / 4);
  duet::Tensor t = duet::Tensor::full({count}, 1.0);

  dist::all_reduce(t);  // warm-up (MPI connects, pages fault in)
  std::vector<double> times;
  double cpu = 0, wall = 0;
  for (int i = 0; i < repeats; ++i) {
    dist::barrier();
    const double c0 = cpu_seconds(), w0 = now_seconds();
    dist::all_reduce(t, dist::ReduceOp::avg);
    const double w1 = now_seconds(), c1 = cpu_seconds();
    times.push_back(w1 - w0);
    cpu += c1 - c0;
    wall += w1 - w0;
  }
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];

  // Waiting for a late peer: rank 1 joins 2 s late.
  dist::barrier();
  duet::Tensor small = duet::Tensor::full({1024}, 1.0);
  double wait_cpu = 0, wait_wall = 0;
  if (r == 1) std::this_thread::sleep_for(std::chrono::seconds(2));
  {
    const double c0 = cpu_seconds(), w0 = now_seconds();
    dist::all_reduce(small);
    wait_wall = now_seconds() - w0;
    wait_cpu = cpu_seconds() - c0;
  }
  const char* poll = std::getenv("DUET_DIST_POLL_US");
  if (r == 0)
    std::printf(
        "all_reduce %.2f MB float32 on %d ranks (poll %s us): median %.1f ms (min %.1f, max "
        "%.1f) over %d, %.2f GB/s algorithm bandwidth; CPU during it %.0f%% of one core; "
        "waiting %.2f s for a late peer: CPU %.2f%% of one core\n",
        static_cast<double>(count) * 4 / 1e6, n, poll ? poll : "500 (default)", median * 1e3,
        times.front() * 1e3, times.back() * 1e3, repeats,
        static_cast<double>(count) * 4 / median / 1e9, 100.0 * cpu / wall, wait_wall,
        100.0 * wait_cpu / wait_wall);
  return 0;
}

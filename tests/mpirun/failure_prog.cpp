// A 2-rank program that fails on purpose, for tests/mpirun/failures.cmake:
//   failure_prog timeout : rank 1 never calls the all_reduce rank 0 waits in (it sleeps past
//                          the timeout, then exits 0); rank 0 gets the timeout error and
//                          exits 1 printing it.
//   failure_prog throw   : rank 1 throws (uncaught) before the collective; rank 0 waits in it.
//   failure_prog exit    : rank 1 exits with status 1 before the collective.
//   failure_prog noinit  : rank 1 never calls init(); rank 0's init() times out with an error.
//   failure_prog broken  : as timeout, then rank 0 calls again: the group is broken and the
//                          second call fails at once, naming the first error.
// Every mode must end the job with a nonzero status, never hang.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "duet/distributed.h"
#include "duet/error.h"
#include "duet/tensor.h"

namespace dist = duet::distributed;

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "noinit") {
    const char* env_rank = std::getenv("OMPI_COMM_WORLD_RANK");
    if (env_rank && std::string(env_rank) == "1") {
      std::this_thread::sleep_for(std::chrono::seconds(20));
      return 0;
    }
    try {
      dist::init();
    } catch (const duet::Error& e) {
      std::fprintf(stderr, "rank 0 caught: %s\n", e.what());
    }
    return 1;
  }
  dist::init();  // timeout: $DUET_DIST_TIMEOUT
  const int r = dist::rank();
  duet::Tensor t = duet::Tensor::full({1000}, 1.0);
  if (r == 1) {
    if (mode == "throw") throw duet::Error("rank 1 fails on purpose before all_reduce");
    if (mode == "exit") {
      std::fprintf(stderr, "rank 1 exits with status 1 on purpose before all_reduce\n");
      std::exit(1);
    }
    // timeout, broken: never join rank 0's collective.
    std::this_thread::sleep_for(std::chrono::seconds(20));
    return 0;
  }
  try {
    dist::all_reduce(t);
    std::fprintf(stderr, "rank 0: all_reduce returned (unexpected)\n");
    return 0;
  } catch (const duet::Error& e) {
    std::fprintf(stderr, "rank 0 caught: %s\n", e.what());
  }
  if (mode == "broken") {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      dist::barrier();
    } catch (const duet::Error& e) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "rank 0 caught again%s: %s\n", s < 1.0 ? " at once" : " (slowly)",
                   e.what());
    }
  }
  return 1;
}

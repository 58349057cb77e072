// A 2-rank program for tests/mpirun/graph_failure.cmake: a compiled data-parallel step
// (all_reduce_start / all_reduce_wait nodes) whose peer stops taking part.
//   graph_failure_prog timeout : both ranks run one step; rank 1 then sleeps past the timeout
//                                instead of running the second; rank 0's second step fails in
//                                its all_reduce_wait node with the timeout error, which it
//                                prints ("rank 0 caught: ...") before exiting 1.
// The job must end with a nonzero status and that message, never hang.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "distributed/graph_step.h"
#include "duet/distributed.h"

using namespace duet;

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  distributed::init();  // timeout: $DUET_DIST_TIMEOUT
  auto net = test::graph_step_net(5);
  optim::SGD opt(net->parameters(), 0.1);
  distributed::GradientReducer reducer(opt.params(), {.bucket_cap_mb = 0.001});
  JitFunction step = test::graph_train_step(
      *net, opt, [&](const std::vector<Tensor>& g) { return reducer.all_reduce_gradients(g); },
      false);
  auto [x, y] = test::graph_step_batch(0, 4);
  step({x, y});
  if (mode == "timeout" && distributed::rank() == 1) {
    std::this_thread::sleep_for(std::chrono::seconds(20));
    return 0;
  }
  try {
    step({x, y});
  } catch (const Error& e) {
    std::fprintf(stderr, "rank %d caught: %s\n", distributed::rank(), e.what());
    return 1;
  }
  std::fprintf(stderr, "rank %d: the second step completed\n", distributed::rank());
  return 0;
}

// A 2-rank DistributedDataParallel program that fails on purpose, for
// tests/mpirun/failures_ddp.cmake:
//   ddp_failure_prog backward_throws : one good step, then rank 1's backward throws (a saved
//       tensor was overwritten) before any gradient is ready, so rank 1 starts no bucket;
//       rank 0's backward, waiting for bucket 0, throws the timeout error naming the bucket.
//       Rank 1 sleeps past the timeout and exits 0; rank 0 exits 1 printing its error.
// The job must end with a nonzero status, never hang.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "duet/distributed.h"
#include "duet/distributed/ddp.h"
#include "duet/duet.h"
#include "duet/nn.h"

using namespace duet;
namespace dist = duet::distributed;

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "backward_throws") {
    std::fprintf(stderr, "usage: ddp_failure_prog backward_throws\n");
    return 2;
  }
  dist::init();  // timeout: $DUET_DIST_TIMEOUT
  const int r = dist::rank();
  Generator g(1);
  auto net = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(4, 8, true, g), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(8, 2, true, g)});
  dist::DistributedDataParallel ddp(net, {.bucket_cap_mb = 1e-4});
  Tensor x = Tensor::randn({3, 4}, g);
  sum(exp(ddp(x))).backward();  // a good step
  std::fprintf(stderr, "rank %d: step 1 done\n", r);
  Tensor e = exp(ddp(x));
  Tensor loss = sum(e);
  if (r == 1) e.fill_(1.0);  // exp saved its output: backward fails before any parameter
  try {
    loss.backward();
    std::fprintf(stderr, "rank %d: step 2 done (unexpected)\n", r);
    return 0;
  } catch (const Error& err) {
    std::fprintf(stderr, "rank %d caught: %s\n", r, err.what());
  }
  if (r == 1) {
    std::this_thread::sleep_for(std::chrono::seconds(8));  // past rank 0's timeout
    return 0;
  }
  return 1;
}

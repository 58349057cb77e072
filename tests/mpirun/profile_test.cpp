// The communication in a profile, on 2 ranks (mpirun -np 2): each bucket's all-reduce is a
// range on the communication thread's lane of the trace ("DistributedDataParallel: all_reduce
// of gradient bucket N (float32, 512 elements)"),
// beside the backward ops of the thread that runs backward, and the Chrome trace carries it.
#include <set>
#include <string>

#include "duet/distributed.h"
#include "duet/distributed/ddp.h"
#include "duet/nn.h"
#include "duet/profiler.h"
#include "test_util.h"

using namespace duet;

namespace {

TEST(ProfileDistributed, AllReduceRangesOnTheCommunicationThread) {
  if (!distributed::is_initialized()) distributed::init({.timeout = std::chrono::seconds(60)});
  ASSERT_EQ(distributed::world_size(), 2);
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Linear>(16, 32));
  net->push_back(std::make_shared<nn::ReLU>());
  net->push_back(std::make_shared<nn::Linear>(32, 4));
  // A tiny cap: one bucket per parameter (4 buckets).
  distributed::DistributedDataParallel ddp(net, {.bucket_cap_mb = 1e-6});
  const size_t buckets = ddp.reducer().buckets().size();
  ASSERT_EQ(buckets, 4u);
  Generator g(7 + distributed::rank());
  Tensor x = Tensor::randn({8, 16}, g);
  Tensor y = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 3, 0, 1, 2, 3}, {8});
  cross_entropy(ddp(x), y).backward();  // warm-up: no profile

  profiler::Profile prof;
  cross_entropy(ddp(x), y).backward();
  prof.stop();

  const uint64_t main_thread = profiler::thread_id();
  std::set<uint64_t> comm_threads;
  std::set<std::string> bucket_names;
  int64_t backward_events = 0;
  for (const profiler::Event& e : prof.events()) {
    if (e.kind == profiler::EventKind::backward) {
      EXPECT_EQ(e.thread, main_thread);
      ++backward_events;
    }
    const std::string prefix = "DistributedDataParallel: all_reduce of gradient bucket ";
    if (e.kind == profiler::EventKind::range && e.name.rfind(prefix, 0) == 0) {
      comm_threads.insert(e.thread);
      bucket_names.insert(e.name.substr(0, e.name.find(' ', prefix.size())));
      EXPECT_GT(e.duration_ns, 0) << e.name;
    }
  }
  EXPECT_GT(backward_events, 0);
  // Every bucket's all-reduce, all on one thread that is not the one running backward.
  EXPECT_EQ(bucket_names.size(), buckets);
  ASSERT_EQ(comm_threads.size(), 1u);
  EXPECT_NE(*comm_threads.begin(), main_thread);
  EXPECT_NE(prof.chrome_trace().find("all_reduce of gradient bucket 0"), std::string::npos);
}

}  // namespace

// shutdown() on 2 ranks (mpirun -np 2): it waits for the collectives still queued, then
// finalizes MPI; afterwards the group is gone (collectives say "not initialized") and MPI
// cannot start again in this process. One test per program: MPI starts once per process.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "duet/distributed.h"
#include "duet/error.h"
#include "duet/tensor.h"

namespace dist = duet::distributed;
using duet::Tensor;

namespace {

TEST(Shutdown, WaitsForQueuedCollectivesThenEndsTheGroup) {
  dist::init();
  const int r = dist::rank(), n = dist::world_size();
  ASSERT_GE(n, 2);
  std::vector<Tensor> ts;
  std::vector<std::shared_ptr<dist::Work>> works;
  for (int j = 0; j < 6; ++j) {
    ts.push_back(Tensor::full({300000}, double(r + 1 + j)));  // 1.2 MB: the large-buffer path
    works.push_back(dist::all_reduce_async(ts.back()));
  }
  dist::shutdown();  // no wait() before: shutdown finishes them
  EXPECT_FALSE(dist::is_initialized());
  EXPECT_EQ(dist::rank(), 0);
  EXPECT_EQ(dist::world_size(), 1);
  for (int j = 0; j < 6; ++j) {
    ASSERT_TRUE(works[static_cast<size_t>(j)]->completed()) << "work " << j;
    works[static_cast<size_t>(j)]->wait();  // no error
    float want = 0;
    for (int k = 0; k < n; ++k) want += static_cast<float>(k + 1 + j);
    const auto v = ts[static_cast<size_t>(j)].to_vector<float>();
    EXPECT_EQ(v.front(), want) << "work " << j;
    EXPECT_EQ(v.back(), want) << "work " << j;
  }
  Tensor t = Tensor::zeros({2});
  try {
    dist::all_reduce(t);
    FAIL() << "no error after shutdown";
  } catch (const duet::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not initialized"), std::string::npos) << e.what();
  }
  try {
    dist::init();
    FAIL() << "MPI started twice";
  } catch (const duet::Error& e) {
    EXPECT_NE(std::string(e.what()).find("MPI was finalized by an earlier shutdown()"),
              std::string::npos)
        << e.what();
  }
  dist::shutdown();  // nothing left: does nothing
}

}  // namespace

// The Gloo plugin in one process: the environment errors, the rendezvous store's timeouts and
// its treatment of hostile connections, and a world of one rank. The plugin is opened
// directly (dlopen of libduet_gloo.so beside libduet) and driven through comm_backend.h;
// two-process runs are tests/mpirun/gloo/.
#include <arpa/inet.h>
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "distributed/comm_backend.h"
#include "distributed/gloo/reduce_fns.h"
#include "duet/distributed.h"
#include "duet/error.h"
#include "distributed_test_util.h"

namespace {

using duet::distributed::detail::CommBackend;
using duet::distributed::detail::CommBackendCreateFn;
using duet::distributed::detail::CommInit;

const char* kVars[] = {"RANK",        "WORLD_SIZE", "MASTER_ADDR",
                       "MASTER_PORT", "LOCAL_RANK", "GLOO_SOCKET_IFNAME"};

using duet::test::free_port;

class GlooPlugin : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = std::string(DUET_BINARY_DIR) + "/libduet_gloo.so";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "libduet_gloo.so is not built";
    handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(handle_, nullptr) << dlerror();
    create_ = reinterpret_cast<CommBackendCreateFn>(
        dlsym(handle_, duet::distributed::detail::kCommBackendEntry));
    ASSERT_NE(create_, nullptr);
    for (const char* v : kVars) {
      if (const char* s = std::getenv(v)) saved_.emplace_back(v, s);
      unsetenv(v);
    }
  }
  void TearDown() override {
    for (const char* v : kVars) unsetenv(v);
    for (const auto& [k, v] : saved_) setenv(k.c_str(), v.c_str(), 1);
  }
  std::unique_ptr<CommBackend> create(std::chrono::milliseconds timeout) {
    CommInit init;
    init.backend = duet::distributed::Backend::gloo;
    init.timeout = timeout;
    return std::unique_ptr<CommBackend>(create_(init));
  }
  // The duet::Error create() throws (fails the test when it does not).
  std::string create_error(std::chrono::milliseconds timeout) {
    try {
      create(timeout);
    } catch (const duet::Error& e) {
      return e.what();
    }
    ADD_FAILURE() << "expected a duet::Error";
    return "";
  }
  void world(int rank, int size, int port) {
    setenv("RANK", std::to_string(rank).c_str(), 1);
    setenv("WORLD_SIZE", std::to_string(size).c_str(), 1);
    setenv("MASTER_ADDR", "127.0.0.1", 1);
    setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
  }

  void* handle_ = nullptr;  // never closed: the plugin links libduet's types
  CommBackendCreateFn create_ = nullptr;
  std::vector<std::pair<std::string, std::string>> saved_;
};

TEST_F(GlooPlugin, MissingVariablesAreNamed) {
  const std::string msg = create_error(std::chrono::seconds(1));
  EXPECT_NE(msg.find("not set: RANK WORLD_SIZE MASTER_ADDR MASTER_PORT"), std::string::npos) << msg;
  setenv("RANK", "0", 1);
  setenv("MASTER_ADDR", "127.0.0.1", 1);
  const std::string msg2 = create_error(std::chrono::seconds(1));
  EXPECT_NE(msg2.find("not set: WORLD_SIZE MASTER_PORT"), std::string::npos) << msg2;
}

TEST_F(GlooPlugin, InvalidValuesAreNamed) {
  world(2, 2, 1);
  setenv("MASTER_PORT", "70000", 1);
  const std::string msg = create_error(std::chrono::seconds(1));
  EXPECT_NE(msg.find("MASTER_PORT=\"70000\" (expected an integer in 1..65535)"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("RANK=2 (expected 0..WORLD_SIZE-1 = 0..1)"), std::string::npos) << msg;
  setenv("RANK", "one", 1);
  setenv("MASTER_PORT", "29500", 1);
  const std::string msg2 = create_error(std::chrono::seconds(1));
  EXPECT_NE(msg2.find("RANK=\"one\""), std::string::npos) << msg2;
}

TEST_F(GlooPlugin, InitWithoutTheEnvironmentNamesTheVariables) {
  // The same error through the public API (the process group loads the plugin).
  try {
    duet::distributed::init(duet::distributed::Backend::gloo);
    duet::distributed::shutdown();
    FAIL() << "expected a duet::Error";
  } catch (const duet::Error& e) {
    EXPECT_NE(std::string(e.what()).find("MASTER_ADDR"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(duet::distributed::is_initialized());
}

TEST_F(GlooPlugin, APeerThatNeverConnectsIsATimeoutError) {
  world(0, 2, free_port());
  const std::string msg = create_error(std::chrono::milliseconds(800));
  EXPECT_NE(msg.find("waited 0.8 s for rank 1 to register its address"), std::string::npos) << msg;
  EXPECT_NE(msg.find("WORLD_SIZE=2"), std::string::npos) << msg;
}

TEST_F(GlooPlugin, NoRankZeroIsATimeoutError) {
  world(1, 2, free_port());
  const std::string msg = create_error(std::chrono::milliseconds(800));
  EXPECT_NE(msg.find("could not reach rank 0's store at 127.0.0.1:"), std::string::npos) << msg;
}

TEST_F(GlooPlugin, AnAddressOfAnotherHostCannotBeServed) {
  world(0, 2, free_port());
  setenv("MASTER_ADDR", "192.0.2.1", 1);  // TEST-NET-1: never this host's
  const std::string msg = create_error(std::chrono::milliseconds(800));
  EXPECT_TRUE(msg.find("rank 0 cannot listen on 192.0.2.1:") != std::string::npos ||
              msg.find("no local interface reaches") != std::string::npos)
      << msg;
}

// Connects to the store at 127.0.0.1:port (retrying while rank 0 starts), sends `bytes` and
// says whether the server then closed the connection (rather than waiting for more).
bool server_hangs_up_after(int port, const std::string& bytes) {
  int fd = -1;
  for (int attempt = 0; attempt < 200 && fd < 0; ++attempt) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      ::close(fd);
      fd = -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  if (fd < 0) return false;
  ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  timeval tv{2, 0};  // well before rank 0's own timeout (5 s), which also closes them
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char c;
  ssize_t r = ::recv(fd, &c, 1, 0);
  const int err = errno;
  ::close(fd);
  // A close with our unread bytes still queued resets the connection instead of ending it.
  return r == 0 || (r < 0 && err == ECONNRESET);
}

TEST_F(GlooPlugin, TheStoreHangsUpOnHostileConnections) {
  const int port = free_port();
  world(0, 2, port);
  auto rank0 =
      std::async(std::launch::async, [&] { return create_error(std::chrono::seconds(5)); });
  const std::string hello = "DUETKV01";
  EXPECT_TRUE(server_hangs_up_after(port, "GET / HTTP/1.0\r\n\r\n"));  // not the hello
  // A key length of 4 GiB: refused before anything is allocated.
  EXPECT_TRUE(server_hangs_up_after(port, hello + "S" + std::string("\xff\xff\xff\xff", 4)));
  // A value of 2 GiB.
  EXPECT_TRUE(server_hangs_up_after(port, hello + "S" + std::string("\x01\x00\x00\x00", 4) + "k" +
                                              std::string("\x00\x00\x00\x80", 4)));
  EXPECT_TRUE(server_hangs_up_after(port, hello + "X"));  // an unknown request
  // Rank 1 never came: rank 0 still ends with the timeout error, not a crash or a hang.
  const std::string msg = rank0.get();
  EXPECT_NE(msg.find("for rank 1 to register its address"), std::string::npos) << msg;
}

TEST_F(GlooPlugin, AWorldOfOneRank) {
  world(0, 1, free_port());
  auto b = create(std::chrono::seconds(10));
  EXPECT_EQ(b->rank(), 0);
  EXPECT_EQ(b->world_size(), 1);
  EXPECT_EQ(b->local_rank(), 0);  // from the host names: nobody below rank 0
  EXPECT_STREQ(b->name(), "gloo");
  float x[3] = {1, -2, 3.5f};
  EXPECT_TRUE(b->start_all_reduce(x, 3, duet::float32, duet::distributed::ReduceOp::sum)->test());
  EXPECT_EQ(x[1], -2);
  int64_t y[2] = {4, 5}, z[2] = {0, 0};
  b->start_all_gather(y, z, 2, duet::int64)->test();
  EXPECT_EQ(z[0], 4);
  EXPECT_EQ(z[1], 5);
  z[0] = z[1] = 0;
  b->start_reduce_scatter(y, z, 2, duet::int64, duet::distributed::ReduceOp::max)->test();
  EXPECT_EQ(z[1], 5);
  b->start_broadcast(x, 3, duet::float32, 0)->test();
  EXPECT_TRUE(b->start_barrier()->test());
  try {
    b->start_broadcast(x, 3, duet::float32, 1);
    FAIL() << "expected a duet::Error";
  } catch (const duet::Error& e) {
    EXPECT_NE(std::string(e.what()).find("broadcast from root 1"), std::string::npos) << e.what();
  }
}

// The element-wise reductions Gloo's allreduce calls, for every dtype (two ranks can only
// exercise those a tensor can hold; float16 and bfloat16 are tested here alone).
TEST(GlooReduceFns, EveryDtypeAndOp) {
  using duet::distributed::ReduceOp;
  using duet::distributed::gloo_engine::reduce_fn;
  float f[3];
  const float fa[3] = {1.5f, -2, 0}, fb[3] = {0.25f, -3, -0.f};
  reduce_fn(duet::float32, ReduceOp::sum)(f, fa, fb, 3);
  EXPECT_EQ(f[0], 1.75f);
  EXPECT_EQ(f[1], -5);
  reduce_fn(duet::float32, ReduceOp::min)(f, fa, fb, 3);
  EXPECT_EQ(f[1], -3);
  reduce_fn(duet::float32, ReduceOp::max)(f, fa, fb, 3);
  EXPECT_EQ(f[0], 1.5f);
  int64_t i[2];
  const int64_t ia[2] = {int64_t{1} << 62, -1}, ib[2] = {1, 5};
  reduce_fn(duet::int64, ReduceOp::sum)(i, ia, ib, 2);
  EXPECT_EQ(i[0], (int64_t{1} << 62) + 1);
  EXPECT_EQ(i[1], 4);
  // bool: sum and max are or, min is and.
  uint8_t b[4];
  const uint8_t ba[4] = {0, 0, 1, 1}, bb[4] = {0, 1, 0, 1};
  reduce_fn(duet::bool_, ReduceOp::sum)(b, ba, bb, 4);
  EXPECT_EQ(std::vector<int>(b, b + 4), (std::vector<int>{0, 1, 1, 1}));
  reduce_fn(duet::bool_, ReduceOp::min)(b, ba, bb, 4);
  EXPECT_EQ(std::vector<int>(b, b + 4), (std::vector<int>{0, 0, 0, 1}));
  // float16 (IEEE half): 1.5 + 0.25 = 1.75 exactly; 2048 + 1 rounds to 2048 (11-bit mantissa).
  _Float16 h[2];
  const _Float16 ha[2] = {static_cast<_Float16>(1.5f), static_cast<_Float16>(2048.f)};
  const _Float16 hb[2] = {static_cast<_Float16>(0.25f), static_cast<_Float16>(1.f)};
  reduce_fn(duet::DType::float16, ReduceOp::sum)(h, ha, hb, 2);
  EXPECT_EQ(static_cast<float>(h[0]), 1.75f);
  EXPECT_EQ(static_cast<float>(h[1]), 2048.f);
  // bfloat16 bits: 1.0 = 0x3f80, 2^-8 = 0x3b80; 1 + 2^-8 is a tie between 1 and 1 + 2^-7
  // and rounds to even (1.0); 1 + 3 * 2^-8 is the tie between 1 + 2^-7 and 1 + 2^-6, and
  // rounds to the even one (0x3f82).
  uint16_t bf[2];
  const uint16_t bfa[2] = {0x3f80, 0x3f80}, bfb[2] = {0x3b80, 0x3c40};
  reduce_fn(duet::DType::bfloat16, ReduceOp::sum)(bf, bfa, bfb, 2);
  EXPECT_EQ(bf[0], 0x3f80);
  EXPECT_EQ(bf[1], 0x3f82);
  reduce_fn(duet::DType::bfloat16, ReduceOp::max)(bf, bfa, bfb, 2);
  EXPECT_EQ(bf[0], 0x3f80);
  EXPECT_THROW(reduce_fn(duet::float32, ReduceOp::avg), duet::Error);
  EXPECT_THROW(reduce_fn(duet::bool_, ReduceOp::avg), duet::Error);
}

}  // namespace

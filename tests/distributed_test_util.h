// Helpers of the single-process distributed tests (tests/distributed/, tests/cuda/nccl_test).
//
// A process group can start once per process (MPI cannot be re-initialized), so tests that
// call init() run their body in a child process (a gtest death test re-running this binary):
//
//   TEST(ProcessGroup, WorldOfOne) {
//     IN_CHILD({
//       duet::distributed::init();
//       require(duet::distributed::world_size() == 1, "world size");
//       require_error([] { duet::distributed::init(); }, "already initialized");
//     });
//   }
//
// gtest assertions do not reach the parent from a child, so the child checks with require*,
// which print and exit 1 on failure.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "duet/error.h"

namespace duet::test {

inline void require(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "child check failed: %s\n", what.c_str());
    std::fflush(stderr);
    std::_Exit(1);
  }
}

// `call` must throw duet::Error containing `want`.
template <class F>
void require_error(F&& call, const std::string& want) {
  try {
    call();
  } catch (const ::duet::Error& e) {
    require(std::string(e.what()).find(want) != std::string::npos,
            "error \"" + std::string(e.what()) + "\" lacks \"" + want + "\"");
    return;
  }
  require(false, "no error; expected one with \"" + want + "\"");
}

// A TCP port on 127.0.0.1 that was free a moment ago (for MASTER_PORT).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

}  // namespace duet::test

// Runs the statements in a fresh process (a re-run of this binary); it must exit 0 ("child ok").
#define IN_CHILD(...)                               \
  do {                                              \
    GTEST_FLAG_SET(death_test_style, "threadsafe"); \
    EXPECT_EXIT(                                    \
        {                                           \
          __VA_ARGS__;                              \
          std::fprintf(stderr, "child ok\n");       \
          std::exit(0);                             \
        },                                          \
        ::testing::ExitedWithCode(0), "child ok");  \
  } while (0)

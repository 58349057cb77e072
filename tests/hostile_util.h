// Hostile-input checks for the loader tests: a load must end in duet::Error, with a short
// message naming what was wrong, without allocating much more than the file holds.
//
//   EXPECT_HOSTILE_ERROR(io::load_safetensors(path), "deep.safetensors", "nests more than 3");
//
// The load runs in a forked child whose address space may grow by at most `kHostileExtraBytes`
// (RLIMIT_AS): a loader that sizes an allocation by a header's claim gets std::bad_alloc or is
// killed there, and the test fails naming what happened. A 20 s alarm() guards against hangs
// (a guard, not a timing assertion). The child reports its message through a pipe; the
// parent checks it (so failures show up as ordinary gtest failures).
#pragma once

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <new>
#include <string>
#include <vector>

#include "duet/error.h"

namespace duet::test {

constexpr size_t kHostileExtraBytes = size_t{256} << 20;  // file size + this is the bound
constexpr size_t kMaxMessageChars = 2000;

// Virtual memory of this process now, in bytes (/proc/self/statm, first field in pages).
inline size_t virtual_bytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0;
  statm >> pages;
  return pages * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

struct HostileResult {
  int status = 0;       // 0: duet::Error; 1: no error; 2: bad_alloc; 3: other exception
  std::string message;  // e.what() or a description
};

// Runs `load` in a child limited to its current address space + `extra` bytes.
inline HostileResult run_hostile(const std::function<void()>& load,
                                 size_t extra = kHostileExtraBytes) {
  int fds[2];
  if (pipe(fds) != 0) return {4, "pipe failed"};
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return {4, "fork failed"};
  if (pid == 0) {
    close(fds[0]);
    const rlim_t limit = virtual_bytes() + extra;
    const rlimit rl{limit, limit};
    setrlimit(RLIMIT_AS, &rl);
    alarm(20);
    int code = 0;
    std::string msg;
    try {
      load();
      code = 1;
      msg = "no error";
    } catch (const ::duet::Error& e) {
      msg = e.what();
    } catch (const std::bad_alloc& e) {
      code = 2;
      msg = std::string("std::bad_alloc: ") + e.what();
    } catch (const std::exception& e) {
      code = 3;
      msg = std::string("other exception: ") + e.what();
    }
    const char* p = msg.data();
    size_t left = msg.size();
    while (left > 0) {
      const ssize_t w = write(fds[1], p, left);
      if (w <= 0) break;
      p += w;
      left -= static_cast<size_t>(w);
    }
    close(fds[1]);
    _exit(code);
  }
  close(fds[1]);
  HostileResult r;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) r.message.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  if (WIFEXITED(st)) {
    r.status = WEXITSTATUS(st);
  } else {
    r.status = 5;
    r.message = "killed by signal " + std::to_string(WTERMSIG(st)) + " " + r.message;
  }
  return r;
}

inline void expect_hostile_error(const std::function<void()>& load, const char* stmt,
                                 const std::vector<std::string>& parts) {
  const HostileResult r = run_hostile(load);
  EXPECT_EQ(r.status, 0) << stmt << ": expected duet::Error, got: " << r.message.substr(0, 3000);
  if (r.status != 0) return;
  EXPECT_LT(r.message.size(), kMaxMessageChars) << stmt << ": " << r.message.substr(0, 3000);
  for (const std::string& part : parts)
    EXPECT_NE(r.message.find(part), std::string::npos)
        << stmt << "\nmessage: " << r.message.substr(0, 3000) << "\nmissing: " << part;
}

}  // namespace duet::test

#define EXPECT_HOSTILE_ERROR(stmt, ...) \
  ::duet::test::expect_hostile_error([&] { (void)(stmt); }, #stmt, {__VA_ARGS__})

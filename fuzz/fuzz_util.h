// Shared by the libFuzzer targets in fuzz/: an in-memory file with a path, the entry-point
// name, and the one rule every target enforces (a result or a duet::Error, nothing else).
//
//   extern "C" int DUET_FUZZ_ENTRY(const uint8_t* data, size_t size) {
//     static duet::fuzz::MemFile file;
//     file.write(data, size);                        // "/proc/self/fd/N" now holds the bytes
//     duet::fuzz::expect_result_or_error("load_safetensors", [&] { ... file.path() ... });
//     return 0;
//   }
//
// In the fuzz build DUET_FUZZ_ENTRY is LLVMFuzzerTestOneInput; the replay test
// (tests/fuzz/) compiles each target with its own name so one binary holds them all.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "duet/error.h"
#include "duet/memory.h"
#include "duet/threads.h"

#ifndef DUET_FUZZ_ENTRY
#define DUET_FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

namespace duet::fuzz {

// A memfd (no disk, no cleanup) rewritten for every input; its path opens a fresh file
// description each time, so std::ifstream and zlib's gzopen read it from the start.
class MemFile {
 public:
  MemFile() {
    fd_ = memfd_create("duet_fuzz", 0);
    if (fd_ < 0) fail("memfd_create failed");
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  void write(const void* data, size_t size) {
    if (ftruncate(fd_, 0) != 0) fail("ftruncate failed");
    const auto* p = static_cast<const char*>(data);
    size_t done = 0;
    while (done < size) {
      const ssize_t n = pwrite(fd_, p + done, size - done, static_cast<off_t>(done));
      if (n <= 0) fail("pwrite failed");
      done += static_cast<size_t>(n);
    }
  }
  const std::string& path() const { return path_; }

 private:
  [[noreturn]] static void fail(const char* what) {
    std::fprintf(stderr, "fuzz harness: %s\n", what);
    std::abort();
  }
  int fd_ = -1;
  std::string path_;
};

// The loader targets' file, made once per process: one kernel thread and a 256 MB memory limit,
// so a file's claim can never turn into a real multi-GB allocation.
inline MemFile& loader_file() {
  static MemFile* file = [] {
    duet::set_num_threads(1);
    duet::set_memory_limit(duet::cpu, 256 << 20);
    return new MemFile();
  }();
  return *file;
}

// A harness check that failed: the input found a bug (libFuzzer saves it as a crash).
[[noreturn]] inline void bug(const char* what, const std::string& detail) {
  std::fprintf(stderr, "FUZZ BUG: %s: %.2000s\n", what, detail.c_str());
  std::abort();
}
#define DUET_FUZZ_EXPECT(cond, what, detail)  \
  do {                                        \
    if (!(cond)) ::duet::fuzz::bug(what, detail); \
  } while (0)

// Runs fn: returning is fine; a duet::Error is fine unless it is an internal error (a failed
// DUET_ASSERT, a bug by its own account) or its message exceeds 2,000 characters; any other
// exception aborts. DUET_FUZZ_VERBOSE=1 prints the errors (to check what a corpus reaches).
template <class Fn>
bool expect_result_or_error(const char* what, Fn&& fn) {
  try {
    fn();
    return true;
  } catch (const duet::Error& e) {
    const std::string msg = e.what();
    // DUET_FUZZ_ACCEPT=<text>: internal errors containing it pass (a known, reported bug,
    // so a campaign can look past it).
    static const char* accept = std::getenv("DUET_FUZZ_ACCEPT");
    const bool accepted = accept && *accept && msg.find(accept) != std::string::npos;
    if (msg.rfind("internal error at ", 0) == 0 && !accepted) bug(what, msg);
    if (msg.size() > 2000)
      bug(what, "error message of " + std::to_string(msg.size()) + " chars: " + msg);
    static const bool verbose = std::getenv("DUET_FUZZ_VERBOSE") != nullptr;
    if (verbose) std::fprintf(stderr, "duet::Error: %s\n", msg.c_str());
    return false;
  } catch (const std::exception& e) {
    bug(what, std::string("non-duet exception: ") + e.what());
  } catch (...) {
    bug(what, "unknown exception");
  }
}

}  // namespace duet::fuzz

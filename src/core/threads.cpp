// duet's CPU thread pool: set_num_threads / num_threads (include/duet/threads.h) and the
// chunk runner under parallel_for (src/core/parallel.h).
//
// One job runs at a time. The caller posts it (function, context, chunk count), wakes the
// workers, and takes chunks itself like any worker; chunks are claimed from one atomic
// counter. A worker joins a job through `gate_` (an open bit and a count of workers inside):
// while it is inside, the job's fields stay valid; once every chunk is claimed the caller
// closes the gate and waits only for the workers inside, so a worker that the OS has not
// scheduled yet neither delays the caller nor touches the next job.
//
// Waiting: an idle worker spins for DUET_THREAD_SPIN_US microseconds (default 200) watching for
// the next job, then sleeps on a futex; the caller waiting for the last chunks spins as long
// and then sleeps too. Spinning keeps back-to-back kernels from paying a wake-up each;
// bounding it keeps idle threads from taking the CPU that a loaded machine's running threads
// need (libgomp's default policy spins 300,000 times, which made training 1.7-2x slower
// than one thread beside one busy process on 2 cores). Measured alternatives: a 1-5 ms spin
// won back the 4-8% that eager ResNet-18 inference at batch 1 loses to wake-ups on an idle
// machine, but cost 12% beside a busy process; with sched_yield in the spin it did well
// beside an equal-priority process but handed the core to lower-priority ones for up to a
// scheduler tick (12% slower beside a niced build); stopping the spin once descheduled did
// not help (the spinner keeps a core to itself while the caller shares the other).
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/parallel.h"
#include "duet/error.h"
#include "duet/threads.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DUET_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define DUET_CPU_RELAX() asm volatile("yield" ::: "memory")
#else
#define DUET_CPU_RELAX() ((void)0)
#endif

namespace duet {
namespace {

void futex_wait(std::atomic<uint32_t>& word, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr,
          nullptr, 0);
}

void futex_wake_all(std::atomic<uint32_t>& word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr,
          nullptr, 0);
}

// A positive integer from the environment variable `name`, or 0 when unset or not one.
int env_int(const char* name) {
  const char* s = std::getenv(name);
  if (!s || !*s) return 0;
  char* end = nullptr;
  const long v = std::strtol(s, &end, 10);
  return (end && *end == '\0' && v > 0 && v < (1 << 16)) ? static_cast<int>(v) : 0;
}

int default_threads() {
  if (int n = env_int("DUET_NUM_THREADS")) return n;
  if (int n = env_int("OMP_NUM_THREADS")) return n;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc > 0 ? static_cast<int>(hc) : 1;
}

std::chrono::nanoseconds spin_time() {
  const char* s = std::getenv("DUET_THREAD_SPIN_US");
  long us = 200;
  if (s && *s) {
    char* end = nullptr;
    const long v = std::strtol(s, &end, 10);
    if (end && *end == '\0' && v >= 0) us = v;
  }
  return std::chrono::microseconds(us);
}

std::atomic<int> g_num_threads{0};  // 0: not yet read from the environment

thread_local bool tl_in_parallel = false;
thread_local int tl_index = 0;

// Spins until done() or `limit` has passed; returns done().
template <class Done>
bool spin_until(const Done& done, std::chrono::nanoseconds limit) {
  if (done()) return true;
  if (limit.count() <= 0) return false;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      DUET_CPU_RELAX();
      if (done()) return true;
    }
    if (std::chrono::steady_clock::now() - start >= limit) return done();
  }
}

class Pool {
 public:
  Pool() : spin_(spin_time()) {}
  // Never destroyed (see pool()): workers sleep in the kernel when the process exits.

  // Runs the job on the caller and workers 1 .. threads - 1, or returns false when another
  // thread's job holds the pool. Rethrows the first exception a chunk threw.
  bool run(int threads, int64_t chunks, void (*call)(const void*, int64_t), const void* ctx) {
    std::unique_lock<std::mutex> lock(run_mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    resize(std::max(threads, num_threads()) - 1);
    call_ = call;
    ctx_ = ctx;
    chunks_ = chunks;
    limit_ = threads;
    next_.store(0, std::memory_order_relaxed);
    gate_.store(kOpen, std::memory_order_release);
    // Post: a worker that sees the new epoch finds the gate open with this job's fields.
    epoch_.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) futex_wake_all(epoch_);

    tl_in_parallel = true;
    work();  // catches: the gate must close whatever a chunk does
    tl_in_parallel = false;

    // Every chunk is claimed: close the gate, then wait for the workers inside.
    uint32_t g = gate_.fetch_and(~kOpen, std::memory_order_acq_rel) & ~kOpen;
    if (g != 0) {
      const auto done = [&] { return (gate_.load(std::memory_order_acquire) & kCount) == 0; };
      if (!spin_until(done, spin_)) {
        for (;;) {
          uint32_t v = gate_.load(std::memory_order_acquire);
          if ((v & kCount) == 0) break;
          if (!(v & kCallerAsleep) &&
              !gate_.compare_exchange_weak(v, v | kCallerAsleep, std::memory_order_acq_rel))
            continue;
          futex_wait(gate_, v | kCallerAsleep);
        }
      }
    }
    if (failed_.load(std::memory_order_acquire)) {
      std::exception_ptr e = std::move(error_);
      error_ = nullptr;
      failed_.store(false, std::memory_order_relaxed);
      std::rethrow_exception(e);
    }
    return true;
  }

 private:
  static constexpr uint32_t kOpen = 1u << 31, kCallerAsleep = 1u << 30;
  static constexpr uint32_t kCount = kCallerAsleep - 1;

  // Claims and runs chunks until none is left. After an exception the rest are skipped.
  void work() {
    for (;;) {
      const int64_t c = next_.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks_) return;
      try {
        call_(ctx_, c);
      } catch (...) {
        if (!failed_.exchange(true, std::memory_order_acq_rel)) error_ = std::current_exception();
        next_.store(chunks_, std::memory_order_relaxed);
      }
    }
  }

  void worker_loop(int index, uint32_t seen) {
    tl_in_parallel = true;
    tl_index = index;
    for (;;) {
      const auto posted = [&] { return epoch_.load(std::memory_order_acquire) != seen; };
      if (!spin_until(posted, spin_)) {
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        while (epoch_.load(std::memory_order_seq_cst) == seen) futex_wait(epoch_, seen);
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
      }
      seen = epoch_.load(std::memory_order_acquire);
      if (stop_.load(std::memory_order_acquire)) return;
      // Join the job if its gate is still open (it may be this epoch's or a later one's:
      // either way its fields are valid while we are inside).
      uint32_t g = gate_.load(std::memory_order_acquire);
      bool joined = false;
      while (g & kOpen) {
        if (gate_.compare_exchange_weak(g, g + 1, std::memory_order_acq_rel)) {
          joined = true;
          break;
        }
      }
      if (!joined) continue;
      if (index < limit_) work();
      // The caller clears kCallerAsleep itself (its next job's store resets the gate).
      const uint32_t before = gate_.fetch_sub(1, std::memory_order_acq_rel);
      if ((before & kCount) == 1 && (before & kCallerAsleep)) futex_wake_all(gate_);
    }
  }

  // Called with run_mutex_ held and no job running.
  void resize(int workers) {
    if (static_cast<int>(workers_.size()) == workers) return;
    if (!workers_.empty()) {
      stop_.store(true, std::memory_order_release);
      epoch_.fetch_add(1, std::memory_order_seq_cst);
      futex_wake_all(epoch_);
      for (auto& t : workers_) t.join();
      workers_.clear();
      stop_.store(false, std::memory_order_release);
    }
    const uint32_t seen = epoch_.load(std::memory_order_acquire);
    for (int i = 0; i < workers; ++i)
      workers_.emplace_back([this, i, seen] { worker_loop(i + 1, seen); });
  }

  const std::chrono::nanoseconds spin_;
  std::mutex run_mutex_;
  std::vector<std::thread> workers_;
  std::atomic<bool> stop_{false};
  // The current job (written by the caller before the gate opens).
  void (*call_)(const void*, int64_t) = nullptr;
  const void* ctx_ = nullptr;
  int64_t chunks_ = 0;
  int limit_ = 0;  // workers with an index below it take chunks
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;
  alignas(64) std::atomic<uint32_t> epoch_{0};  // bumped per job; idle workers sleep on it
  alignas(64) std::atomic<int> sleepers_{0};
  alignas(64) std::atomic<int64_t> next_{0};   // next chunk to claim
  alignas(64) std::atomic<uint32_t> gate_{0};  // kOpen | kCallerAsleep | workers inside
};

Pool& pool() {
  static Pool* p = new Pool;  // leaked on purpose: no joins in static destruction
  return *p;
}

}  // namespace

void set_num_threads(int n) {
  DUET_CHECK(n >= 1, "set_num_threads: the thread count must be at least 1, got ", n);
  g_num_threads.store(n, std::memory_order_relaxed);
}

int num_threads() {
  int n = g_num_threads.load(std::memory_order_relaxed);
  if (n == 0) {
    int expected = 0;
    g_num_threads.compare_exchange_strong(expected, default_threads(), std::memory_order_relaxed);
    n = g_num_threads.load(std::memory_order_relaxed);
  }
  return n;
}

namespace parallel {

bool in_parallel() {
  return tl_in_parallel;
}

int max_threads() {
  return tl_in_parallel ? 1 : num_threads();
}

int thread_index() {
  return tl_index;
}

namespace detail {

void run_chunks(int threads, int64_t chunks, void (*call)(const void*, int64_t), const void* ctx) {
  if (threads > 1 && chunks > 1 && !tl_in_parallel && pool().run(threads, chunks, call, ctx))
    return;
  // One thread, a nested call, or the pool busy with another thread's job: run here.
  struct Mark {
    bool was = tl_in_parallel;
    Mark() { tl_in_parallel = true; }
    ~Mark() { tl_in_parallel = was; }
  } mark;
  for (int64_t c = 0; c < chunks; ++c) call(ctx, c);
}

}  // namespace detail
}  // namespace parallel
}  // namespace duet

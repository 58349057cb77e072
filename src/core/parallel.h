// The parallel loop every CPU kernel uses (duet's thread pool, src/core/threads.cpp).
//
//   // y[i] = 2 x[i] over n elements, split when n > 32K
//   parallel::parallel_for_if(n > (1 << 15), 0, n, [&](int64_t lo, int64_t hi) {
//     for (int64_t i = lo; i < hi; ++i) y[i] = 2 * x[i];
//   });
//
// The range is cut into chunks that depend only on (range, grain, num_threads()), never on
// timing; threads take chunks as they become free, so a thread that the OS deschedules
// (a loaded machine) holds up at most the chunk it is running. A kernel whose result must not
// depend on scheduling writes each chunk's result to the chunk's own place (or keys partial
// results by chunk, not by thread). Inside a running parallel_for (a nested call, or a call
// from a second user thread while the pool is busy) the loop runs on the calling thread.
#pragma once

#include <cstdint>
#include <limits>
#include <type_traits>

#include "duet/threads.h"

namespace duet::parallel {

// Whether the calling thread is running a chunk of a parallel_for.
bool in_parallel();

// Threads a parallel_for called here would use: 1 inside a parallel region, else
// num_threads(). Kernels size per-thread scratch with it.
int max_threads();

// The calling thread's index in the running parallel_for: 0 for the thread that called it
// (and outside any parallel_for), 1 .. max_threads() - 1 for the pool's workers. Picks a
// per-thread scratch slot; two chunks running at the same time never share an index.
int thread_index();

namespace detail {
// Runs call(ctx, c) once for every c in [0, chunks) on up to `threads` threads (the caller
// and pool workers 1 .. threads - 1); returns when all are done, rethrowing the first
// exception a chunk threw.
void run_chunks(int threads, int64_t chunks, void (*call)(const void* ctx, int64_t chunk),
                const void* ctx);
}  // namespace detail

// Calls fn(lo, hi) on disjoint sub-ranges covering [begin, end): at most 4 per thread, each
// at least `grain` indices long (so fewer than 2 * grain indices run as one call, on the
// caller). grain <= 1: any chunk size. `threads` caps the threads (and so thread_index()):
// a kernel that sized per-thread scratch with max_threads() passes the value it used.
template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& fn,
                  int threads = max_threads()) {
  const int64_t n = end - begin;
  if (n <= 0) return;
  const int64_t g = grain < 1 ? 1 : grain;
  int64_t chunks = n / g;
  if (chunks > 4 * static_cast<int64_t>(threads)) chunks = 4 * static_cast<int64_t>(threads);
  if (threads <= 1 || chunks <= 1) {
    fn(begin, end);
    return;
  }
  struct Ctx {
    const F* fn;
    int64_t begin, n, chunks;
  } ctx{&fn, begin, n, chunks};
  detail::run_chunks(
      threads, chunks,
      [](const void* p, int64_t c) {
        const Ctx& x = *static_cast<const Ctx*>(p);
        // Chunk c is [n c / chunks, n (c + 1) / chunks): sizes differ by at most one.
        (*x.fn)(x.begin + x.n * c / x.chunks, x.begin + x.n * (c + 1) / x.chunks);
      },
      &ctx);
}

// parallel_for with any chunk size when `parallel`, else one call fn(begin, end) on the
// caller: the `#pragma omp parallel for if (parallel)` of the kernels.
template <class F>
void parallel_for_if(bool parallel, int64_t begin, int64_t end, const F& fn,
                     int threads = max_threads()) {
  parallel_for(begin, end, parallel ? 1 : std::numeric_limits<int64_t>::max(), fn, threads);
}

}  // namespace duet::parallel

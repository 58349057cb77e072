// How many CPU threads duet's kernels use.
//
//   duet::set_num_threads(1);          // every CPU kernel runs on the calling thread
//   auto y = model(x);
//   duet::set_num_threads(4);          // up to 4 threads (the caller and 3 workers)
//   std::cout << duet::num_threads();  // 4
//
// CPU kernels split their work over duet's own thread pool (no OpenMP runtime). Workers that
// run out of work spin for 200 microseconds and then sleep, and work is handed out in chunks
// that any thread may take, so a busy machine (another process on the cores) slows a kernel
// down in proportion to the CPU it gets instead of stalling it. Results never depend on how
// the chunks fall on threads. A few depend on num_threads(), as they did with OpenMP: the
// convolution weight gradient (one partial sum per thread) and large matrix products (split
// into one block per thread, each block's kernel chosen by its size).
//
// The default is DUET_NUM_THREADS if set, else OMP_NUM_THREADS if set, else the number of
// CPUs this process may run on (sched_getaffinity). DUET_THREAD_SPIN_US (default 200) sets how
// long an idle worker spins before it sleeps; 0 sleeps at once.
#pragma once

namespace duet {

// Sets the number of threads CPU kernels may use (the calling thread included), for every
// thread of the process from the next kernel on. n >= 1, else duet::Error.
void set_num_threads(int n);

// The number of threads CPU kernels may use (set_num_threads or the default above).
int num_threads();

}  // namespace duet

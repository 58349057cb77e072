// duet::set_num_threads / num_threads, the thread pool under parallel_for, and kernels that
// parallelise giving the same bits on 1 and 2 threads.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/parallel.h"
#include "duet/duet.h"
#include "duet/threads.h"
#include "test_util.h"

namespace duet {
namespace {

// Restores the thread count a test changed.
struct ThreadsGuard {
  int saved = num_threads();
  ~ThreadsGuard() { set_num_threads(saved); }
};

// Bitwise equality of two tensors of the same dtype (NaN == NaN when the bits match).
void expect_same_bits(const Tensor& a, const Tensor& b, const char* what) {
  ASSERT_EQ(shape_str(a.shape()), shape_str(b.shape())) << what;
  ASSERT_EQ(a.dtype(), b.dtype()) << what;
  Tensor ac = a.contiguous(), bc = b.contiguous();
  const size_t bytes = static_cast<size_t>(a.numel()) * dtype_size(a.dtype());
  EXPECT_EQ(std::memcmp(ac.data_ptr(), bc.data_ptr(), bytes), 0) << what << " differs";
}

// Runs f under 1 and 2 threads; every tensor it returns must match the 1-thread bits.
// (GEMM splits a large product into one block per thread and picks its kernel per block, the
// packed AVX-512 one only for blocks of 4M multiply-adds or more, so a product's bits can
// depend on the thread count: the shapes below are ones where 1 and 2 threads agree, as they
// did with OpenMP; 3 threads give other bits for the matmul here, before and after.)
template <class F>
void expect_thread_count_independent(const F& f) {
  ThreadsGuard guard;
  set_num_threads(1);
  const std::vector<Tensor> ref = f();
  for (int t : {2}) {
    set_num_threads(t);
    const std::vector<Tensor> got = f();
    ASSERT_EQ(got.size(), ref.size());
    for (size_t i = 0; i < ref.size(); ++i)
      expect_same_bits(got[i], ref[i], detail::cat(t, " threads, result ", i).c_str());
  }
}

TEST(Threads, NumThreadsReflectsSetNumThreads) {
  ThreadsGuard guard;
  EXPECT_GE(num_threads(), 1);
  for (int n : {1, 2, 3, 7}) {
    set_num_threads(n);
    EXPECT_EQ(num_threads(), n);
    EXPECT_EQ(parallel::max_threads(), n);
  }
}

TEST(Threads, InvalidCountThrows) {
  ThreadsGuard guard;
  set_num_threads(2);
  EXPECT_DUET_ERROR(set_num_threads(0),
                    "set_num_threads: the thread count must be at least 1, got 0");
  EXPECT_DUET_ERROR(set_num_threads(-3),
                    "set_num_threads: the thread count must be at least 1, got -3");
  EXPECT_EQ(num_threads(), 2);  // unchanged
}

TEST(Threads, ParallelForCoversEachIndexOnce) {
  ThreadsGuard guard;
  for (int t : {1, 2, 3, 4}) {
    set_num_threads(t);
    for (int64_t n : {0, 1, 7, 1000, 100003}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::atomic<int> bad_index{0};
      parallel::parallel_for(0, n, 1, [&](int64_t lo, int64_t hi) {
        if (parallel::thread_index() >= t) ++bad_index;
        for (int64_t i = lo; i < hi; ++i) ++hits[static_cast<size_t>(i)];
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << i;
      EXPECT_EQ(bad_index.load(), 0);
      EXPECT_FALSE(parallel::in_parallel());
    }
  }
}

TEST(Threads, GrainKeepsSmallRangesOnTheCaller) {
  ThreadsGuard guard;
  set_num_threads(4);
  std::atomic<int> calls{0};
  parallel::parallel_for(0, 100, 64, [&](int64_t lo, int64_t hi) {
    EXPECT_EQ(lo, 0);
    EXPECT_EQ(hi, 100);
    ++calls;
  });
  EXPECT_EQ(calls.load(), 1);
  calls = 0;
  parallel::parallel_for_if(false, 0, 1 << 20, [&](int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls.load(), 1);
}

TEST(Threads, NestedLoopsRunOnTheCallingThread) {
  ThreadsGuard guard;
  set_num_threads(3);
  std::atomic<int> total{0}, nested_chunks{0};
  parallel::parallel_for(0, 12, 1, [&](int64_t lo, int64_t hi) {
    EXPECT_EQ(parallel::max_threads(), 1);
    const int me = parallel::thread_index();
    for (int64_t i = lo; i < hi; ++i) {
      parallel::parallel_for(0, 100, 1, [&](int64_t a, int64_t b) {
        EXPECT_EQ(parallel::thread_index(), me);  // ran inline
        ++nested_chunks;
        total += static_cast<int>(b - a);
      });
    }
  });
  EXPECT_EQ(total.load(), 1200);
  EXPECT_EQ(nested_chunks.load(), 12);  // one call per nested loop
}

TEST(Threads, ExceptionInAChunkReachesTheCaller) {
  ThreadsGuard guard;
  set_num_threads(3);
  for (int rep = 0; rep < 20; ++rep) {
    EXPECT_THROW(parallel::parallel_for(0, 64, 1,
                                        [&](int64_t lo, int64_t) {
                                          if (lo >= 32) throw std::runtime_error("chunk failed");
                                        }),
                 std::runtime_error);
  }
  // The pool still works afterwards.
  std::atomic<int64_t> sum{0};
  parallel::parallel_for(0, 1000, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) sum += i;
  });
  EXPECT_EQ(sum.load(), 999 * 1000 / 2);
}

// Two user threads running kernels at once: one gets the pool, the other runs inline; both
// get the right answer.
TEST(Threads, ConcurrentCallersGetCorrectResults) {
  ThreadsGuard guard;
  set_num_threads(2);
  Generator g(5);
  Tensor a = Tensor::uniform({96, 200}, -1, 1, g, float64);
  Tensor b = Tensor::uniform({200, 160}, -1, 1, g, float64);
  Tensor x = Tensor::uniform({1 << 18}, -1, 1, g, float32);
  Tensor mm_ref = matmul(a, b), sum_ref = sum(x);
  std::atomic<int> mismatches{0};
  auto work = [&] {
    for (int i = 0; i < 20; ++i) {
      if (max(abs(sub(matmul(a, b), mm_ref))).item<double>() != 0) ++mismatches;
      if (sum(x).item<float>() != sum_ref.item<float>()) ++mismatches;
    }
  };
  std::thread t1(work), t2(work);
  t1.join();
  t2.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// ---- kernels: same bits on any thread count --------------------------------------------

TEST(Threads, ConvForwardAndInputGradientAreThreadCountIndependent) {
  Generator g(11);
  const Tensor x = Tensor::uniform({4, 16, 20, 20}, -1, 1, g);
  const Tensor w = Tensor::uniform({24, 16, 3, 3}, -1, 1, g);
  const Tensor bias = Tensor::uniform({24}, -1, 1, g);
  const Tensor x1 = Tensor::uniform({1, 64, 12, 12}, -1, 1, g);  // one image: split GEMM
  const Tensor w1 = Tensor::uniform({96, 64, 3, 3}, -1, 1, g);
  const Tensor xd = Tensor::uniform({2, 8, 16, 16}, -1, 1, g);  // depthwise
  const Tensor wd = Tensor::uniform({8, 1, 3, 3}, -1, 1, g);
  expect_thread_count_independent([&] {
    Conv2dOptions o;
    o.padding = {1, 1};
    Tensor y = conv2d(x, w, bias, o);
    Tensor go = Tensor::ones(y.shape());
    Conv2dOptions dw = o;
    dw.groups = 8;
    return std::vector<Tensor>{y, conv2d_backward_input(go, w, x.shape(), o), conv2d(x1, w1, {}, o),
                               conv2d(xd, wd, {}, dw)};
  });
}

// The weight gradient sums per-part accumulators, one part per thread, so its bits depend on
// the thread count (as they did with OpenMP); they must not depend on scheduling.
TEST(Threads, ConvWeightGradientIsRepeatableAndClose) {
  ThreadsGuard guard;
  Generator g(12);
  const Tensor x = Tensor::uniform({8, 16, 16, 16}, -1, 1, g);
  const Tensor go = Tensor::uniform({8, 32, 16, 16}, -1, 1, g);
  Conv2dOptions o;
  o.padding = {1, 1};
  set_num_threads(1);
  const Tensor ref = conv2d_backward_weight(go, x, {32, 16, 3, 3}, o);
  for (int t : {2, 3}) {
    set_num_threads(t);
    const Tensor first = conv2d_backward_weight(go, x, {32, 16, 3, 3}, o);
    for (int rep = 0; rep < 5; ++rep)
      expect_same_bits(conv2d_backward_weight(go, x, {32, 16, 3, 3}, o), first, "rerun");
    test::expect_close(first, ref, 1e-4, 1e-4);
  }
}

TEST(Threads, MatmulIsThreadCountIndependent) {
  Generator g(13);
  const Tensor a = Tensor::uniform({192, 256}, -1, 1, g);
  const Tensor b = Tensor::uniform({256, 320}, -1, 1, g);
  const Tensor ba = Tensor::uniform({12, 20, 30}, -1, 1, g, float64);
  const Tensor bb = Tensor::uniform({12, 30, 40}, -1, 1, g, float64);
  const Tensor lw = Tensor::uniform({300, 256}, -1, 1, g);
  const Tensor lb = Tensor::uniform({300}, -1, 1, g);
  expect_thread_count_independent([&] {
    return std::vector<Tensor>{matmul(a, b), matmul(ba, bb), linear(a, lw, lb)};
  });
}

TEST(Threads, ReductionsAreThreadCountIndependent) {
  Generator g(14);
  const Tensor x = Tensor::uniform({64, 300, 40}, -1, 1, g);
  const Tensor v = Tensor::uniform({1 << 20}, -1, 1, g);
  expect_thread_count_independent([&] {
    return std::vector<Tensor>{sum(v),       sum(x, {1}),   mean(x, {0, 2}), max(x, {2}),
                               argmax(x, 1), softmax(x, 1), sum(x, {0, 1}),  mean(v)};
  });
}

TEST(Threads, BatchNormIsThreadCountIndependent) {
  Generator g(15);
  const Tensor x = Tensor::uniform({8, 32, 14, 14}, -1, 1, g);
  const Tensor w = Tensor::uniform({32}, 0.5, 1.5, g);
  const Tensor b = Tensor::uniform({32}, -1, 1, g);
  const Tensor gy = Tensor::uniform({8, 32, 14, 14}, -1, 1, g);
  expect_thread_count_independent([&] {
    std::vector<Tensor> out = batch_norm_train(x, w, b, 1e-5);
    std::vector<Tensor> back = batch_norm_backward(gy, x, w, out[1], out[2]);
    out.insert(out.end(), back.begin(), back.end());
    return out;
  });
}

TEST(Threads, ElementwiseAndPoolingAreThreadCountIndependent) {
  Generator g(16);
  const Tensor x = Tensor::uniform({8, 16, 32, 32}, -1, 1, g);
  const Tensor y = Tensor::uniform({16, 1, 1}, -1, 1, g);
  expect_thread_count_independent([&] {
    return std::vector<Tensor>{
        add(x, y),
        mul(x, x),
        relu(x),
        tanh(x),
        max_pool2d(x, {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}),
        avg_pool2d(x, {.kernel = {2, 2}, .stride = {2, 2}})};
  });
}

}  // namespace
}  // namespace duet

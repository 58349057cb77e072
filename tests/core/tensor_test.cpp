#include "test_util.h"

using namespace duet;
using namespace duet::test;

TEST(Tensor, FactoriesAndItem) {
  Tensor z = Tensor::zeros({2, 3});
  EXPECT_EQ(z.numel(), 6);
  EXPECT_EQ(z.dtype(), float32);
  expect_values(z, {0, 0, 0, 0, 0, 0});
  Tensor f = Tensor::full({2}, 2.5, float64);
  expect_values(f, {2.5, 2.5});
  EXPECT_EQ(Tensor::scalar(3.0).item<float>(), 3.0f);
  Tensor a = Tensor::arange(4);
  EXPECT_EQ(a.dtype(), int64);
  EXPECT_EQ(a.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_DUET_ERROR(a.item<int64_t>(), "item", "(4,)", "exactly one");
  EXPECT_DUET_ERROR(Tensor::from_vector({1, 2, 3}, {2, 2}), "from_vector", "3 values", "(2, 2)");
}

TEST(Tensor, RandomIsSeeded) {
  Generator g1(7), g2(7);
  Tensor a = Tensor::randn({100}, g1), b = Tensor::randn({100}, g2);
  expect_close(a, b, 0, 0);
  std::vector<double> v = a.to_vector<double>();
  double mean = 0;
  for (double x : v) mean += x / v.size();
  EXPECT_LT(std::abs(mean), 0.3);
}

TEST(Tensor, ViewsShareStorage) {
  Tensor x = Tensor::from_vector({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor t = x.transpose(0, 1);  // (3, 2)
  EXPECT_EQ(t.shape(), (Shape{3, 2}));
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.data_ptr(), x.data_ptr());
  expect_values(t, {0, 3, 1, 4, 2, 5});
  Tensor s = x.slice(1, 1, 3);  // (2, 2)
  expect_values(s, {1, 2, 4, 5});
  EXPECT_EQ(s.data_ptr(), static_cast<char*>(x.data_ptr()) + 4);
  Tensor s2 = x.slice(1, 0, 3, 2);
  expect_values(s2, {0, 2, 3, 5});
  Tensor neg = x.slice(1, -2, 100);
  expect_values(neg, {1, 2, 4, 5});
  Tensor r = x.reshape({3, -1});
  EXPECT_EQ(r.shape(), (Shape{3, 2}));
  EXPECT_EQ(r.data_ptr(), x.data_ptr());
  Tensor e = Tensor::from_vector({1, 2}, {2, 1}).expand({2, 3});
  EXPECT_EQ(e.strides()[1], 0);
  expect_values(e, {1, 1, 1, 2, 2, 2});
  Tensor u = x.unsqueeze(0);
  EXPECT_EQ(u.shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(u.squeeze(0).shape(), (Shape{2, 3}));
  // Writing through a view changes the base.
  {
    NoGradGuard ng;
    s.fill_(9);
  }
  expect_values(x, {0, 9, 9, 3, 9, 9});
  // A non-contiguous tensor reshapes through a copy.
  Tensor tr = t.reshape({6});
  expect_values(tr, {0, 3, 9, 9, 9, 9});
}

// A tensor without elements is contiguous whatever its strides (a fresh (3, 0) tensor has
// strides (1, 1)); a graph captures it like any other (found by the op table's test).
TEST(Tensor, EmptyTensorsAreContiguous) {
  for (const Shape& s : {Shape{3, 0}, Shape{0, 4}, Shape{2, 0, 3}})
    EXPECT_TRUE(Tensor::zeros(s).is_contiguous()) << shape_str(s);
  EXPECT_TRUE(Tensor::zeros({4, 3}).slice(1, 1, 1).is_contiguous());  // (4, 0), strides (3, 1)
}

TEST(Tensor, ViewErrors) {
  Tensor x = Tensor::zeros({2, 3});
  EXPECT_DUET_ERROR(x.reshape({4, 2}), "reshape", "(2, 3)", "(4, 2)");
  EXPECT_DUET_ERROR(x.permute({0, 0}), "permute", "repeated");
  EXPECT_DUET_ERROR(x.squeeze(0), "squeeze", "size 2", "expected 1");
  EXPECT_DUET_ERROR(x.expand({3, 3}), "expand", "(2, 3)", "(3, 3)");
  EXPECT_DUET_ERROR(x.transpose(0, 5), "transpose", "axis 5", "rank 2");
  EXPECT_DUET_ERROR(x.slice(1, 0, 2, 0), "slice", "step 0");
}

TEST(Tensor, CopyBroadcastAndCast) {
  Tensor x = Tensor::zeros({2, 3}, float64);
  x.copy_(Tensor::from_vector({1, 2, 3}, {3}));
  expect_values(x, {1, 2, 3, 1, 2, 3});
  Tensor i = x.to(int64);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{1, 2, 3, 1, 2, 3}));
  EXPECT_DUET_ERROR(x.copy_(Tensor::zeros({4})), "copy_", "(4,)", "(2, 3)");
}

TEST(Tensor, ConcatPad) {
  Tensor a = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  Tensor b = Tensor::from_vector({5, 6}, {2, 1});
  expect_values(concat({a, b}, 1), {1, 2, 5, 3, 4, 6});
  expect_values(concat({a, a}, 0), {1, 2, 3, 4, 1, 2, 3, 4});
  EXPECT_DUET_ERROR(concat({a, b}, 0), "concat", "(2, 1)", "(2, 2)");
  Tensor p = pad(b, {1, 2}, -1);  // last axis: 1 before, 2 after
  EXPECT_EQ(p.shape(), (Shape{2, 4}));
  expect_values(p, {-1, 5, -1, -1, -1, 6, -1, -1});
  Tensor p2 = pad(a, {0, 0, 1, 0});
  expect_values(p2, {0, 0, 1, 2, 3, 4});
}

TEST(Tensor, Printing) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  std::string s = x.str();
  EXPECT_NE(s.find("[[1, 2],"), std::string::npos) << s;
  EXPECT_NE(s.find("shape=(2, 2)"), std::string::npos) << s;
  EXPECT_NE(s.find("float32"), std::string::npos) << s;
}

TEST(Memory, CountersTrackLiveTensors) {
  reset_peak_memory(cpu);
  MemoryStats before = memory_stats(cpu);
  {
    Tensor big = Tensor::empty({1 << 20});  // 4 MiB
    MemoryStats during = memory_stats(cpu);
    EXPECT_GE(during.current_bytes - before.current_bytes, 4 << 20);
    EXPECT_GE(during.peak_bytes, during.current_bytes);
  }
  MemoryStats after = memory_stats(cpu);
  EXPECT_EQ(after.current_bytes, before.current_bytes);
  EXPECT_GE(after.peak_bytes, before.current_bytes + (4 << 20));
  EXPECT_GE(after.num_allocs, 1);
}

TEST(Memory, EmptyCacheReturnsFreeBlocks) {
  { Tensor big = Tensor::empty({3 << 20}); }  // 12 MiB, now cached
  const MemoryStats cached = memory_stats(cpu);
  EXPECT_GE(cached.reserved_bytes - cached.current_bytes, 12 << 20);
  empty_cache(cpu);
  const MemoryStats after = memory_stats(cpu);
  EXPECT_EQ(after.reserved_bytes, after.current_bytes);
  EXPECT_EQ(after.current_bytes, cached.current_bytes);
}

TEST(Memory, LimitThrowsOutOfMemoryAndLeavesCountersIntact) {
  const MemoryStats before = memory_stats(cpu);
  set_memory_limit(cpu, before.current_bytes + (1 << 20));  // 1 MiB of headroom
  EXPECT_DUET_ERROR(Tensor::empty({1 << 20}), "cpu allocator: out of memory allocating",
                    "set_memory_limit");
  Tensor small = Tensor::empty({1024});  // 4 KiB still fits
  set_memory_limit(cpu, 0);
  EXPECT_EQ(memory_stats(cpu).current_bytes, before.current_bytes + 4096);
  Tensor big = Tensor::empty({1 << 20});  // no limit any more
  EXPECT_DUET_ERROR(set_memory_limit(cpu, -1), "set_memory_limit", "-1");
}

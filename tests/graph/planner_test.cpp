#include <functional>

#include "duet/graph.h"
#include "duet/models/fashion_cnn.h"
#include "duet/optim.h"
#include "graph/executable.h"
#include "graph/planner.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;
using duet::detail::Buffer;

namespace {

void expect_no_overlap(const std::vector<Buffer>& bufs, int64_t arena) {
  for (size_t a = 0; a < bufs.size(); ++a) {
    ASSERT_GE(bufs[a].offset, 0);
    ASSERT_LE(bufs[a].offset + bufs[a].size, arena) << "buffer " << a << " exceeds the arena";
    ASSERT_EQ(bufs[a].offset % detail::kArenaAlignment, 0);
    for (size_t b = a + 1; b < bufs.size(); ++b) {
      const bool live_together = bufs[a].first <= bufs[b].last && bufs[b].first <= bufs[a].last;
      const bool share_bytes = bufs[a].offset < bufs[b].offset + bufs[b].size &&
                               bufs[b].offset < bufs[a].offset + bufs[a].size;
      ASSERT_FALSE(live_together && share_bytes) << "buffers " << a << " and " << b << " overlap";
    }
  }
}

int64_t exe_arena_bytes(const Executable& e) {
  return e.impl()->arena ? static_cast<int64_t>(e.impl()->arena->nbytes) : 0;
}

}  // namespace

TEST(Planner, RandomIntervalsNeverOverlap) {
  Generator gen(99);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<Buffer> bufs(1 + gen.below(40));
    int64_t max_live_sum = 0;
    for (auto& b : bufs) {
      b.size = static_cast<int64_t>(1 + gen.below(64)) * detail::kArenaAlignment;
      b.first = static_cast<int32_t>(gen.below(50));
      b.last = b.first + static_cast<int32_t>(gen.below(20));
    }
    for (int t = 0; t < 70; ++t) {
      int64_t live = 0;
      for (auto& b : bufs)
        if (b.first <= t && t <= b.last) live += b.size;
      max_live_sum = std::max(max_live_sum, live);
    }
    const int64_t arena = detail::assign_offsets(bufs);
    expect_no_overlap(bufs, arena);
    // The arena can never be smaller than the bytes simultaneously live.
    EXPECT_GE(arena, max_live_sum);
  }
}

// Random chains and diamonds of elementwise ops: the plan of real graphs never overlaps live
// buffers, the result equals eager, and the arena holds no more than all buffers together.
TEST(Planner, RandomGraphsPlanAndRunCorrectly) {
  Generator gen(7);
  for (int trial = 0; trial < 30; ++trial) {
    const int64_t n = 1 + static_cast<int64_t>(gen.below(300));
    Tensor x = Tensor::randn({n}, gen);
    std::vector<int> choices;
    for (int k = 0; k < 12; ++k) choices.push_back(static_cast<int>(gen.below(5)));
    auto model = [&](const Tensor& in) {
      std::vector<Tensor> vals{in};
      for (int c : choices) {
        const Tensor& a = vals[vals.size() - 1];
        const Tensor& b = vals[vals.size() / 2];
        switch (c) {
          case 0:
            vals.push_back(relu(a));
            break;
          case 1:
            vals.push_back(add(a, b));
            break;
          case 2:
            vals.push_back(mul(a, 0.5));
            break;
          case 3:
            vals.push_back(sigmoid(a));
            break;
          default:
            vals.push_back(concat({a, b}, 0).slice(0, 0, a.size(0)));
            break;
        }
      }
      return vals.back();
    };
    Tensor eager = model(x);
    Graph g;
    Tensor y = model(g.input("x", {n}));
    Executable exe = compile(g, {y});
    const detail::MemoryPlan& plan = exe.impl()->plan;
    expect_no_overlap(plan.buffers, plan.arena_bytes);
    int64_t total = 0;
    for (const auto& b : plan.buffers) total += b.size;
    EXPECT_LE(plan.arena_bytes, total);
    expect_close(exe.run({{"x", x}})[0], eager, 0, 0);
  }
}

// In place is only safe where output element i overwrites input element i and nothing else
// reads the buffer through another view: a view at an offset (relu of x[1:]) or a second
// input that is a different view of the same buffer (e + e[0:1], broadcast) must get an
// output buffer of its own. Both gave wrong results (the second on the CPU too) when the
// planner only checked that the input died at the op.
TEST(Planner, InPlaceNeedsTheSameElementsAtTheSamePlaces) {
  Generator gen(3);
  Tensor x = Tensor::randn({40, 30}, gen);
  auto shifted = [](const Tensor& in) { return relu(exp(in).reshape({1200}).slice(0, 1, 1200)); };
  auto broadcast = [](const Tensor& in) {
    Tensor e = exp(in);
    return add(e, e.slice(0, 0, 1));
  };
  auto same_view = [](const Tensor& in) {
    Tensor e = exp(in);
    return mul(e, e);
  };
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&)> f;
    bool expect_inplace;
  };
  for (const Case& c : {Case{"shifted", shifted, false}, Case{"broadcast", broadcast, false},
                        Case{"same view", same_view, true}}) {
    SCOPED_TRACE(c.name);
    Graph g;
    Tensor y = c.f(g.input("x", {40, 30}));
    Executable exe = compile(g, {sum(y)});
    const detail::MemoryPlan& plan = exe.impl()->plan;
    bool any_inplace = false;
    for (bool b : plan.inplace) any_inplace = any_inplace || b;
    EXPECT_EQ(any_inplace, c.expect_inplace);
    expect_close(exe.run({{"x", x}})[0], sum(c.f(x)), 1e-5, 1e-3);
  }
}

TEST(Planner, SteadyStateStepAllocatesNothing) {
  Generator gen(1);
  Tensor w = Tensor::randn({8, 1, 3, 3}, gen);
  Graph g;
  Tensor x = g.input("x", {2, 1, 10, 10});
  Tensor y = sum(relu(conv2d(x, w, {}, {.padding = {1, 1}})) * 2.0);
  Executable exe = compile(g, {y});
  Tensor xin = Tensor::randn({2, 1, 10, 10}, gen);
  exe.run({{"x", xin}});  // warm-up
  reset_peak_memory(cpu);
  const MemoryStats before = memory_stats(cpu);
  for (int i = 0; i < 3; ++i) exe.run({{"x", xin}});
  const MemoryStats after = memory_stats(cpu);
  EXPECT_EQ(after.num_allocs, 0) << "a steady-state run allocated";
  EXPECT_EQ(after.current_bytes, before.current_bytes);
  // The planned arena is known before running and is what the run used.
  EXPECT_GT(exe.memory_report().arena, 0);
}

TEST(Planner, SteadyStateTrainingStepAllocatesNothing) {
  Generator gen(3);
  auto net = models::fashion_cnn(gen);
  optim::Adam opt(net->parameters(), 1e-3);
  Graph g({.training = true});
  Tensor x = g.input("x", {4, 1, 28, 28});
  Tensor y = g.input("y", {4}, int64);
  Tensor loss = cross_entropy((*net)(x), y);
  Executable step = compile(g, {loss}, {.training = true, .optimizer = &opt});
  Tensor xin = Tensor::randn({4, 1, 28, 28}, gen);
  Tensor yin = Tensor::from_vector(std::vector<int64_t>{1, 2, 3, 4}, {4});
  step.run({{"x", xin}, {"y", yin}});  // warm-up
  reset_peak_memory(cpu);
  const MemoryStats before = memory_stats(cpu);
  for (int i = 0; i < 3; ++i) step.run({{"x", xin}, {"y", yin}});
  const MemoryStats after = memory_stats(cpu);
  EXPECT_EQ(after.num_allocs, 0) << "a steady-state training step allocated";
  EXPECT_EQ(after.current_bytes, before.current_bytes);
  EXPECT_EQ(after.peak_bytes, before.current_bytes);
  // The report splits the plan, known before running.
  const MemoryReport r = step.memory_report();
  EXPECT_GT(r.parameters, 0);
  EXPECT_GT(r.optimizer_state, 0);
  EXPECT_GT(r.activations, 0);
  EXPECT_EQ(r.arena, exe_arena_bytes(step));
}

// Each value's byte size fits in int64 (2^62 bytes); the arena holding three of them at once
// does not: a duet::Error naming the memory plan, not a wrapped (UB) arena size.
TEST(Planner, ArenaSizeOverflowIsAnError) {
  Graph g;
  Tensor x = g.input("x", {int64_t{1} << 60});
  try {
    compile(g, {relu(x), neg(x), exp(x)});
    FAIL() << "compile accepted an arena of more than 2^63 bytes";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("compile: memory plan"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("overflows int64"), std::string::npos) << e.what();
  }
}

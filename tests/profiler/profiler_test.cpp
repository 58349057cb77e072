// duet::profiler: one event per op call with names and shapes, nesting and self time,
// allocation bytes, graph runs and nodes, ranges, threads, the event cap, the table and the
// Chrome trace (parsed back with nlohmann/json and, when present, Python's json module).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "duet/data.h"
#include "duet/duet.h"
#include "duet/graph.h"
#include "duet/profiler.h"
#include "test_util.h"

namespace duet {
namespace {

using profiler::Event;
using profiler::EventKind;

std::vector<const Event*> of_kind(const std::vector<Event>& evs, EventKind kind) {
  std::vector<const Event*> out;
  for (const Event& e : evs)
    if (e.kind == kind) out.push_back(&e);
  return out;
}

TEST(Profiler, OneEventPerEagerOpCallWithNamesAndShapes) {
  Tensor a = Tensor::ones({4, 3});
  Tensor b = Tensor::ones({3});
  profiler::Profile p;
  EXPECT_TRUE(p.recording());
  EXPECT_TRUE(profiler::is_profiling());
  Tensor c = add(a, b);          // (4, 3) + (3,)
  Tensor d = mul(c, c);          // (4, 3) * (4, 3)
  Tensor e = relu(d);            // (4, 3)
  Tensor s = sum(e);             // (4, 3) -> ()
  Tensor m = matmul(a, a.transpose(0, 1));  // transpose (the permute view op), then matmul
  p.stop();
  EXPECT_FALSE(profiler::is_profiling());
  const auto ops = of_kind(p.events(), EventKind::op);
  std::vector<std::string> names;
  for (const Event* ev : ops) names.push_back(ev->name);
  EXPECT_EQ(names, (std::vector<std::string>{"add", "mul", "relu", "sum", "permute", "matmul"}));
  ASSERT_EQ(ops.size(), 6u);
  EXPECT_EQ(ops[0]->input_shapes, (std::vector<Shape>{{4, 3}, {3}}));
  EXPECT_EQ(ops[0]->input_dtypes, (std::vector<DType>{float32, float32}));
  EXPECT_EQ(ops[1]->input_shapes, (std::vector<Shape>{{4, 3}, {4, 3}}));
  EXPECT_EQ(ops[3]->input_shapes, (std::vector<Shape>{{4, 3}}));
  EXPECT_EQ(ops[5]->input_shapes, (std::vector<Shape>{{4, 3}, {3, 4}}));
  for (const Event* ev : ops) {
    EXPECT_EQ(ev->depth, 0) << ev->name;
    EXPECT_EQ(ev->parent, -1) << ev->name;
    EXPECT_EQ(ev->thread, profiler::thread_id());
    EXPECT_GE(ev->start_ns, 0);
    EXPECT_GE(ev->duration_ns, 0);
    EXPECT_EQ(ev->self_ns, ev->duration_ns);  // no children
    EXPECT_EQ(ev->device, cpu);
    EXPECT_EQ(ev->device_duration_ns, -1);  // no CUDA here
  }
  for (size_t i = 1; i < ops.size(); ++i) EXPECT_GE(ops[i]->start_ns, ops[i - 1]->start_ns);
  EXPECT_GE(p.wall_ns(), ops.back()->start_ns + ops.back()->duration_ns);
  EXPECT_EQ(p.dropped(), 0);
}

TEST(Profiler, ProfilingOffRecordsNothing) {
  Tensor a = Tensor::ones({8});
  {
    profiler::Profile p;
    p.stop();
    add(a, a);  // after stop
    EXPECT_TRUE(p.events().empty());
  }
  add(a, a);  // no profile at all: nothing to see, and nothing breaks
  profiler::Range r("not recorded");
  profiler::Profile q;
  q.stop();
  EXPECT_TRUE(q.events().empty());  // the range began before q
}

TEST(Profiler, BackwardRulesNestTheirOps) {
  Tensor x = Tensor::from_vector({1.0, -2.0, 3.0}, {3});
  x.requires_grad_();
  profiler::Profile p;
  Tensor y = sum(mul(relu(x), x));
  y.backward();
  p.stop();
  const auto& evs = p.events();
  const auto grads = of_kind(evs, EventKind::backward);
  std::vector<std::string> names;
  for (const Event* g : grads) names.push_back(g->name);
  // Reverse creation order: sum, mul, relu.
  EXPECT_EQ(names, (std::vector<std::string>{"sum_grad", "mul_grad", "relu_grad"}));
  for (const Event* g : grads) {
    int64_t children = 0, child_ns = 0;
    for (const Event& e : evs) {
      if (e.parent != g->id) continue;
      ++children;
      child_ns += e.duration_ns;
      EXPECT_EQ(e.depth, g->depth + 1);
      EXPECT_EQ(e.kind, EventKind::op);
      EXPECT_GE(e.start_ns, g->start_ns);
      EXPECT_LE(e.start_ns + e.duration_ns, g->start_ns + g->duration_ns);
    }
    EXPECT_GT(children, 0) << g->name << " ran ops";
    EXPECT_EQ(g->self_ns + child_ns, g->duration_ns) << g->name;
    EXPECT_LE(g->self_ns, g->duration_ns);
  }
  // The relu rule calls the relu_backward op.
  bool relu_backward_in_relu_grad = false;
  for (const Event& e : evs)
    if (e.name == "relu_backward" && e.parent == grads[2]->id) relu_backward_in_relu_grad = true;
  EXPECT_TRUE(relu_backward_in_relu_grad);
}

TEST(Profiler, RangesNestAndSelfTimeAddsUp) {
  Tensor a = Tensor::ones({64});
  profiler::Profile p;
  {
    profiler::Range outer("outer");
    add(a, a);
    {
      profiler::Range inner("inner");
      mul(a, a);
      mul(a, a);
    }
  }
  p.stop();
  const auto& evs = p.events();
  ASSERT_EQ(evs.size(), 5u);
  // Sorted by start: a parent before its children.
  EXPECT_EQ(evs[0].name, "outer");
  EXPECT_EQ(evs[0].kind, EventKind::range);
  EXPECT_EQ(evs[0].depth, 0);
  EXPECT_EQ(evs[1].name, "add");
  EXPECT_EQ(evs[1].parent, evs[0].id);
  EXPECT_EQ(evs[2].name, "inner");
  EXPECT_EQ(evs[2].parent, evs[0].id);
  EXPECT_EQ(evs[3].parent, evs[2].id);
  EXPECT_EQ(evs[4].parent, evs[2].id);
  EXPECT_EQ(evs[3].depth, 2);
  EXPECT_EQ(evs[2].self_ns + evs[3].duration_ns + evs[4].duration_ns, evs[2].duration_ns);
  EXPECT_EQ(evs[0].self_ns + evs[1].duration_ns + evs[2].duration_ns, evs[0].duration_ns);
  int64_t self_sum = 0;
  for (const Event& e : evs) {
    EXPECT_LE(e.self_ns, e.duration_ns);
    EXPECT_GE(e.self_ns, 0);
    self_sum += e.self_ns;
  }
  EXPECT_EQ(self_sum, evs[0].duration_ns);  // self times partition the top-level event
}

TEST(Profiler, AllocationBytesOfKnownOps) {
  Tensor a = Tensor::ones({1000});
  profiler::Profile p;
  Tensor z = Tensor::zeros({1000});  // 1000 float32
  Tensor s = add(a, a);              // a (1000,) float32 output
  Tensor d = Tensor::zeros({250}, float64);
  {
    profiler::Range r("temporary");
    Tensor t = mul(a, a);  // allocated and freed inside the range
  }
  p.stop();
  const auto& evs = p.events();
  ASSERT_EQ(evs.size(), 5u);
  EXPECT_EQ(evs[0].name, "zeros");
  EXPECT_EQ(evs[0].bytes_allocated, 4000);
  EXPECT_EQ(evs[0].self_bytes_allocated, 4000);
  EXPECT_EQ(evs[0].bytes_freed, 0);
  EXPECT_EQ(evs[1].name, "add");
  EXPECT_EQ(evs[1].bytes_allocated, 4000);
  EXPECT_EQ(evs[2].name, "zeros");
  EXPECT_EQ(evs[2].bytes_allocated, 2000);
  EXPECT_EQ(evs[3].name, "temporary");
  EXPECT_EQ(evs[3].bytes_allocated, 4000);
  EXPECT_EQ(evs[3].bytes_freed, 4000);
  EXPECT_EQ(evs[3].self_bytes_allocated, 0);  // mul's, not the range's own
  EXPECT_EQ(evs[3].self_bytes_freed, 4000);   // freed when t left the range
  EXPECT_EQ(evs[4].name, "mul");
  EXPECT_EQ(evs[4].self_bytes_allocated, 4000);
}

TEST(Profiler, GraphRunsAreStepsWithNodeChildren) {
  Graph g;
  Tensor x = g.input("x", {2, 8});
  Tensor y = sum(relu(mul(x, x)));
  Executable exe = compile(g, {y});
  Tensor feed = Tensor::ones({2, 8});
  exe.run({{"x", feed}});  // outside the profile
  profiler::Profile p;
  for (int r = 0; r < 3; ++r) exe.run({{"x", feed}});
  p.stop();
  const auto& evs = p.events();
  const auto runs = of_kind(evs, EventKind::graph_run);
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_TRUE(of_kind(evs, EventKind::op).empty()) << "a compiled run calls no eager op";
  const auto nodes = of_kind(evs, EventKind::graph_node);
  EXPECT_EQ(nodes.size() % 3, 0u);
  const size_t per_run = nodes.size() / 3;
  EXPECT_GE(per_run, 1u);
  for (const Event* r : runs) {
    EXPECT_EQ(r->name.rfind("graph #", 0), 0u) << r->name;
    EXPECT_EQ(r->name, "graph #" + std::to_string(r->graph));
    EXPECT_EQ(r->depth, 0);
    size_t children = 0;
    int64_t child_ns = 0;
    std::vector<int32_t> node_ids;
    for (const Event* n : nodes) {
      if (n->parent != r->id) continue;
      ++children;
      child_ns += n->duration_ns;
      node_ids.push_back(n->node);
      EXPECT_EQ(n->graph, r->graph);
      EXPECT_GE(n->node, 0);
      EXPECT_FALSE(n->input_shapes.empty()) << n->name;
    }
    EXPECT_EQ(children, per_run);
    EXPECT_TRUE(std::is_sorted(node_ids.begin(), node_ids.end()));
    EXPECT_EQ(r->self_ns + child_ns, r->duration_ns);
  }
  // Every node name is an op name of the graph's dump.
  const std::string dump = exe.dump();
  for (const Event* n : nodes) EXPECT_NE(dump.find(n->name), std::string::npos) << n->name;
}

TEST(Profiler, WorkerThreadEventsCarryTheirThreadId) {
  Tensor a = Tensor::ones({32});
  uint64_t worker_id = 0;
  profiler::Profile p;
  add(a, a);
  std::thread t([&] {
    worker_id = profiler::thread_id();
    profiler::Range r("worker batch");
    mul(a, a);
    mul(a, a);
  });
  t.join();
  p.stop();
  ASSERT_NE(worker_id, 0u);
  EXPECT_NE(worker_id, profiler::thread_id());
  std::map<std::string, int> on_worker, on_main;
  for (const Event& e : p.events()) {
    if (e.thread == worker_id) on_worker[e.name]++;
    if (e.thread == profiler::thread_id()) on_main[e.name]++;
  }
  EXPECT_EQ(on_worker, (std::map<std::string, int>{{"mul", 2}, {"worker batch", 1}}));
  EXPECT_EQ(on_main, (std::map<std::string, int>{{"add", 1}}));
}

TEST(Profiler, DataLoaderWorkersOpsAreOnTheirOwnThreads) {
  // A transform (ops on each example) runs on the loader's 2 worker threads.
  Tensor images = Tensor::ones({12, 1, 4, 4});
  Tensor labels = Tensor::zeros({12}, int64);
  data::Transform twice = [](const Tensor& x, Generator&) { return mul(x, 2.0); };
  profiler::Profile p;  // before the workers start making batches
  data::DataLoader loader(images, labels,
                          {.batch_size = 4, .shuffle = false, .num_workers = 2,
                           .transform = twice});
  int batches = 0;
  while (auto b = loader.next()) {
    profiler::Range r("train step");
    sum(b->x);
    ++batches;
  }
  p.stop();
  EXPECT_EQ(batches, 3);
  const uint64_t main = profiler::thread_id();
  std::map<uint64_t, int> transform_calls;  // thread -> mul_scalar events
  int steps_on_main = 0;
  for (const Event& e : p.events()) {
    if (e.name == "mul_scalar") transform_calls[e.thread]++;
    if (e.name == "train step" && e.thread == main) ++steps_on_main;
  }
  EXPECT_EQ(steps_on_main, 3);
  int total = 0;
  for (const auto& [thread, n] : transform_calls) {
    EXPECT_NE(thread, main) << "transforms run on the workers";
    total += n;
  }
  EXPECT_EQ(total, 12);  // one per example, each on the worker that made its batch
  EXPECT_LE(transform_calls.size(), 2u);
}

TEST(Profiler, ManyThreadsAtOnceLoseNothing) {
  Tensor a = Tensor::ones({16});
  profiler::Profile p;
  std::vector<std::thread> ts;
  for (int k = 0; k < 4; ++k)
    ts.emplace_back([&] {
      for (int i = 0; i < 200; ++i) add(a, a);
    });
  for (auto& t : ts) t.join();
  p.stop();
  EXPECT_EQ(of_kind(p.events(), EventKind::op).size(), 800u);
  std::set<uint64_t> threads;
  for (const Event& e : p.events()) threads.insert(e.thread);
  EXPECT_EQ(threads.size(), 4u);
}

TEST(Profiler, EventCapDropsAndCounts) {
  Tensor a = Tensor::ones({4});
  profiler::Profile p({.max_events = 5});
  for (int i = 0; i < 12; ++i) add(a, a);
  p.stop();
  EXPECT_EQ(p.events().size(), 5u);
  EXPECT_EQ(p.dropped(), 7);
  EXPECT_NE(p.table().find("Dropped events: 7"), std::string::npos) << p.table();
  EXPECT_NE(p.chrome_trace().find("\"dropped_events\":7"), std::string::npos);
}

TEST(Profiler, ShapesCanBeLeftOut) {
  Tensor a = Tensor::ones({4});
  profiler::Profile p({.record_shapes = false});
  add(a, a);
  p.stop();
  ASSERT_EQ(p.events().size(), 1u);
  EXPECT_TRUE(p.events()[0].input_shapes.empty());
}

TEST(Profiler, Errors) {
  profiler::Profile p;
  EXPECT_DUET_ERROR(profiler::Profile q, "another Profile is already recording");
  EXPECT_DUET_ERROR(p.events(), "still recording; call stop() first");
  p.stop();
  p.stop();  // idempotent
  EXPECT_DUET_ERROR(p.table({.sort_by = "speed"}), "unknown sort_by 'speed'; expected one of");
  EXPECT_DUET_ERROR(profiler::Profile({.max_events = 0}), "max_events is 0");
  profiler::Profile again;  // the first one stopped: a new one may record
  again.stop();
}

// The table's data rows, first column (the name), in order.
std::vector<std::string> row_names(const std::string& table) {
  std::istringstream is(table);
  std::string line;
  std::vector<std::string> names;
  int rules = 0;
  while (std::getline(is, line)) {
    if (line.rfind("---", 0) == 0) {
      ++rules;
      continue;
    }
    if (rules == 2) names.push_back(line.substr(0, line.find(' ')));
  }
  return names;
}

TEST(Profiler, TableListsOpsSorted) {
  Tensor a = Tensor::ones({64, 64});
  profiler::Profile p;
  for (int i = 0; i < 4; ++i) add(a, a);
  for (int i = 0; i < 3; ++i) mul(a, a);
  for (int i = 0; i < 2; ++i) relu(a);
  matmul(a, a);
  p.stop();
  const std::string by_calls = p.table({.sort_by = "calls"});
  EXPECT_EQ(row_names(by_calls), (std::vector<std::string>{"add", "mul", "relu", "matmul"}))
      << by_calls;
  EXPECT_NE(by_calls.find("Self CPU %"), std::string::npos);
  EXPECT_NE(by_calls.find("# of Calls"), std::string::npos);
  EXPECT_NE(by_calls.find("Self CPU time total:"), std::string::npos);
  EXPECT_EQ(row_names(p.table({.sort_by = "name"})),
            (std::vector<std::string>{"add", "matmul", "mul", "relu"}));
  EXPECT_EQ(row_names(p.table({.sort_by = "calls", .row_limit = 2})),
            (std::vector<std::string>{"add", "mul"}));
  // Sorted by self time: the rows' self times, from the events, do not increase.
  std::map<std::string, int64_t> self;
  for (const Event& e : p.events()) self[e.name] += e.self_ns;
  const auto rows = row_names(p.table());
  ASSERT_EQ(rows.size(), 4u);
  for (size_t i = 1; i < rows.size(); ++i) EXPECT_GE(self[rows[i - 1]], self[rows[i]]);
  // Allocation column: each add/mul/relu/matmul allocates one 64x64 float32 output.
  const std::string by_alloc = p.table({.sort_by = "self_alloc"});
  EXPECT_EQ(row_names(by_alloc), (std::vector<std::string>{"add", "mul", "relu", "matmul"}));
  EXPECT_NE(by_alloc.find("64.0 KiB"), std::string::npos) << by_alloc;  // 4 adds
}

TEST(Profiler, ChromeTraceParsesWithTheEventFields) {
  Tensor a = Tensor::ones({2, 3});
  profiler::Profile p;
  {
    profiler::Range r("load \"batch\"\n\t\\ 1");  // quotes, control chars, backslash
    add(a, a);
    relu(a);
  }
  p.stop();
  const auto dir = std::filesystem::temp_directory_path() / "duet_profiler_test";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "trace.json").string();
  p.export_chrome_trace(path);
  std::ifstream in(path);
  const nlohmann::json j = nlohmann::json::parse(in);
  ASSERT_TRUE(j.contains("traceEvents"));
  ASSERT_TRUE(j["traceEvents"].is_array());
  int x_events = 0, op_events = 0;
  bool saw_range = false;
  for (const auto& e : j["traceEvents"]) {
    ASSERT_TRUE(e.contains("ph"));
    if (e["ph"] == "M") continue;
    ASSERT_EQ(e["ph"], "X");
    ++x_events;
    for (const char* field : {"name", "cat", "ts", "dur", "pid", "tid", "args"})
      EXPECT_TRUE(e.contains(field)) << field;
    EXPECT_TRUE(e["ts"].is_number());
    EXPECT_TRUE(e["dur"].is_number());
    EXPECT_TRUE(e["tid"].is_number_integer());
    if (e["cat"] == "op") {
      ++op_events;
      EXPECT_EQ(e["args"]["input_dtypes"][0], "float32");
    }
    if (e["name"] == "load \"batch\"\n\t\\ 1") saw_range = true;
    if (e["name"] == "add") {
      EXPECT_EQ(e["args"]["input_shapes"], nlohmann::json::parse("[[2,3],[2,3]]"));
      EXPECT_EQ(e["args"]["bytes_allocated"], 24);
    }
  }
  EXPECT_EQ(x_events, 3);
  EXPECT_EQ(op_events, 2);
  EXPECT_TRUE(saw_range);
  EXPECT_EQ(j["otherData"]["dropped_events"], 0);
  // Nesting survives the microsecond conversion: add lies inside the range.
  double range_ts = 0, range_end = 0, add_ts = -1, add_end = 0;
  for (const auto& e : j["traceEvents"]) {
    if (e["ph"] != "X") continue;
    const double ts = e["ts"].get<double>(), end = ts + e["dur"].get<double>();
    if (e["cat"] == "range") range_ts = ts, range_end = end;
    if (e["name"] == "add") add_ts = ts, add_end = end;
  }
  EXPECT_GE(add_ts, range_ts);
  EXPECT_LE(add_end, range_end);

  // Python's json module (the reference reader), when python3 is there.
  if (std::system("python3 -c 'import json' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3 not available";
  const std::string cmd =
      "python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); "
      "x=[e for e in t[\"traceEvents\"] if e[\"ph\"]==\"X\"]; "
      "assert all(k in e for e in x for k in (\"ph\",\"ts\",\"dur\",\"pid\",\"tid\",\"name\")); "
      "sys.exit(0 if len(x)==3 else 1)' " +
      path;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::filesystem::remove_all(dir);
}

TEST(Profiler, ExportToAnUnwritablePathIsAnError) {
  profiler::Profile p;
  p.stop();
  EXPECT_DUET_ERROR(p.export_chrome_trace("/nonexistent_dir_duet/trace.json"),
                    "export_chrome_trace: '/nonexistent_dir_duet/trace.json'");
}

}  // namespace
}  // namespace duet

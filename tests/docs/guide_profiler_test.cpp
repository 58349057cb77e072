// docs/guide.md, "Profiling": each TEST holds one ```cpp block of that section line for line
// (UserGuide.SnippetsAreHere), plus assertions on what its comments promise.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "duet/graph.h"
#include "duet/models/fashion_cnn.h"
#include "duet/nn.h"
#include "duet/ops.h"
#include "duet/optim.h"
#include "duet/profiler.h"
#include "duet/train/profile_callback.h"

namespace {

// Runs the test body in a fresh temporary directory (the snippets write trace.json there).
class InTempDir {
 public:
  InTempDir() : old_(std::filesystem::current_path()) {
    dir_ = std::filesystem::temp_directory_path() /
           ("duet_guide_profiler_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
    std::filesystem::create_directories(dir_);
    std::filesystem::current_path(dir_);
  }
  ~InTempDir() {
    std::filesystem::current_path(old_);
    std::filesystem::remove_all(dir_);
  }

 private:
  std::filesystem::path old_, dir_;
};

struct TinyTraining {
  duet::Generator gen{0};
  std::shared_ptr<duet::nn::Sequential> net = duet::models::fashion_cnn(gen);
  duet::optim::SGD opt{net->parameters(), 0.01, 0.9};
  duet::Tensor x = duet::Tensor::randn({8, 1, 28, 28}, gen);
  duet::Tensor y = duet::Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}, {8});
};

TEST(GuideProfiler, ProfileEagerSteps) {
  InTempDir tmp;
  TinyTraining s;
  auto& net = s.net;
  auto& opt = s.opt;
  auto& x = s.x;
  auto& y = s.y;
  std::ostringstream captured;
  std::streambuf* old_cout = std::cout.rdbuf(captured.rdbuf());
  // clang-format off
duet::profiler::Profile prof;  // records every op from here on, on every thread
for (int step = 0; step < 3; ++step) {
  duet::profiler::Range r("step");  // a named region around each step
  opt.zero_grad();
  duet::Tensor loss = duet::cross_entropy((*net)(x), y);
  loss.backward();  // each gradient rule is an event ("conv2d_grad"), its ops inside
  opt.step();
}
prof.stop();
prof.export_chrome_trace("trace.json");  // open it in ui.perfetto.dev or chrome://tracing
std::cout << prof.table({.sort_by = "self_cpu", .row_limit = 8});
  // clang-format on
  std::cout.rdbuf(old_cout);
  const std::string table = captured.str();
  EXPECT_NE(table.find("Self CPU %"), std::string::npos) << table;
  EXPECT_NE(table.find("Self CPU time total:"), std::string::npos) << table;
  EXPECT_NE(table.find("more rows not shown"), std::string::npos) << table;  // row_limit 8
  int steps = 0, grads = 0, conv_grads = 0;
  for (const auto& e : prof.events()) {
    steps += e.kind == duet::profiler::EventKind::range && e.name == "step";
    grads += e.kind == duet::profiler::EventKind::backward;
    conv_grads += e.name == "conv2d_grad";
  }
  EXPECT_EQ(steps, 3);
  EXPECT_GT(grads, 0);
  EXPECT_GT(conv_grads, 0);
  std::ifstream in("trace.json");
  const auto j = nlohmann::json::parse(in);
  size_t x_events = 0;
  for (const auto& e : j["traceEvents"]) x_events += e["ph"] == "X";
  EXPECT_EQ(x_events, prof.events().size());
}

TEST(GuideProfiler, Events) {
  TinyTraining s;
  auto& net = s.net;
  auto& x = s.x;
  std::ostringstream captured;
  std::streambuf* old_cout = std::cout.rdbuf(captured.rdbuf());
  // clang-format off
duet::profiler::Profile prof;
duet::Tensor logits = (*net)(x);
prof.stop();
for (const duet::profiler::Event& e : prof.events()) {
  if (e.name == "conv2d") {  // its input shapes, time, and the bytes it allocated
    std::cout << duet::shape_str(e.input_shapes[0]) << " " << e.duration_ns << " ns "
              << e.bytes_allocated << " bytes\n";
  }
}
  // clang-format on
  std::cout.rdbuf(old_cout);
  EXPECT_NE(captured.str().find("(8, 1, 28, 28) "), std::string::npos) << captured.str();
  EXPECT_EQ(logits.shape(), (duet::Shape{8, 10}));
}

TEST(GuideProfiler, GraphMode) {
  TinyTraining s;
  auto& net = s.net;
  auto& opt = s.opt;
  auto& x = s.x;
  auto& y = s.y;
  duet::Graph g({.training = true});
  auto xi = g.input("x", {8, 1, 28, 28});
  auto yi = g.input("y", {8}, duet::int64);
  duet::CompileOptions co;
  co.training = true;
  co.optimizer = &opt;
  auto step = duet::compile(g, {duet::cross_entropy((*net)(xi), yi)}, co);
  // clang-format off
duet::profiler::Profile prof;
step.run({{"x", x}, {"y", y}});  // one "graph #N" event, one child event per node
prof.stop();
std::cout << prof.table({.sort_by = "total_cpu", .row_limit = 5});
  // clang-format on
  int runs = 0, nodes = 0;
  for (const auto& e : prof.events()) {
    runs += e.kind == duet::profiler::EventKind::graph_run;
    nodes += e.kind == duet::profiler::EventKind::graph_node;
  }
  EXPECT_EQ(runs, 1);
  EXPECT_GT(nodes, 10);
}

TEST(GuideProfiler, ProfileStepsCallback) {
  InTempDir tmp;
  // clang-format off
// Steps 10 to 14 of fit: a "step N" range each, then trace.json and the table on stdout.
auto prof = std::make_shared<duet::train::ProfileSteps>(10, 5, "trace.json");
  // clang-format on
  EXPECT_EQ(prof->profile(), nullptr);
  EXPECT_EQ(prof->steps_recorded(), 0);
}

}  // namespace

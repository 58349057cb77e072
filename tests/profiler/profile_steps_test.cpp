// duet::train::ProfileSteps, driven by a hand-written loop (what fit does around each step).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "duet/duet.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "duet/train.h"
#include "test_util.h"

namespace duet {
namespace {

// Runs `steps` SGD steps of a small linear model, calling the callback as fit would.
void train_steps(train::Callback& cb, int64_t steps) {
  Generator gen(0);
  auto net = std::make_shared<nn::Linear>(4, 2, true, gen);
  optim::SGD opt(net->parameters(), 0.1);
  Tensor x = Tensor::randn({8, 4}, gen), y = Tensor::randn({8, 2}, gen);
  train::FitState state;
  state.model = net.get();
  state.optimizer = &opt;
  cb.on_train_begin(state);
  for (int64_t s = 0; s < steps; ++s) {
    state.batch = s;
    cb.on_batch_begin(state);
    opt.zero_grad();
    Tensor loss = mse_loss((*net)(x), y);
    loss.backward();
    opt.step();
    state.global_step++;
    train::Logs logs;
    logs.set("loss", loss.item<double>());
    cb.on_batch_end(state, logs);
  }
  cb.on_train_end(state);
}

TEST(ProfileSteps, RecordsTheWindowWritesTheTraceAndPrintsTheTable) {
  const auto dir = std::filesystem::temp_directory_path() / "duet_profile_steps_test";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "steps.json").string();
  std::ostringstream out;
  train::ProfileSteps cb(2, 3, path, {.out = &out});
  EXPECT_EQ(cb.profile(), nullptr);
  train_steps(cb, 6);
  ASSERT_NE(cb.profile(), nullptr);
  EXPECT_EQ(cb.steps_recorded(), 3);
  const auto& evs = cb.profile()->events();
  std::vector<std::string> ranges;
  std::set<int64_t> range_ids;
  for (const auto& e : evs) {
    if (e.kind == profiler::EventKind::range) {
      ranges.push_back(e.name);
      range_ids.insert(e.id);
    }
  }
  EXPECT_EQ(ranges, (std::vector<std::string>{"step 2", "step 3", "step 4"}));
  // Every event lies inside a step: the top-level ones are the ranges.
  int64_t linear_calls = 0;
  for (const auto& e : evs) {
    if (e.depth == 0) {
      EXPECT_EQ(e.kind, profiler::EventKind::range) << e.name;
    }
    if (e.depth == 1) {
      EXPECT_TRUE(range_ids.count(e.parent)) << e.name;
    }
    if (e.kind == profiler::EventKind::op && e.name == "linear") ++linear_calls;
  }
  EXPECT_EQ(linear_calls, 3);  // one forward per step
  EXPECT_NE(out.str().find("profile of 3 steps (trace: " + path + ")"), std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find("Self CPU %"), std::string::npos);
  std::ifstream in(path);
  const auto j = nlohmann::json::parse(in);
  int x_events = 0;
  for (const auto& e : j["traceEvents"]) x_events += e["ph"] == "X";
  EXPECT_EQ(x_events, static_cast<int>(evs.size()));
  std::filesystem::remove_all(dir);
}

TEST(ProfileSteps, AFitThatEndsInsideTheWindowFinishesTheProfile) {
  std::ostringstream out;
  train::ProfileSteps cb(1, 10, "", {.out = &out});
  train_steps(cb, 3);
  ASSERT_NE(cb.profile(), nullptr);
  EXPECT_EQ(cb.steps_recorded(), 2);
  EXPECT_NE(out.str().find("profile of 2 steps\n"), std::string::npos) << out.str();
  EXPECT_FALSE(profiler::is_profiling());
}

TEST(ProfileSteps, BadArguments) {
  EXPECT_DUET_ERROR(train::ProfileSteps(-1, 2, ""), "ProfileSteps: first_step is -1");
  EXPECT_DUET_ERROR(train::ProfileSteps(0, 0, ""), "ProfileSteps: num_steps is 0; expected >= 1");
}

}  // namespace
}  // namespace duet

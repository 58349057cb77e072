// duet::train::ProfileSteps: profile a window of fit's training steps (duet/profiler.h),
// write a Chrome trace and print the summary table.
//
//   auto prof = std::make_shared<duet::train::ProfileSteps>(10, 5, "trace.json");
//   duet::train::fit(*net, loss_fn, opt, train_loader, {.epochs = 1, .callbacks = {prof}});
//   // steps 10..14 (global steps, 0-based: a resumed fit counts on) are recorded, each inside
//   // a "step N" range; after step 14 trace.json is written and the table printed to stdout
//
// The window starts at the first batch whose global step is >= first_step. A fit that ends
// inside the window (or an exception that unwinds it) finishes the profile with the steps
// recorded so far in on_train_end. Without fit, call on_batch_begin/on_batch_end around your
// own steps with a FitState whose global_step you advance.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>

#include "duet/profiler.h"
#include "duet/train/callback.h"

namespace duet::train {

struct ProfileStepsOptions {
  bool print_table = true;            // the table to `out` when the window ends
  std::ostream* out = nullptr;        // null: std::cout
  profiler::TableOptions table = {};  // sort_by "self_cpu", 20 rows
  profiler::ProfileOptions profile = {};
};

class ProfileSteps : public Callback {
 public:
  // first_step >= 0, num_steps >= 1; trace_path may be empty (no trace written).
  ProfileSteps(int64_t first_step, int64_t num_steps, std::string trace_path,
               ProfileStepsOptions options = {});
  ~ProfileSteps() override;

  void on_batch_begin(FitState& state) override;
  void on_batch_end(FitState& state, const Logs& logs) override;
  void on_train_end(FitState& state) override;
  bool rank_zero_only() const override { return true; }

  // The finished profile (null until the window ends): its events, table, trace.
  const profiler::Profile* profile() const { return done_ ? profile_.get() : nullptr; }
  int64_t steps_recorded() const { return steps_; }

 private:
  void finish();

  int64_t first_step_, num_steps_;
  std::string trace_path_;
  ProfileStepsOptions options_;
  std::unique_ptr<profiler::Profile> profile_;
  std::unique_ptr<profiler::Range> step_range_;
  int64_t steps_ = 0;
  bool done_ = false;
};

}  // namespace duet::train

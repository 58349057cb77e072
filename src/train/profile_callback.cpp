#include "duet/train/profile_callback.h"

#include <iostream>

#include "duet/error.h"

namespace duet::train {

ProfileSteps::ProfileSteps(int64_t first_step, int64_t num_steps, std::string trace_path,
                           ProfileStepsOptions options)
    : first_step_(first_step),
      num_steps_(num_steps),
      trace_path_(std::move(trace_path)),
      options_(std::move(options)) {
  DUET_CHECK(first_step >= 0, "ProfileSteps: first_step is ", first_step, "; expected >= 0");
  DUET_CHECK(num_steps >= 1, "ProfileSteps: num_steps is ", num_steps, "; expected >= 1");
}

ProfileSteps::~ProfileSteps() {
  step_range_.reset();  // before the profile it records into
}

void ProfileSteps::on_batch_begin(FitState& state) {
  if (done_) return;
  if (!profile_) {
    if (state.global_step < first_step_) return;
    profile_ = std::make_unique<profiler::Profile>(options_.profile);
  }
  step_range_ = std::make_unique<profiler::Range>("step " + std::to_string(state.global_step));
}

void ProfileSteps::on_batch_end(FitState&, const Logs&) {
  if (done_ || !profile_) return;
  step_range_.reset();
  if (++steps_ >= num_steps_) finish();
}

void ProfileSteps::on_train_end(FitState&) {
  if (!done_ && profile_) finish();
}

void ProfileSteps::finish() {
  step_range_.reset();
  profile_->stop();
  done_ = true;
  if (!trace_path_.empty()) profile_->export_chrome_trace(trace_path_);
  if (options_.print_table) {
    std::ostream& os = options_.out ? *options_.out : std::cout;
    os << "profile of " << steps_ << (steps_ == 1 ? " step" : " steps")
       << (trace_path_.empty() ? std::string() : " (trace: " + trace_path_ + ")") << "\n"
       << profile_->table(options_.table);
  }
}

}  // namespace duet::train

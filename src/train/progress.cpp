// ProgressBar: a live '\r' line on a terminal, one plain line per epoch otherwise.
#include <unistd.h>

#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "duet/train/callbacks.h"

namespace duet::train {

namespace {

double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

std::string format_seconds(double s) {
  std::ostringstream os;
  if (s >= 3600)
    os << static_cast<int64_t>(s / 3600) << "h" << std::setw(2) << std::setfill('0')
       << static_cast<int64_t>(s / 60) % 60 << "m";
  else if (s >= 60)
    os << static_cast<int64_t>(s / 60) << "m" << std::setw(2) << std::setfill('0')
       << static_cast<int64_t>(s) % 60 << "s";
  else
    os << std::fixed << std::setprecision(s < 10 ? 1 : 0) << s << "s";
  return os.str();
}

// "loss 0.3121 - accuracy 0.8874", skipping `skip`.
std::string format_logs(const Logs& logs, const std::string& skip = "") {
  std::ostringstream os;
  bool first = true;
  for (const auto& [k, v] : logs.items()) {
    if (k == skip) continue;
    os << (first ? "" : " - ") << k << " " << std::setprecision(4) << v;
    first = false;
  }
  return os.str();
}

}  // namespace

ProgressBar::ProgressBar(Progress mode, std::ostream* out)
    : out_(out ? *out : std::cout),
      live_(mode == Progress::bar ||
            (mode == Progress::automatic && (out == nullptr || out == &std::cout) &&
             isatty(STDOUT_FILENO))) {}

void ProgressBar::on_epoch_begin(FitState&) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
  train_seconds_ = 0;
  loss_sum_ = 0;
  loss_count_ = 0;
}

void ProgressBar::on_batch_end(FitState& s, const Logs& logs) {
  if (s.batch + 1 == s.steps_per_epoch) train_seconds_ = seconds(std::chrono::steady_clock::now() - start_);
  if (!live_ || logs.empty()) return;
  if (auto l = logs.get("loss")) {
    loss_sum_ += *l;
    ++loss_count_;
  }
  const auto now = std::chrono::steady_clock::now();
  const int64_t done = s.batch + 1;
  if (seconds(now - last_draw_) < 0.1 && done < s.steps_per_epoch) return;  // ~10 redraws/s
  last_draw_ = now;
  const double elapsed = seconds(now - start_);
  const int width = 20;
  const int filled = s.steps_per_epoch > 0 ? static_cast<int>(width * done / s.steps_per_epoch) : 0;
  std::ostringstream os;
  os << "\repoch " << s.epoch + 1 << "/" << s.epochs << "  " << done << "/" << s.steps_per_epoch
     << " [";
  for (int i = 0; i < width; ++i) os << (i < filled ? '=' : i == filled ? '>' : ' ');
  os << "] loss " << std::setprecision(4) << (loss_count_ ? loss_sum_ / loss_count_ : 0.0);
  for (const auto& [k, v] : logs.items())
    if (k != "loss" && k != "lr") os << " - " << k << " " << std::setprecision(4) << v;
  // distributed: every rank trains as many samples at the same time
  const double seen = static_cast<double>(s.samples_seen * s.world_size);
  if (elapsed > 0) os << " - " << std::fixed << std::setprecision(0) << seen / elapsed
                      << " img/s";
  if (done > 0 && done < s.steps_per_epoch)
    os << " - ETA " << format_seconds(elapsed / done * (s.steps_per_epoch - done));
  os << "\033[K";  // clear what a longer previous line left
  out_ << os.str() << std::flush;
}

void ProgressBar::on_epoch_end(FitState& s, const Logs& logs) {
  const double elapsed = seconds(std::chrono::steady_clock::now() - start_);
  std::ostringstream os;
  if (live_) os << "\r";
  os << "epoch " << s.epoch + 1 << "/" << s.epochs << " - " << s.batch + 1 << "/"
     << s.steps_per_epoch << " - " << format_seconds(elapsed);
  // images/s over the training steps (the validation pass after them is not counted)
  const double train_seconds = train_seconds_ > 0 ? train_seconds_ : elapsed;
  if (train_seconds > 0)
    os << " - " << std::fixed << std::setprecision(0)
       << static_cast<double>(s.samples_seen * s.world_size) / train_seconds << " img/s";
  os.unsetf(std::ios::fixed);
  os << " - " << format_logs(logs);
  if (live_) os << "\033[K";
  out_ << os.str() << "\n" << std::flush;
}

}  // namespace duet::train

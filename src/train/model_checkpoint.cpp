// ModelCheckpoint: last and best checkpoints at the end of epochs.
#include "duet/train/model_checkpoint.h"

#include <cmath>
#include <cstdio>

#include "duet/io/safetensors.h"
#include "duet/nn/module.h"
#include "duet/train/checkpoint.h"

namespace duet::train {

ModelCheckpoint::ModelCheckpoint(ModelCheckpointOptions options) : options_(std::move(options)) {
  DUET_CHECK(options_.mode == "min" || options_.mode == "max", "ModelCheckpoint: mode = '",
             options_.mode, "' (expected \"min\" or \"max\")");
  DUET_CHECK(!options_.last.empty() || !options_.best.empty(),
             "ModelCheckpoint: neither `last` nor `best` is set (expected a file name pattern "
             "for at least one)");
  DUET_CHECK(options_.best.empty() || !options_.monitor.empty(),
             "ModelCheckpoint: `best` needs a `monitor` log name");
}

std::string ModelCheckpoint::expand(const std::string& pattern, int64_t epoch, int64_t step,
                                    const Logs& logs) {
  std::string out;
  for (size_t i = 0; i < pattern.size();) {
    if (pattern[i] != '{') {
      out += pattern[i++];
      continue;
    }
    const size_t close = pattern.find('}', i);
    DUET_CHECK(close != std::string::npos, "ModelCheckpoint: file name pattern '", pattern,
               "' has an unclosed '{'");
    const std::string name = pattern.substr(i + 1, close - i - 1);
    if (name == "epoch") {
      out += std::to_string(epoch);
    } else if (name == "step") {
      out += std::to_string(step);
    } else {
      auto v = logs.get(name);
      DUET_CHECK(v.has_value(), "ModelCheckpoint: file name pattern '", pattern, "' names {",
                 name, "} but the epoch's logs hold ", logs.str().empty() ? "nothing" : logs.str(),
                 " (expected {epoch}, {step} or a log name)");
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.4f", *v);
      out += buf;
    }
    i = close + 1;
  }
  return out;
}

void ModelCheckpoint::save(const std::string& path, FitState& s, const Logs& logs) const {
  DUET_CHECK(s.model != nullptr, "ModelCheckpoint: fit gave no model");
  if (options_.weights_only) {
    io::save_weights(*s.model, path);
    return;
  }
  Checkpoint c{.model = s.model,
               .optimizer = s.optimizer,
               .scheduler = options_.scheduler,
               .loader = s.train_loader,
               .grad_scaler = s.grad_scaler,
               .generators = options_.generators,
               .default_generator = true,
               .epoch = s.epoch + 1,
               .global_step = s.global_step,
               .metadata = options_.metadata};
  for (const auto& [k, v] : logs.items()) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    c.metadata.emplace("logs." + k, buf);
  }
  save_checkpoint(path, c);
}

void ModelCheckpoint::on_epoch_end(FitState& s, const Logs& logs) {
  const int64_t epoch = s.epoch + 1;
  if (!options_.best.empty()) {
    const double v = logs.at(options_.monitor);  // names the key and the keys present
    const bool better = !std::isnan(v) && (!best_ || (options_.mode == "min" ? v < *best_
                                                                             : v > *best_));
    if (better) {
      best_ = v;
      best_path_ = expand(options_.best, epoch, s.global_step, logs);
      save(best_path_, s, logs);
    }
  }
  if (!options_.last.empty()) {
    last_path_ = expand(options_.last, epoch, s.global_step, logs);
    save(last_path_, s, logs);
  }
}

}  // namespace duet::train

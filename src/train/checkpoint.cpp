// Checkpoints: one safetensors file (tensors for the model, optimizer state and generators;
// __metadata__ for everything else), loaded all-or-nothing with snapshots and rollback.
#include "duet/train/checkpoint.h"

#include <bit>
#include <cerrno>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <set>

#include "duet/amp.h"
#include "duet/autograd.h"
#include "duet/data/dataloader.h"
#include "duet/io/safetensors.h"
#include "duet/nn/module.h"
#include "duet/optim/lr_scheduler.h"
#include "duet/optim/optimizer.h"
#include "io/reader.h"

namespace duet::train {
namespace {

constexpr const char* kFormat = "duet.checkpoint";
constexpr int64_t kMaxCount = int64_t{1} << 62;

using Meta = std::map<std::string, std::string>;

std::string fmt_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// The metadata value of `key`, or an error naming the key.
const std::string& need(const Meta& m, const std::string& key, const std::string& where) {
  auto it = m.find(key);
  DUET_CHECK(it != m.end(), where, "the metadata has no '", key, "' entry (expected one)");
  return it->second;
}

int64_t parse_int(const Meta& m, const std::string& key, int64_t lo, int64_t hi,
                  const std::string& where) {
  const std::string& s = need(m, key, where);
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  DUET_CHECK(ec == std::errc() && end == s.data() + s.size() && v >= lo && v <= hi, where,
             "metadata '", key, "' = ", io::quote(s), " (expected an integer from ", lo, " to ",
             hi, ")");
  return v;
}

uint64_t parse_u64(const Meta& m, const std::string& key, const std::string& where) {
  const std::string& s = need(m, key, where);
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  DUET_CHECK(ec == std::errc() && end == s.data() + s.size() && !s.empty(), where, "metadata '",
             key, "' = ", io::quote(s), " (expected an unsigned 64-bit integer)");
  return v;
}

// A double as fmt_double writes it; NaN is refused, infinities only when allowed.
double parse_double(const std::string& key, const std::string& s, bool allow_inf,
                    const std::string& where) {
  const char* begin = s.c_str();
  char* end = nullptr;
  errno = 0;
  const double v = s.empty() || s.size() > 64 ? NAN : std::strtod(begin, &end);
  const bool whole = end == begin + s.size() && !s.empty() && s.size() <= 64 &&
                     !std::isspace(static_cast<unsigned char>(s[0]));
  DUET_CHECK(whole && !std::isnan(v) && (allow_inf || std::isfinite(v)), where, "metadata '",
             key, "' = ", io::quote(s), " (expected a ", allow_inf ? "" : "finite ",
             "number)");
  return v;
}

bool parse_bool(const Meta& m, const std::string& key, const std::string& where) {
  return parse_int(m, key, 0, 1, where) == 1;
}

// Entries of `m` starting with `prefix`, the prefix removed, in key order.
std::vector<std::pair<std::string, std::string>> with_prefix(const Meta& m,
                                                             const std::string& prefix) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto it = m.lower_bound(prefix); it != m.end() && it->first.starts_with(prefix); ++it)
    out.emplace_back(it->first.substr(prefix.size()), it->second);
  return out;
}

Tensor generator_tensor(const GeneratorState& st) {
  std::vector<int64_t> v;
  for (uint64_t w : st.s) v.push_back(std::bit_cast<int64_t>(w));
  v.push_back(st.have_spare ? 1 : 0);
  v.push_back(std::bit_cast<int64_t>(st.have_spare ? st.spare : 0.0));
  return Tensor::from_vector(v, {6});
}

GeneratorState generator_state(const std::string& key, const Tensor& t, const std::string& where) {
  DUET_CHECK(t.dtype() == int64 && t.shape() == Shape{6}, where, "tensor '", key, "' has shape ",
             shape_str(t.shape()), " ", t.dtype(), " (expected (6) int64: a generator state)");
  const std::vector<int64_t> v = t.to_vector<int64_t>();
  GeneratorState st;
  for (int i = 0; i < 4; ++i) st.s[i] = std::bit_cast<uint64_t>(v[i]);
  DUET_CHECK(v[4] == 0 || v[4] == 1, where, "tensor '", key, "' has spare flag ", v[4],
             " (expected 0 or 1)");
  st.have_spare = v[4] == 1;
  st.spare = std::bit_cast<double>(v[5]);
  DUET_CHECK((st.s[0] | st.s[1] | st.s[2] | st.s[3]) != 0, where, "tensor '", key,
             "' holds an all-zero generator state (invalid for xoshiro256**)");
  DUET_CHECK(!st.have_spare || std::isfinite(st.spare), where, "tensor '", key,
             "' holds a spare normal that is not finite");
  if (!st.have_spare) st.spare = 0.0;
  return st;
}

std::vector<std::pair<std::string, Generator*>> all_generators(const Checkpoint& c,
                                                                const std::string& where) {
  std::vector<std::pair<std::string, Generator*>> gens;
  std::set<std::string> names;
  if (c.default_generator) {
    gens.emplace_back("default", &default_generator());
    names.insert("default");
  }
  for (const auto& [name, g] : c.generators) {
    DUET_CHECK(g != nullptr, where, "generator '", name, "' is null");
    DUET_CHECK(!name.empty() && name.find('.') == std::string::npos, where, "generator name ",
               io::quote(name), " (expected a non-empty name without '.')");
    DUET_CHECK(names.insert(name).second, where, "generator name '", name,
               "' appears more than once", name == "default" ? " ('default' is duet's)" : "");
    gens.emplace_back(name, g);
  }
  return gens;
}

std::string parts_of(const Checkpoint& c) {
  std::string p;
  auto add = [&](const char* s) { p += (p.empty() ? "" : ",") + std::string(s); };
  if (c.model) add("model");
  if (c.optimizer) add("optimizer");
  if (c.scheduler) add("scheduler");
  if (c.loader) add("loader");
  if (c.grad_scaler) add("grad_scaler");
  return p;
}

void check_part(const std::set<std::string>& parts, const char* part, const std::string& listed,
                const std::string& where) {
  DUET_CHECK(parts.count(part) > 0, where, "the checkpoint holds no ", part, " state (it holds: ",
             listed.empty() ? std::string("none") : listed,
             "; expected one for the ", part, " given to load_checkpoint)");
}

}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  const std::string where = io::where_of("save_checkpoint", path);
  DUET_CHECK(c.epoch >= 0 && c.global_step >= 0, where, "epoch = ", c.epoch, ", global_step = ",
             c.global_step, " (expected >= 0)");
  nn::StateDict tensors;
  Meta meta{{"format", kFormat},
            {"format_version", std::to_string(kCheckpointFormatVersion)},
            {"epoch", std::to_string(c.epoch)},
            {"global_step", std::to_string(c.global_step)},
            {"parts", parts_of(c)}};
  if (c.model)
    for (const auto& [k, t] : c.model->state_dict()) tensors.emplace_back("model." + k, t);
  if (c.optimizer) {
    const optim::OptimizerStateDict sd = c.optimizer->state_dict();
    meta["optimizer.name"] = sd.name;
    for (const auto& [k, v] : sd.hyperparameters) meta["optimizer.hp." + k] = fmt_double(v);
    for (const auto& [k, t] : sd.state) tensors.emplace_back("optimizer." + k, t);
  }
  if (c.grad_scaler)
    for (const auto& [k, t] : c.grad_scaler->state_dict())
      tensors.emplace_back("grad_scaler." + k, t);
  if (c.scheduler) {
    meta["scheduler.name"] = c.scheduler->name();
    for (const auto& [k, v] : c.scheduler->state_dict())
      meta["scheduler.state." + k] = fmt_double(v);
  }
  for (const auto& [name, g] : all_generators(c, where))
    tensors.emplace_back("rng." + name, generator_tensor(g->state()));
  if (c.loader) {
    const data::DataLoaderState s = c.loader->state();
    meta["loader.seed"] = std::to_string(s.seed);
    meta["loader.epoch"] = std::to_string(s.epoch);
    meta["loader.next_batch"] = std::to_string(s.next_batch);
    meta["loader.in_epoch"] = s.in_epoch ? "1" : "0";
    meta["loader.num_samples"] = std::to_string(s.num_samples);
    meta["loader.batch_size"] = std::to_string(s.batch_size);
    meta["loader.shuffle"] = s.shuffle ? "1" : "0";
  }
  for (const auto& [k, v] : c.metadata) meta["user." + k] = v;
  try {
    io::save_safetensors(path, tensors, meta);
  } catch (const Error& e) {
    throw Error(detail::cat("save_checkpoint: ", e.what()));
  }
}

namespace {

CheckpointInfo parse_info(const Meta& meta, const std::string& where) {
  auto f = meta.find("format");
  DUET_CHECK(f != meta.end() && f->second == kFormat, where,
             "not a duet checkpoint (metadata 'format' is ",
             f == meta.end() ? std::string("absent") : io::quote(f->second), ", expected \"",
             kFormat, "\")");
  CheckpointInfo info;
  info.format_version = static_cast<int>(parse_int(meta, "format_version", 1, 1 << 30, where));
  DUET_CHECK(info.format_version <= kCheckpointFormatVersion, where, "format_version ",
             info.format_version, " is newer than this duet reads (", kCheckpointFormatVersion,
             ")");
  info.epoch = parse_int(meta, "epoch", 0, kMaxCount, where);
  info.global_step = parse_int(meta, "global_step", 0, kMaxCount, where);
  for (auto& [k, v] : with_prefix(meta, "user.")) info.metadata.emplace(k, v);
  return info;
}

}  // namespace

CheckpointInfo read_checkpoint_info(const std::string& path) {
  const Meta meta = io::load_safetensors_metadata(path);
  return parse_info(meta, io::where_of("read_checkpoint_info", path));
}

CheckpointInfo load_checkpoint(const std::string& path, const Checkpoint& c) {
  const std::string where = io::where_of("load_checkpoint", path);
  io::SafetensorsFile file = io::load_safetensors_file(path);
  const Meta& meta = file.metadata;
  CheckpointInfo info = parse_info(meta, where);
  const std::string listed = need(meta, "parts", where);
  std::set<std::string> parts;
  for (size_t at = 0; at <= listed.size() && !listed.empty();) {
    const size_t comma = std::min(listed.find(',', at), listed.size());
    parts.insert(listed.substr(at, comma - at));
    at = comma + 1;
  }

  // ---- 1. read and validate the whole file against the targets; nothing changes yet ----
  nn::StateDict model_dict;
  optim::OptimizerStateDict opt_dict;
  std::vector<std::pair<std::string, Tensor>> scaler_dict;
  std::map<std::string, Tensor> rng;
  for (auto& [k, t] : file.tensors) {
    if (k.starts_with("model.")) {
      model_dict.emplace_back(k.substr(6), t);
    } else if (k.starts_with("optimizer.")) {
      opt_dict.state.emplace_back(k.substr(10), t);
    } else if (k.starts_with("rng.")) {
      rng.emplace(k.substr(4), t);
    } else if (k.starts_with("grad_scaler.")) {
      scaler_dict.emplace_back(k.substr(12), t);
    } else {
      throw Error(detail::cat(where, "unexpected tensor ", io::quote(k),
                              " (expected keys starting with model., optimizer., grad_scaler. "
                              "or rng.)"));
    }
  }
  if (c.model) {
    check_part(parts, "model", listed, where);
    // Each tensor goes to the device of the model's tensor of that name.
    std::map<std::string, Device> devices;
    for (const auto& [k, t] : c.model->state_dict()) devices.emplace(k, t.device());
    for (auto& [k, t] : model_dict) {
      auto it = devices.find(k);
      if (it != devices.end() && it->second != t.device()) t = t.to(it->second);
    }
  }
  if (c.optimizer) {
    check_part(parts, "optimizer", listed, where);
    opt_dict.name = need(meta, "optimizer.name", where);
    for (const auto& [k, v] : with_prefix(meta, "optimizer.hp."))
      opt_dict.hyperparameters.emplace_back(k, parse_double("optimizer.hp." + k, v, false, where));
  }
  if (c.grad_scaler) check_part(parts, "grad_scaler", listed, where);
  optim::SchedulerState sched_state;
  if (c.scheduler) {
    check_part(parts, "scheduler", listed, where);
    const std::string& name = need(meta, "scheduler.name", where);
    DUET_CHECK(name == c.scheduler->name(), where, "the checkpoint's schedule is ",
               io::quote(name), " but the scheduler given is \"", c.scheduler->name(), "\"");
    for (const auto& [k, v] : with_prefix(meta, "scheduler.state."))
      sched_state.emplace_back(k, parse_double("scheduler.state." + k, v, true, where));
  }
  std::vector<std::pair<Generator*, GeneratorState>> gen_states;
  for (const auto& [name, g] : all_generators(c, where)) {
    auto it = rng.find(name);
    DUET_CHECK(it != rng.end(), where, "the checkpoint has no state for generator '", name,
               "' (tensor 'rng.", name, "')");
    gen_states.emplace_back(g, generator_state("rng." + name, it->second, where));
  }
  data::DataLoaderState loader_state;
  if (c.loader) {
    check_part(parts, "loader", listed, where);
    loader_state.seed = parse_u64(meta, "loader.seed", where);
    loader_state.epoch = parse_int(meta, "loader.epoch", -1, kMaxCount, where);
    loader_state.next_batch = parse_int(meta, "loader.next_batch", 0, kMaxCount, where);
    loader_state.in_epoch = parse_bool(meta, "loader.in_epoch", where);
    loader_state.num_samples = parse_int(meta, "loader.num_samples", 0, kMaxCount, where);
    loader_state.batch_size = parse_int(meta, "loader.batch_size", 1, kMaxCount, where);
    loader_state.shuffle = parse_bool(meta, "loader.shuffle", where);
  }

  // ---- 2. snapshots of every target, then each part loads with its own checks ----
  nn::StateDict model_before;
  optim::OptimizerStateDict opt_before;
  std::vector<std::pair<std::string, Tensor>> scaler_before;
  optim::SchedulerState sched_before;
  std::vector<GeneratorState> gens_before;
  data::DataLoaderState loader_before;
  {
    NoGradGuard no_grad;
    if (c.model) model_before = nn::clone_state_dict(c.model->state_dict());
    if (c.optimizer) {
      opt_before = c.optimizer->state_dict();
      for (auto& [k, t] : opt_before.state) t = t.clone();
    }
    if (c.grad_scaler)
      for (const auto& [k, t] : c.grad_scaler->state_dict())
        scaler_before.emplace_back(k, t.clone());
  }
  if (c.scheduler) sched_before = c.scheduler->state_dict();
  for (auto& [g, st] : gen_states) gens_before.push_back(g->state());
  if (c.loader) loader_before = c.loader->state();

  // Each part's undo is registered before the part loads, so a part that changes some of its
  // state and then throws is restored too.
  const double sched_opt_lr = c.scheduler ? c.scheduler->optimizer().lr() : 0.0;
  std::vector<std::function<void()>> undo;  // run in reverse on failure
  try {
    if (c.model) {
      undo.emplace_back([&] { c.model->load_state_dict(model_before); });
      c.model->load_state_dict(model_dict);
    }
    if (c.optimizer) {
      undo.emplace_back([&] { c.optimizer->load_state_dict(opt_before); });
      c.optimizer->load_state_dict(opt_dict);
    }
    if (c.grad_scaler) {
      undo.emplace_back([&] { c.grad_scaler->load_state_dict(scaler_before); });
      c.grad_scaler->load_state_dict(scaler_dict);
    }
    if (c.scheduler) {
      undo.emplace_back([&] {
        c.scheduler->load_state_dict(sched_before);
        c.scheduler->optimizer().set_lr(sched_opt_lr);  // the lr it set
        if (c.optimizer) c.optimizer->load_state_dict(opt_before);
      });
      c.scheduler->load_state_dict(sched_state);
    }
    for (size_t i = 0; i < gen_states.size(); ++i) {
      undo.emplace_back([&, i] { gen_states[i].first->set_state(gens_before[i]); });
      gen_states[i].first->set_state(gen_states[i].second);
    }
    if (c.loader) {
      undo.emplace_back([&] { c.loader->set_state(loader_before); });
      c.loader->set_state(loader_state);
    }
  } catch (const Error& e) {
    for (auto it = undo.rbegin(); it != undo.rend(); ++it) (*it)();
    throw Error(detail::cat(where, e.what()));
  }
  return info;
}

}  // namespace duet::train

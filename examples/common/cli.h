// Tiny command-line parsing and reporting helpers shared by the example programs.
//
//   Cli cli(argc, argv, "train_fashion_mnist", usage);
//   int epochs = cli.get_int("--epochs", 3);
//   bool json = cli.flag("--json");
//   examples::Precision p = cli.get_precision();   // --precision fp32|bf16|fp16
//   cli.finish();   // unknown flags -> duet::Error
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "duet/dtype.h"
#include "duet/error.h"

namespace duet::examples {

// --precision: "fp32" (no autocast), "bf16" or "fp16" (autocast to that dtype; fp16 training
// adds loss scaling). `autocast` is what FitOptions/CompileOptions::autocast take.
struct Precision {
  std::string name = "fp32";
  std::optional<DType> autocast{};
  bool low() const { return autocast.has_value(); }
};

// "fp32" | "bf16" | "fp16" (or another name duet::parse_dtype gives float32, bfloat16 or
// float16: "bfloat16", "half", ...) -> Precision, named by the short form; anything else throws
// duet::Error naming `program`, `flag`, the value and the accepted values.
inline Precision parse_precision(const std::string& program, const std::string& flag,
                                 const std::string& value) {
  std::optional<DType> t;
  try {
    t = parse_dtype(value);
  } catch (const Error&) {
    // not a dtype name: the error below says what is accepted
  }
  if (t == float32) return {};
  if (t == bfloat16) return {.name = "bf16", .autocast = bfloat16};
  if (t == float16) return {.name = "fp16", .autocast = float16};
  throw Error(detail::cat(program, ": ", flag, " ", value,
                          " is not a precision (expected fp32, bf16 or fp16)"));
}

class Cli {
 public:
  Cli(int argc, char** argv, std::string program, std::string usage)
      : program_(std::move(program)), usage_(std::move(usage)) {
    for (int i = 1; i < argc; ++i) args_.emplace_back(argv[i]);
    used_.assign(args_.size(), false);
  }

  bool help() { return flag("--help") || flag("-h"); }
  const std::string& usage() const { return usage_; }

  bool flag(const std::string& name) {
    for (size_t i = 0; i < args_.size(); ++i)
      if (args_[i] == name) return used_[i] = true;
    return false;
  }

  std::string get(const std::string& name, const std::string& dflt) {
    for (size_t i = 0; i < args_.size(); ++i) {
      if (args_[i] != name) continue;
      DUET_CHECK(i + 1 < args_.size(), program_, ": ", name, " needs a value");
      used_[i] = used_[i + 1] = true;
      return args_[i + 1];
    }
    return dflt;
  }

  int64_t get_int(const std::string& name, int64_t dflt, int64_t min_value = 1) {
    std::string v = get(name, "");
    if (v.empty()) return dflt;
    size_t pos = 0;
    int64_t r = 0;
    try {
      r = std::stoll(v, &pos);
    } catch (...) {
      pos = 0;
    }
    DUET_CHECK(pos == v.size() && r >= min_value, program_, ": ", name, " ", v,
               " is not a valid value (expected an integer >= ", min_value, ")");
    return r;
  }

  double get_double(const std::string& name, double dflt) {
    std::string v = get(name, "");
    if (v.empty()) return dflt;
    size_t pos = 0;
    double r = 0;
    try {
      r = std::stod(v, &pos);
    } catch (...) {
      pos = 0;
    }
    DUET_CHECK(pos == v.size() && r > 0, program_, ": ", name, " ", v,
               " is not a valid value (expected a positive number)");
    return r;
  }

  // --precision fp32|bf16|fp16 (default fp32).
  Precision get_precision(const std::string& name = "--precision") {
    return parse_precision(program_, name, get(name, "fp32"));
  }

  // Throws duet::Error naming the first argument nobody asked for.
  void finish() const {
    for (size_t i = 0; i < args_.size(); ++i)
      DUET_CHECK(used_[i], program_, ": unknown argument '", args_[i], "' (see --help)");
  }

 private:
  std::string program_, usage_;
  std::vector<std::string> args_;
  std::vector<bool> used_;
};

// "a,b,,c" -> {"a", "b", "c"}: the comma-separated items of a flag's value.
inline std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

// The median of `v` (0 when empty): how step times are summarised on this noisy machine.
inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// One-line progress bar on stderr: "epoch 1/3 [#####.....] 120/938 loss 0.512 4120 img/s".
inline void progress(int epoch, int epochs, int64_t done, int64_t total, double loss,
                     double images_per_second) {
  const int width = 30;
  int filled = total ? static_cast<int>(width * done / total) : width;
  std::fprintf(stderr, "\repoch %d/%d [%s%s] %lld/%lld loss %.4f %.0f img/s ", epoch, epochs,
               std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
               static_cast<long long>(done), static_cast<long long>(total), loss,
               images_per_second);
  if (done == total) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

}  // namespace duet::examples

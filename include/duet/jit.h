// Tracing JIT: call ordinary model code once with symbolic tensors, compile, cache by
// signature (input shapes, dtypes, devices and the compile mode), reuse.
//
//   auto step = duet::jit([&](const std::vector<duet::Tensor>& in) {
//     return std::vector<duet::Tensor>{duet::cross_entropy((*net)(in[0]), in[1])};
//   }, {.training = true, .optimizer = &adam}, "train_step");
//   for (auto& b : loader) {
//     duet::Tensor loss = step({b.x, b.y})[0];   // first call traces + compiles
//   }
//   // A tensor read on the host while tracing (x.item()) is baked in; writing it later
//   // (fill_, copy_) makes the next call trace again: "duet: jit 'f' retracing: ..."
//   // A new input signature (say, a smaller last batch) recompiles once and logs why:
//   //   duet: jit 'train_step' recompiling: input 0 shape changed from (64, 1, 28, 28) to (32, 1,
//   28, 28)
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "duet/graph.h"

namespace duet {

using TraceFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

class JitFunction {
 public:
  JitFunction(TraceFn fn, CompileOptions options, std::string name);
  ~JitFunction();
  JitFunction(JitFunction&&) noexcept;
  JitFunction& operator=(JitFunction&&) noexcept;

  // Runs the compiled graph for these inputs (compiling first on a new signature). Outputs
  // are views into the executable's arena: valid until the next call; clone() to keep them.
  std::vector<Tensor> operator()(const std::vector<Tensor>& inputs);

  // How many times it traced and compiled: once per signature, plus once per retrace (a
  // tensor read on the host while tracing was written since: Executable::stale_reason).
  size_t num_compiles() const;
  const std::string& last_recompile_reason() const;
  // The executable for the most recent call (for memory_report(), dump(), ...).
  Executable& last_executable();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

JitFunction jit(TraceFn fn, CompileOptions options = {}, std::string name = "fn");

}  // namespace duet

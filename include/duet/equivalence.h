// check_equivalence: train the same model eagerly and as a compiled graph from identical
// state, step by step, and say exactly where they part.
//
//   std::vector<std::pair<duet::Tensor, duet::Tensor>> batches = ...;   // (x, y) per step
//   auto report = duet::check_equivalence(*net, duet::cross_entropy_loss, batches, 20);
//   if (!report.equivalent) std::cerr << report.str();
//   // "step 3: grad 4.weight differs (rel 2.1e-03 > 1e-05); first diverging graph node:
//   //  %41 conv2d_backward_weight at fashion_cnn.cpp:17 (rel 2.1e-03)"
//
// On a GPU: move the model first (net->to(duet::cuda)); inputs on another device are copied
// to the model's device, and the values are compared on the host.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "duet/nn/module.h"
#include "duet/optim/optimizer.h"
#include "duet/tensor.h"

namespace duet {

using LossFn = std::function<Tensor(const Tensor& output, const Tensor& target)>;
using OptimizerFactory =
    std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor> params)>;

struct EquivalenceOptions {
  double rtol = 1e-5;          // per tensor: max|a - b| / max(max|b|, 1e-12) must not exceed it
  bool bit_exact = false;      // compile with bit_exact and require identical bits
  OptimizerFactory optimizer{};  // default: SGD(lr 0.01, momentum 0.9)
  uint64_t seed = 0;           // default generator seed (dropout) for both runs
  std::set<std::string> disabled_passes{};
  // Models on a CUDA device: the graph run captures its step as a CUDA Graph (run 2) and
  // replays it (CompileOptions::cuda_graph); use steps >= 3 to compare replays. Ignored on
  // the CPU.
  bool cuda_graph = true;
  // Mixed precision (duet/amp.h): the eager steps run forward and loss inside
  // duet::autocast(*autocast); the graph gets the "autocast" pass before autodiff
  // (CompileOptions::autocast). With bit_exact the two must agree bit for bit.
  std::optional<DType> autocast{};
};

struct EquivalenceReport {
  bool equivalent = true;
  int steps = 0;                // steps compared
  int first_bad_step = -1;      // 0-based
  std::string first_bad_value;  // "output", "loss", "grad NAME", "param NAME", "buffer NAME"
  double max_rel_diff = 0;      // over everything compared
  double max_rel_diff_loss = 0, max_rel_diff_outputs = 0, max_rel_diff_grads = 0,
         max_rel_diff_params = 0, max_rel_diff_buffers = 0;
  std::string diverging_node;  // the first graph node whose value differs, with its location
  std::string str() const;
};

// Runs `steps` training steps (forward, loss, backward, optimizer step) eagerly and then as a
// compiled training graph, both from the model's current state, comparing outputs, loss,
// gradients, parameters and buffers after every step. inputs[k % inputs.size()] feeds step k.
// Both runs happen on the device of the model's parameters (the inputs are copied there when
// they are elsewhere); snapshots stay on that device and are copied to the host to compare.
// The model's parameters and buffers are restored to their initial values afterwards.
EquivalenceReport check_equivalence(nn::Module& model, const LossFn& loss,
                                    const std::vector<std::pair<Tensor, Tensor>>& inputs, int steps,
                                    const EquivalenceOptions& options = {});

// max|a - b| / max(max|b|, 1e-12) over all elements (0 for two empty tensors); infinity when
// shapes differ. Either tensor may be on any device (both are read on the host).
double relative_difference(const Tensor& a, const Tensor& b);

}  // namespace duet

// Low-precision inference accuracy of a zoo model against its own float32 run: the issue #14
// bar "bf16 inference of every zoo model stays within 2e-2 relative of fp32 logits with the
// same top-1 on >= 99% of 1,000 random inputs" (bench/bf16_zoo_accuracy.cpp runs it per model,
// tests/bench/zoo_accuracy_test.cpp on a few small models).
//
//   duet::bench::ZooAccuracySpec spec{.model = "resnet18", .size = 32, .inputs = 1000};
//   duet::bench::ZooAccuracy a = duet::bench::measure_zoo_accuracy(spec);
//   a.max_rel_error;        // max over samples of max|fp32 - low| / max|fp32| (per sample)
//   a.top1_agreement();     // share of samples whose argmax is the same in both runs
//
// The model has random weights (the zoo's initialisation, seeded) and random batch-norm
// statistics and affine parameters (randomize_batch_norm, as tests/examples/classify_check.py
// does), so batch norm is not an identity; it runs in eval mode on N(0, 1) images
// (inputs, 3, size, size), `batch` at a time, in float32 and under autocast to `dtype`, in
// the same execution mode (eager: duet::autocast around the forward pass; graph: one
// executable per precision, CompileOptions::autocast).
#pragma once

#include <cstdint>
#include <string>

#include "duet/dtype.h"
#include "duet/nn/module.h"
#include "duet/random.h"

namespace duet::bench {

struct ZooAccuracySpec {
  std::string model;
  int64_t size = 32;       // input H = W
  int64_t inputs = 1000;   // random images compared
  int64_t batch = 50;      // images per forward pass (the last batch may be smaller)
  DType dtype = bfloat16;  // autocast dtype (bfloat16 or float16)
  bool graph = true;       // compiled eval graphs instead of eager
  uint64_t seed = 0;       // weights, batch-norm statistics and inputs
  int64_t num_classes = 1000;
};

struct ZooAccuracy {
  int64_t inputs = 0;
  // Per sample s: max_j |fp32[s, j] - low[s, j]| / max_j |fp32[s, j]|; then the max and the
  // mean over the samples.
  double max_rel_error = 0;
  double mean_rel_error = 0;
  int64_t top1_same = 0;     // samples with the same argmax in both runs
  double max_abs_logit = 0;  // max |fp32 logit| over every sample (the scale of the errors)
  // Over the samples whose top-1 differs: the largest fp32 margin between the two classes
  // involved, (fp32[top1] - fp32[low's top1]) / max|fp32|, i.e. how near a tie the flips
  // were (0 when none flipped).
  double max_flip_margin = 0;
  double seconds = 0;  // wall time of both runs
  double top1_agreement() const { return inputs ? static_cast<double>(top1_same) / inputs : 0; }
};

// Every BatchNorm2d of `net`: running_mean ~ 0.1 N(0, 1), running_var ~ U[0.5, 2),
// weight ~ U[0.5, 1.5), bias ~ 0.1 N(0, 1) (classify_check.py's distributions).
void randomize_batch_norm(nn::Module& net, Generator& gen);

// Builds spec.model, runs both precisions on the same inputs and compares the logits.
ZooAccuracy measure_zoo_accuracy(const ZooAccuracySpec& spec);

}  // namespace duet::bench

// Metrics for fit() and evaluate(): running values over an epoch, computed from each step's
// outputs with tensor ops (no host read per step; compute() reads the totals once).
//
//   auto history = duet::train::fit(*net, duet::train::cross_entropy_loss, opt, loader,
//       {.epochs = 3, .metrics = {std::make_shared<duet::train::Accuracy>(),
//                                 std::make_shared<duet::train::TopKAccuracy>(5)}});
//   history.values("top5_accuracy");   // one per epoch
//
// A metric of your own:
//   struct MeanAbsError : duet::train::Metric {
//     std::string name() const override { return "mae"; }
//     void reset() override { total = 0.0; n = 0; }
//     void update(const duet::Tensor& out, const duet::Tensor& target) override {
//       total += duet::sum(duet::abs(out - target)).item();   // or keep a tensor total
//       n += out.numel();
//     }
//     double compute() const override { return n ? total / n : 0.0; }
//     double total = 0.0; int64_t n = 0;
//   };
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "duet/tensor.h"

namespace duet::train {

class Metric {
 public:
  virtual ~Metric() = default;
  // The name in Logs and History ("accuracy"; validation values get a "val_" prefix).
  virtual std::string name() const = 0;
  virtual void reset() = 0;  // fit calls it before each epoch and before validation
  // One batch: `output` is the model's output, `target` the batch's targets.
  virtual void update(const Tensor& output, const Tensor& target) = 0;
  virtual double compute() const = 0;  // the value over the batches since reset()

  // Distributed fit (FitOptions::distributed): the metric's additive totals since reset()
  // (sums and counts, as doubles). fit sums them over the ranks, gives the sums back with
  // set_totals(), then reads compute(): the value over every rank's samples. The default
  // (empty) makes fit average compute() over the ranks instead, which is exact for a
  // per-sample mean on equal shards (a DistributedSampler's).
  virtual std::vector<double> totals() const { return {}; }
  virtual void set_totals(const std::vector<double>& /*totals*/) {}
};

// The mean of a per-batch scalar, weighted by the batch size: update(value, target) adds
// value * target.size(0). fit tracks the loss with Mean("loss"), so the epoch's loss is the
// mean over samples (a smaller last batch counts less). 0 before any update.
class Mean : public Metric {
 public:
  explicit Mean(std::string name = "mean") : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  void reset() override;
  void update(const Tensor& value, const Tensor& target) override;
  double compute() const override;
  std::vector<double> totals() const override;  // {sum, count}
  void set_totals(const std::vector<double>& totals) override;

 private:
  std::string name_;
  Tensor total_;  // float64 scalar on the values' device; undefined after reset
  int64_t count_ = 0;
};

// Fraction of samples whose argmax over axis 1 equals the target: output (B, C) with integer
// class targets (B), or targets shaped like the output (one-hot or probabilities: their
// argmax is the class). Name "accuracy".
class Accuracy : public Metric {
 public:
  std::string name() const override { return "accuracy"; }
  void reset() override;
  void update(const Tensor& output, const Tensor& target) override;
  double compute() const override;
  std::vector<double> totals() const override;  // {sum, count}
  void set_totals(const std::vector<double>& totals) override;

 private:
  Tensor correct_;  // int64 scalar; undefined after reset
  int64_t count_ = 0;
};

// Fraction of samples whose target class is among the k largest outputs: output (B, C),
// integer targets (B). A tie with the target's score counts in its favour (the target is in
// the top k when fewer than k classes score strictly higher). Name "top<k>_accuracy".
class TopKAccuracy : public Metric {
 public:
  explicit TopKAccuracy(int64_t k);
  std::string name() const override { return "top" + std::to_string(k_) + "_accuracy"; }
  void reset() override;
  void update(const Tensor& output, const Tensor& target) override;
  double compute() const override;
  std::vector<double> totals() const override;  // {sum, count}
  void set_totals(const std::vector<double>& totals) override;
  int64_t k() const { return k_; }

 private:
  int64_t k_;
  Tensor correct_;
  int64_t count_ = 0;
};

}  // namespace duet::train

// Mean, Accuracy and TopKAccuracy: device-side running totals, read once in compute().
#include "duet/train/metrics.h"

#include <limits>

#include "duet/autograd.h"
#include "duet/ops.h"

namespace duet::train {

namespace {

// Integer class targets (B) for `output` (B, C): the target itself, or its argmax when it is
// shaped like the output. `who` names the metric in errors.
Tensor class_targets(const std::string& who, const Tensor& output, const Tensor& target) {
  DUET_CHECK(output.dim() == 2, who, ": output has shape ", shape_str(output.shape()),
             " (expected (batch, classes))");
  if (target.shape() == output.shape()) return argmax(target, 1);
  DUET_CHECK(target.dim() == 1 && target.size(0) == output.size(0) && !is_floating(target.dtype()),
             who, ": target has shape ", shape_str(target.shape()), " ", target.dtype(),
             " for output ", shape_str(output.shape()),
             " (expected integer classes of shape ", shape_str(Shape{output.size(0)}),
             " or a target shaped like the output)");
  return target;
}

Tensor accumulate(const Tensor& total, const Tensor& value) {
  return total.defined() ? add(total, value) : value;
}

void check_totals(const std::string& who, const std::vector<double>& t) {
  DUET_CHECK(t.size() == 2 && t[1] >= 0, who, ": set_totals got ", t.size(),
             " values (expected {sum, count >= 0})");
}

}  // namespace

void Mean::reset() {
  total_ = Tensor();
  count_ = 0;
}

void Mean::update(const Tensor& value, const Tensor& target) {
  NoGradGuard no_grad;
  DUET_CHECK(value.numel() == 1, "Mean '", name_, "': value has shape ", shape_str(value.shape()),
             " (expected one element: a batch mean)");
  const int64_t n = target.dim() > 0 ? target.size(0) : 1;
  total_ = accumulate(total_, mul(value.reshape({}).to(float64), static_cast<double>(n)));
  count_ += n;
}

double Mean::compute() const {
  return count_ == 0 ? 0.0 : total_.item<double>() / static_cast<double>(count_);
}

std::vector<double> Mean::totals() const {
  return {total_.defined() ? total_.item<double>() : 0.0, static_cast<double>(count_)};
}

void Mean::set_totals(const std::vector<double>& t) {
  check_totals("Mean '" + name_ + "'", t);
  total_ = Tensor::scalar(t[0], float64);
  count_ = static_cast<int64_t>(t[1]);
}

void Accuracy::reset() {
  correct_ = Tensor();
  count_ = 0;
}

void Accuracy::update(const Tensor& output, const Tensor& target) {
  NoGradGuard no_grad;
  Tensor classes = class_targets("Accuracy", output, target);
  Tensor hits = sum(eq(argmax(output, 1), classes.to(int64)).to(int64));
  correct_ = accumulate(correct_, hits);
  count_ += output.size(0);
}

double Accuracy::compute() const {
  return count_ == 0 ? 0.0
                     : static_cast<double>(correct_.item<int64_t>()) / static_cast<double>(count_);
}

std::vector<double> Accuracy::totals() const {
  return {correct_.defined() ? static_cast<double>(correct_.item<int64_t>()) : 0.0,
          static_cast<double>(count_)};
}

void Accuracy::set_totals(const std::vector<double>& t) {
  check_totals("Accuracy", t);
  correct_ = Tensor::scalar(t[0], int64);
  count_ = static_cast<int64_t>(t[1]);
}

TopKAccuracy::TopKAccuracy(int64_t k) : k_(k) {
  DUET_CHECK(k >= 1, "TopKAccuracy: k = ", k, " (expected >= 1)");
}

void TopKAccuracy::reset() {
  correct_ = Tensor();
  count_ = 0;
}

void TopKAccuracy::update(const Tensor& output, const Tensor& target) {
  NoGradGuard no_grad;
  const std::string who = "TopKAccuracy(" + std::to_string(k_) + ")";
  Tensor classes = class_targets(who, output, target).to(int64);
  const int64_t b = output.size(0), c = output.size(1);
  // one_hot: (B, C) true at each row's target class
  Tensor ids = Tensor::arange(c).to(output.device()).reshape({1, c});
  Tensor one_hot = eq(ids, classes.reshape({b, 1}));
  Tensor lowest = Tensor::full(output.shape(), -std::numeric_limits<double>::infinity(),
                               output.dtype(), output.device());
  Tensor target_score = max(where(one_hot, output, lowest), {1}, /*keepdim=*/true);  // (B, 1)
  Tensor higher = sum(gt(output, target_score).to(int64), {1});                       // (B)
  Tensor hits = sum(lt(higher, static_cast<double>(k_)).to(int64));
  correct_ = accumulate(correct_, hits);
  count_ += b;
}

double TopKAccuracy::compute() const {
  return count_ == 0 ? 0.0
                     : static_cast<double>(correct_.item<int64_t>()) / static_cast<double>(count_);
}

std::vector<double> TopKAccuracy::totals() const {
  return {correct_.defined() ? static_cast<double>(correct_.item<int64_t>()) : 0.0,
          static_cast<double>(count_)};
}

void TopKAccuracy::set_totals(const std::vector<double>& t) {
  check_totals("TopKAccuracy(" + std::to_string(k_) + ")", t);
  correct_ = Tensor::scalar(t[0], int64);
  count_ = static_cast<int64_t>(t[1]);
}

}  // namespace duet::train

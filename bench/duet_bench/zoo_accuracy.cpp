// Low-precision inference accuracy of a zoo model: see zoo_accuracy.h.
#include "duet_bench/zoo_accuracy.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <utility>

#include "duet/amp.h"
#include "duet/autograd.h"
#include "duet/duet.h"
#include "duet/graph.h"
#include "duet/models/zoo.h"
#include "duet/nn/norm.h"

namespace duet::bench {

void randomize_batch_norm(nn::Module& net, Generator& gen) {
  NoGradGuard no_grad;
  for (const auto& [name, m] : net.named_modules()) {
    auto* bn = dynamic_cast<nn::BatchNorm2d*>(m);
    if (bn == nullptr) continue;
    const Shape c{bn->num_features};
    if (bn->running_mean.defined()) bn->running_mean.copy_(Tensor::randn(c, gen) * 0.1);
    if (bn->running_var.defined()) bn->running_var.copy_(Tensor::uniform(c, 0.5, 2.0, gen));
    if (bn->weight.defined()) bn->weight.copy_(Tensor::uniform(c, 0.5, 1.5, gen));
    if (bn->bias.defined()) bn->bias.copy_(Tensor::randn(c, gen) * 0.1);
  }
}

ZooAccuracy measure_zoo_accuracy(const ZooAccuracySpec& spec) {
  DUET_CHECK(is_low_precision(spec.dtype), "measure_zoo_accuracy: dtype ", spec.dtype,
             " (expected bfloat16 or float16)");
  DUET_CHECK(spec.size > 0 && spec.inputs > 0 && spec.batch > 0 && spec.num_classes > 0,
             "measure_zoo_accuracy: size ", spec.size, ", inputs ", spec.inputs, ", batch ",
             spec.batch, ", num_classes ", spec.num_classes, " (expected all > 0)");
  models::require_model(spec.model, "measure_zoo_accuracy");
  const auto t0 = std::chrono::steady_clock::now();
  Generator gen(spec.seed);
  std::shared_ptr<nn::Module> net = models::create_model(spec.model, spec.num_classes, gen);
  randomize_batch_norm(*net, gen);
  net->eval();
  NoGradGuard no_grad;

  // Graph mode: one eval executable per (batch size, low precision?), compiled on first use.
  std::map<std::pair<int64_t, bool>, Executable> executables;
  // x: (b, 3, size, size) -> float32 logits (b, K)
  auto forward = [&](const Tensor& x, bool low) {
    Tensor logits;
    if (!spec.graph) {
      AutocastGuard scope(spec.dtype, low);  // low = false: autocast off in the scope
      logits = (*net)(x);
    } else {
      const std::pair<int64_t, bool> key{x.size(0), low};
      auto it = executables.find(key);
      if (it == executables.end()) {
        Graph g;
        Tensor xs = g.input("x", x.shape(), float32);
        Tensor ys = (*net)(xs);
        CompileOptions options;
        if (low) options.autocast = spec.dtype;
        it = executables.emplace(key, compile(g, {ys}, options)).first;
      }
      logits = it->second.run({{"x", x}})[0];
    }
    return logits.to(float32).contiguous();  // a copy: graph outputs are reused by the next run
  };

  ZooAccuracy r;
  double rel_sum = 0;
  for (int64_t done = 0; done < spec.inputs; done += spec.batch) {
    const int64_t b = std::min(spec.batch, spec.inputs - done);
    const Tensor x = Tensor::randn({b, 3, spec.size, spec.size}, gen);
    const Tensor ref = forward(x, false).clone();
    const Tensor low = forward(x, true).clone();
    DUET_CHECK(ref.shape() == low.shape() && ref.dim() == 2 && ref.size(0) == b,
               "measure_zoo_accuracy: ", spec.model, " returned ", shape_str(ref.shape()),
               " in float32 and ", shape_str(low.shape()), " under autocast (expected (", b,
               ", K))");
    const int64_t k = ref.size(1);
    const float* a = ref.data<float>();
    const float* l = low.data<float>();
    for (int64_t s = 0; s < b; ++s) {
      const float* as = a + s * k;
      const float* ls = l + s * k;
      double scale = 0, diff = 0;
      int64_t top_a = 0, top_l = 0;
      for (int64_t j = 0; j < k; ++j) {
        scale = std::max(scale, std::abs(static_cast<double>(as[j])));
        diff = std::max(diff, std::abs(static_cast<double>(as[j]) - ls[j]));
        if (as[j] > as[top_a]) top_a = j;
        if (ls[j] > ls[top_l]) top_l = j;
      }
      // A NaN/inf anywhere makes the sample's error infinite (a failure, not a skip).
      const bool finite = std::isfinite(scale) && std::isfinite(diff);
      const double rel = !finite ? INFINITY : scale > 0 ? diff / scale : (diff > 0 ? INFINITY : 0);
      r.max_rel_error = std::max(r.max_rel_error, rel);
      rel_sum += rel;
      r.max_abs_logit = std::max(r.max_abs_logit, scale);
      r.top1_same += finite && top_a == top_l;
      if (finite && top_a != top_l && scale > 0)
        r.max_flip_margin = std::max(r.max_flip_margin, (as[top_a] - as[top_l]) / scale);
    }
    r.inputs += b;
  }
  r.mean_rel_error = rel_sum / static_cast<double>(r.inputs);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace duet::bench

// A small model and a compiled training step with the graph-mode gradient all-reduce, shared
// by tests/distributed/graph_reduce_test.cpp (a world of one) and
// tests/mpirun/ddp_graph_test.cpp (two ranks).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "distributed/graph_reduce.h"
#include "duet/distributed/ddp.h"
#include "duet/jit.h"
#include "duet/nn.h"
#include "duet/ops.h"
#include "duet/optim.h"

namespace duet::test {

// (N, 1, 6, 6) -> (N, 5): conv 3x3 (4 channels), relu, flatten, linear, parameters in `dt`.
// No batch norm, no dropout: the per-rank step must equal the big-batch step.
struct GraphStepNet : nn::Module {
  Tensor cw, cb, fw, fb;
  GraphStepNet(uint64_t seed, DType dt) : Module("GraphStepNet") {
    Generator g(seed);
    auto u = [&](const Shape& s, double a) { return Tensor::uniform(s, -a, a, g, dt); };
    cw = register_parameter("conv_weight", u({4, 1, 3, 3}, 0.4));
    cb = register_parameter("conv_bias", u({4}, 0.1));
    fw = register_parameter("fc_weight", u({5, 4 * 6 * 6}, 0.15));
    fb = register_parameter("fc_bias", u({5}, 0.1));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = relu(conv2d(x, cw, cb, {.padding = 1}));  // (N, 4, 6, 6)
    return add(matmul(h.flatten(1), fw.transpose(0, 1)), fb);
  }
};
inline std::shared_ptr<GraphStepNet> graph_step_net(uint64_t seed, DType dt = float32) {
  return std::make_shared<GraphStepNet>(seed, dt);
}

// Buckets as GradientReducer makes them: parameters in reverse order, at most `cap` elements
// per bucket (a bigger parameter alone).
inline std::vector<distributed::GradientReducer::BucketInfo> reverse_buckets(
    const std::vector<Tensor>& params, int64_t cap) {
  std::vector<distributed::GradientReducer::BucketInfo> buckets;
  for (int64_t i = static_cast<int64_t>(params.size()) - 1; i >= 0; --i) {
    const int64_t n = params[i].numel();
    if (buckets.empty() || buckets.back().numel + n > cap) buckets.emplace_back();
    buckets.back().params.push_back(i);
    buckets.back().numel += n;
    buckets.back().dtype = params[i].dtype();
  }
  return buckets;
}

// gradients -> reduce(grads) -> apply_gradients, traced and compiled by jit; returns the loss.
// reduce == nullptr: no all-reduce (the single-process step).
using ReduceFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;
inline JitFunction graph_train_step(nn::Module& net, optim::Optimizer& opt, ReduceFn reduce,
                                    bool bit_exact) {
  return jit(
      [&net, &opt, reduce](const std::vector<Tensor>& in) {
        Tensor loss = cross_entropy(net(in[0]), in[1]);
        std::vector<Tensor> grads = gradients(loss, opt.params());
        if (reduce) grads = reduce(grads);
        opt.apply_gradients(grads);
        return std::vector<Tensor>{loss};
      },
      CompileOptions{.training = true, .bit_exact = bit_exact}, "graph_reduce_step");
}

// Batch k of a fixed stream: x (n, 1, 6, 6), labels (n).
inline std::pair<Tensor, Tensor> graph_step_batch(int k, int64_t n, DType dt = float32) {
  Generator gen(1000 + k);
  Tensor x = Tensor::randn({n, 1, 6, 6}, gen, dt);
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) y[i] = (i * 7 + k * 3) % 5;
  return {x, Tensor::from_vector(y, {n})};
}

}  // namespace duet::test

#include "cuda_test_util.h"

#include <algorithm>
#include <cmath>

namespace duet::test {

double max_rel_error(const Tensor& actual, const Tensor& expected) {
  EXPECT_EQ(shape_str(actual.shape()), shape_str(expected.shape()));
  if (actual.shape() != expected.shape()) return INFINITY;
  std::vector<double> a = actual.to(cpu).to_vector<double>();
  std::vector<double> e = expected.to(cpu).to_vector<double>();
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) != std::isnan(e[i])) return INFINITY;
    if (std::isnan(e[i])) continue;
    if (std::isinf(e[i]) || std::isinf(a[i])) {  // infinities must match exactly
      if (a[i] != e[i]) return INFINITY;
      continue;
    }
    diff = std::max(diff, std::abs(a[i] - e[i]));
    scale = std::max(scale, std::abs(e[i]));
  }
  return diff / scale;
}

Tensor uniform_leaf(const Shape& shape, uint64_t seed, DType dt, double lo, double hi) {
  Generator g(seed);
  return Tensor::uniform(shape, lo, hi, g, dt).requires_grad_();
}

Tensor normal_leaf(const Shape& shape, uint64_t seed, DType dt) {
  Generator g(seed);
  return Tensor::randn(shape, g, dt).requires_grad_();
}

namespace {

Tensor to_device_leaf(const Tensor& t, Device d) {
  Tensor c = t.detach().to(d);
  if (t.requires_grad()) c.requires_grad_();
  return c;
}

std::vector<Tensor> run(const OpFn& f, const std::vector<Tensor>& inputs,
                        const std::vector<Tensor>& upstream) {
  std::vector<Tensor> outs = f(inputs);
  Tensor loss;
  for (size_t k = 0; k < outs.size(); ++k) {
    if (!upstream[k].defined() || !outs[k].requires_grad()) continue;
    // float64: the outputs may mix float32 and float64 (casts), and add wants one dtype.
    Tensor term = cast(sum(mul(outs[k], upstream[k].to(outs[k].device()))), float64);
    loss = loss.defined() ? add(loss, term) : term;
  }
  if (loss.defined()) loss.backward();
  return outs;
}

}  // namespace

void expect_cuda_matches_cpu(const std::string& what, const OpFn& f,
                             const std::vector<Tensor>& cpu_inputs, double rtol) {
  SCOPED_TRACE(what);
  std::vector<Tensor> host, dev;
  for (const Tensor& t : cpu_inputs) {
    host.push_back(to_device_leaf(t, cpu));
    dev.push_back(to_device_leaf(t, cuda));
  }
  // Upstream gradients: one fixed random tensor per floating output.
  std::vector<Tensor> probe;
  {
    NoGradGuard no_grad;
    probe = f(host);
  }
  Generator gen(1234);
  std::vector<Tensor> upstream;
  for (const Tensor& o : probe)
    upstream.push_back(is_floating(o.dtype()) ? Tensor::randn(o.shape(), gen, o.dtype())
                                              : Tensor());
  std::vector<Tensor> out_cpu = run(f, host, upstream);
  std::vector<Tensor> out_gpu = run(f, dev, upstream);
  ASSERT_EQ(out_cpu.size(), out_gpu.size());
  for (size_t k = 0; k < out_cpu.size(); ++k) {
    SCOPED_TRACE("output " + std::to_string(k));
    ASSERT_EQ(out_gpu[k].device(), cuda);
    ASSERT_EQ(out_gpu[k].dtype(), out_cpu[k].dtype());
    if (is_floating(out_cpu[k].dtype())) {
      EXPECT_LE(max_rel_error(out_gpu[k], out_cpu[k]), rtol);
    } else {
      EXPECT_EQ(out_gpu[k].to(cpu).to_vector<int64_t>(), out_cpu[k].to_vector<int64_t>());
    }
  }
  for (size_t i = 0; i < host.size(); ++i) {
    if (!host[i].requires_grad()) continue;
    SCOPED_TRACE("gradient of input " + std::to_string(i));
    ASSERT_EQ(host[i].grad().defined(), dev[i].grad().defined());
    if (!host[i].grad().defined()) continue;
    ASSERT_EQ(dev[i].grad().device(), cuda);
    EXPECT_LE(max_rel_error(dev[i].grad(), host[i].grad()), rtol);
  }
}

}  // namespace duet::test

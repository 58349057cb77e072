// Ops that draw random numbers: dropout.
//
// dropout is one op with outputs (y, mask); its seed is an attribute drawn from the
// caller's generator per call, so the kernel is a pure function of (x, p, seed) and the
// gradient is grad * mask. In graph mode the executor draws the seed from the default
// generator on every run, so recording a dropout node draws nothing (run k of a compiled
// step then uses the same seed as eager step k).
#include "random_kernels.h"
#include "duet/ops/elementwise.h"
#include "duet/ops/random.h"
#include "ops/op_def.h"
#include "ops/op_samples.h"

namespace duet {
namespace {

void check_p(double p) {
  DUET_CHECK(p >= 0.0 && p <= 1.0, "dropout: p = ", p, " (expected 0 <= p <= 1)");
}

std::vector<TensorMeta> dropout_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  check_p(a.attrs.f("p"));
  return {a.inputs[0], a.inputs[0]};
}

std::vector<Tensor> dropout_grad(const GradArgs& g) {
  if (!g.grad_outputs[0].defined()) return {Tensor()};
  return {mul(g.grad_outputs[0], g.outputs[1])};
}

// ---- test samples (src/ops/op_samples.h, tests/ops_table/) --------------------------------------

// The mask depends only on the seed attribute, so the gradient check holds it fixed.
std::vector<OpSample> dropout_samples() {
  using namespace samples;
  auto at = [](double p) { return Attrs().set("p", p).set("seed", int64_t{1234}); };
  return {{.inputs = {normal({3, 5})}, .attrs = at(0.3)},
          {.inputs = {normal({2, 3, 9})}, .attrs = at(0.5)},
          {.inputs = {normal({7})}, .attrs = at(0.0)},
          {.inputs = {normal({0, 4})}, .attrs = at(0.5)}};
}

}  // namespace

DUET_DEFINE_OP(dropout_op, {.id = OpId::dropout,
                            .num_outputs = 2,
                            .infer = dropout_infer,
                            .grad = dropout_grad,
                            .save_outputs = 0b10,
                            .random = true,
                            .kernels = {cpu_kernels::dropout},
                            .inplace_input = 0,
                            .samples = dropout_samples})

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen, std::source_location loc) {
  LocationScope scope(loc);
  check_p(p);
  if (!training || p == 0.0) return x;
  const bool recording = x.is_symbolic() || recording_active();
  const uint64_t seed = recording ? 0 : gen.next_u64();
  return call_op(dropout_op(), {x}, Attrs().set("p", p).set("seed", static_cast<int64_t>(seed)))[0];
}

}  // namespace duet

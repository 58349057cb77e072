// The op table's samples (OpDef::samples) as test cases, shared by the table-driven op test
// (tests/ops_table/) and its GPU half (tests/cuda/op_table_cuda_test.cpp).
//
//   for (const OpCase& c : op_cases(op_def(OpId::relu))) {   // every sample x dtype
//     SCOPED_TRACE(c.name);                                   // "relu_s0_float32"
//     std::vector<Tensor> in = make_inputs(c);                // seeded by op, sample, input
//     std::vector<Tensor> out = run_op(c, in);                // outputs, then mutated inputs
//     EXPECT_TRUE(all_close(out, run_op(c, cast_inputs(c, in, float64)), 1e-4));
//   }
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "duet/duet.h"
#include "ops/op_def.h"

namespace duet::test {

// One sample of one op in one dtype (the dtype of its floating, non-fixed inputs).
struct OpCase {
  const OpDef* op = nullptr;
  OpSample sample;
  int index = 0;  // the sample's position in op.samples()
  DType dtype = float32;
  std::string name;  // "relu_s0_float32"
  bool skips(SampleCheck c) const { return (sample.skip & static_cast<uint32_t>(c)) != 0; }
};

// The op at index i of the table, and the indices of the ops a check applies to (every op
// by default): the parameters of the table-driven tests.
inline const OpDef& op_at(int i) {
  return *all_ops()[static_cast<size_t>(i)];
}
inline std::vector<int> op_indices(bool (*keep)(const OpDef&) = nullptr) {
  std::vector<int> r;
  for (int i = 0; i < kNumOps; ++i)
    if (!keep || keep(op_at(i))) r.push_back(i);
  return r;
}

inline std::vector<OpSample> samples_of(const OpDef& op) {
  return op.samples ? op.samples() : std::vector<OpSample>{};
}

// Every sample of `op` in float32 and float64 (float64 only where the sample says so).
inline std::vector<OpCase> op_cases(const OpDef& op,
                                    std::vector<DType> dtypes = {float32, float64}) {
  std::vector<OpCase> r;
  const std::vector<OpSample> samples = samples_of(op);
  for (size_t i = 0; i < samples.size(); ++i)
    for (DType t : dtypes) {
      OpCase c{&op, samples[i], static_cast<int>(i), t, ""};
      if (t != float64 && c.skips(SampleCheck::float64_only)) continue;
      c.name = op.name + "_s" + std::to_string(i) + "_" + dtype_name(t);
      r.push_back(std::move(c));
    }
  return r;
}

inline DType input_dtype(const OpCase& c, const SampleInput& in) {
  return in.fixed ? in.dtype : c.dtype;
}

// Deterministic values: the seed depends on the op, the sample and the input, not the dtype,
// so the float32 and float64 cases of a sample see the same numbers (up to rounding).
inline std::vector<Tensor> make_inputs(const OpCase& c, Device device = cpu) {
  std::vector<Tensor> r;
  uint64_t seed = 1469598103934665603ull;
  for (char ch : c.op->name) seed = (seed ^ static_cast<uint8_t>(ch)) * 1099511628211ull;
  for (size_t k = 0; k < c.sample.inputs.size(); ++k) {
    const SampleInput& in = c.sample.inputs[k];
    Generator gen(seed + 1000 * static_cast<uint64_t>(c.index) + k);
    std::vector<double> v(static_cast<size_t>(numel(in.shape)));
    for (double& x : v) {
      switch (in.init) {
        case SampleInit::normal:
          x = gen.normal();
          break;
        case SampleInit::positive:
          x = 0.5 + 1.5 * gen.uniform();
          break;
        case SampleInit::uniform:
          x = in.lo + (in.hi - in.lo) * gen.uniform();
          break;
        case SampleInit::index:
          x = std::floor(in.hi * gen.uniform());
          break;
        case SampleInit::integers:
          x = std::floor(in.lo + (in.hi - in.lo) * gen.uniform());
          break;
        case SampleInit::boolean:
          x = gen.uniform() < 0.5 ? 1 : 0;
          break;
        case SampleInit::ones:
          x = 1;
          break;
      }
    }
    Tensor t = Tensor::from_vector(v, in.shape, input_dtype(c, in));
    r.push_back(device == cpu ? t : t.to(device));
  }
  return r;
}

// The inputs with every floating input of the test's dtype converted to `dtype`.
inline std::vector<Tensor> cast_inputs(const OpCase& c, const std::vector<Tensor>& in,
                                       DType dtype) {
  std::vector<Tensor> r = in;
  for (size_t k = 0; k < r.size(); ++k)
    if (!c.sample.inputs[k].fixed && is_floating(r[k].dtype())) r[k] = r[k].to(dtype);
  return r;
}

inline bool mutates(const OpDef& op, size_t k) {
  return ((op.mutates_inputs >> k) & 1u) != 0;
}

// Runs the op eagerly (no tape) on copies of the inputs it writes; returns its outputs
// followed by the inputs it wrote, after the call.
inline std::vector<Tensor> run_op(const OpDef& op, const Attrs& attrs, std::vector<Tensor> in) {
  NoGradGuard no_grad;
  for (size_t k = 0; k < in.size(); ++k)
    if (mutates(op, k)) in[k] = in[k].clone();
  std::vector<Tensor> out = call_op(op, in, attrs);
  for (size_t k = 0; k < in.size(); ++k)
    if (mutates(op, k)) out.push_back(in[k]);
  return out;
}
inline std::vector<Tensor> run_op(const OpCase& c, const std::vector<Tensor>& in) {
  return run_op(*c.op, c.sample.attrs, in);
}

inline std::vector<TensorMeta> metas_of(const std::vector<Tensor>& ts) {
  std::vector<TensorMeta> m;
  for (const Tensor& t : ts) m.push_back({t.shape(), t.dtype(), t.device()});
  return m;
}

// Same shape, dtype and bytes (copied to the host first).
inline ::testing::AssertionResult same_bits(const Tensor& x, const Tensor& y) {
  const Tensor a = x.to(cpu).contiguous(), b = y.to(cpu).contiguous();
  if (a.shape() != b.shape() || a.dtype() != b.dtype())
    return ::testing::AssertionFailure()
           << "shape/dtype " << shape_str(a.shape()) << " " << dtype_name(a.dtype()) << " vs "
           << shape_str(b.shape()) << " " << dtype_name(b.dtype());
  const size_t n = static_cast<size_t>(a.numel()) * dtype_size(a.dtype());
  if (n && std::memcmp(a.data_ptr(), b.data_ptr(), n) != 0) {
    const std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
    for (size_t i = 0; i < va.size(); ++i)
      if (std::memcmp(&va[i], &vb[i], sizeof(double)) != 0)
        return ::testing::AssertionFailure()
               << "bits differ at flat index " << i << ": " << va[i] << " vs " << vb[i];
    return ::testing::AssertionFailure() << "bits differ";
  }
  return ::testing::AssertionSuccess();
}

// |actual - expected| <= tol * (1 + |expected|) elementwise for floating tensors (NaN and
// infinities must match), equality for integer and bool tensors; shapes must match and
// dtypes must be both floating or equal.
inline ::testing::AssertionResult close(const Tensor& actual, const Tensor& expected, double tol) {
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure()
           << "shape " << shape_str(actual.shape()) << " vs " << shape_str(expected.shape());
  const bool fa = is_floating(actual.dtype()), fe = is_floating(expected.dtype());
  if (fa != fe || (!fa && actual.dtype() != expected.dtype()))
    return ::testing::AssertionFailure()
           << "dtype " << dtype_name(actual.dtype()) << " vs " << dtype_name(expected.dtype());
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) {
    const bool ok = !fa                ? a[i] == e[i]
                    : std::isnan(e[i]) ? std::isnan(a[i])
                    : std::isinf(e[i]) ? a[i] == e[i]
                                       : std::abs(a[i] - e[i]) <= tol * (1 + std::abs(e[i]));
    if (!ok)
      return ::testing::AssertionFailure()
             << "at flat index " << i << " of " << shape_str(actual.shape()) << ": " << a[i]
             << " vs expected " << e[i] << " (tolerance " << tol << ")";
  }
  return ::testing::AssertionSuccess();
}

// Runs the op's kernel for `device` directly: once into fresh outputs and once with output 0
// written over (a copy of) input `op.inplace_input`; the results must be bit-identical. Skips
// (returns success) where the planner would not alias: output 0 differs from that input in
// shape or dtype (a broadcast input).
inline ::testing::AssertionResult aliased_output_matches(const OpCase& c,
                                                         const std::vector<Tensor>& in) {
  const OpDef& op = *c.op;
  const int k = op.inplace_input;
  const Device device = in.at(0).device();
  const std::vector<TensorMeta> out_meta =
      op.infer({op.name.c_str(), metas_of(in), c.sample.attrs});
  if (out_meta[0].shape != in[k].shape() || out_meta[0].dtype != in[k].dtype())
    return ::testing::AssertionSuccess();
  const KernelFn kernel = op.kernels[static_cast<int>(device.type)];
  if (!kernel) return ::testing::AssertionFailure() << "no kernel for " << device;
  Tensor ws;
  size_t ws_bytes = 0;
  if (WorkspaceFn wsfn = op.workspace[static_cast<int>(device.type)]) {
    ws_bytes = wsfn(metas_of(in), out_meta, c.sample.attrs);
    if (ws_bytes) ws = Tensor::empty({static_cast<int64_t>(ws_bytes + 7) / 8}, float64, device);
  }
  auto fresh = [&] {
    std::vector<Tensor> out;
    for (const TensorMeta& m : out_meta) out.push_back(Tensor::empty(m.shape, m.dtype, m.device));
    return out;
  };
  void* ws_ptr = ws.defined() ? ws.data_ptr() : nullptr;
  std::vector<Tensor> ref = fresh();
  kernel({c.sample.attrs, in, ref, ws_ptr, ws_bytes});
  std::vector<Tensor> in2 = in;
  in2[k] = in[k].clone();
  std::vector<Tensor> out = fresh();
  out[0] = in2[k];
  kernel({c.sample.attrs, in2, out, ws_ptr, ws_bytes});
  for (size_t j = 0; j < out.size(); ++j) {
    ::testing::AssertionResult r = same_bits(out[j], ref[j]);
    if (!r) return r << " (output " << j << ", written over input " << k << ")";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace duet::test

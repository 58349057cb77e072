// Builders for OpDef::samples, the inputs the table-driven op test (tests/ops_table/) runs
// every op on. An op lists a few cases: odd sizes, broadcasting, empty tensors and the
// attribute variants that take different code paths.
//
//   using namespace duet::samples;
//   DUET_DEFINE_OP(relu_op, {..., .samples = [] { return unary(); }})
//   DUET_DEFINE_OP(log_op, {..., .samples = [] { return unary({}, positive()); }})
//   DUET_DEFINE_OP(add_op, {..., .samples = [] { return binary(); }})
//   std::vector<OpSample> conv2d_samples() {
//     return {{.inputs = {normal({2, 3, 5, 5}), normal({4, 3, 3, 3})}, .attrs = conv(1, 1)}};
//   }
//
// A floating input takes the test's dtype (float32, float64); index(), boolean(), lr() and
// step() have fixed dtypes. Shapes in comments are the op's input shapes.
#pragma once

#include <utility>
#include <vector>

#include "ops/op_def.h"

namespace duet::samples {

inline SampleInput normal(Shape s = {}) {
  return {std::move(s)};
}
// Uniform in [0.5, 2): log, sqrt, divisors, second moments.
inline SampleInput positive(Shape s = {}) {
  return {std::move(s), DType::float32, SampleInit::positive};
}
inline SampleInput uniform(Shape s, double lo, double hi) {
  return {std::move(s), DType::float32, SampleInit::uniform, lo, hi};
}
// Whole numbers in [lo, hi) in the floating dtype: ties for comparisons.
inline SampleInput integers(Shape s, double lo, double hi) {
  return {std::move(s), DType::float32, SampleInit::integers, lo, hi};
}
// int64 in [0, n): class labels, flat indices into a pooling plane.
inline SampleInput index(Shape s, int64_t n) {
  return {std::move(s), DType::int64, SampleInit::index, 0, static_cast<double>(n), true};
}
inline SampleInput boolean(Shape s) {
  return {std::move(s), DType::bool_, SampleInit::boolean, 0, 1, true};
}
// Optimizer inputs: a float64 learning rate and an int64 step count (0: the first step).
inline SampleInput lr() {
  return {{}, DType::float64, SampleInit::uniform, 0.01, 0.1, true};
}
inline SampleInput step() {
  return index({}, 3);
}
// Loss scaling's found_inf (float32 (), duet/amp.h): 0 (the gated update runs) or 1 (skipped).
inline SampleInput found_inf(int value) {
  return {{}, DType::float32, value ? SampleInit::ones : SampleInit::integers, 0, 1, true};
}

inline std::vector<OpSample> join(std::vector<OpSample> a, const std::vector<OpSample>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Shapes every elementwise op runs on: 0-d, odd 1-d, 2-d, 3-d with an odd last axis, empty.
inline std::vector<Shape> elementwise_shapes() {
  return {{}, {7}, {3, 5}, {2, 3, 9}, {0, 4}};
}

// One input like `x` (its init) per elementwise shape.
inline std::vector<OpSample> unary(const Attrs& attrs = {}, SampleInput x = {},
                                   uint32_t skip = 0) {
  std::vector<OpSample> r;
  for (const Shape& s : elementwise_shapes()) {
    x.shape = s;
    r.push_back({.inputs = {x}, .attrs = attrs, .skip = skip});
  }
  return r;
}

// Two broadcasting inputs like a and b: (3, 1, 5) + (4, 5), equal shapes, a 0-d operand on
// either side, a trailing-axis broadcast and an empty result.
inline std::vector<OpSample> binary(const Attrs& attrs = {}, SampleInput a = {},
                                    SampleInput b = {}, uint32_t skip = 0) {
  const std::pair<Shape, Shape> shapes[] = {
      {{3, 1, 5}, {4, 5}}, {{7}, {7}}, {{}, {2, 3}}, {{2, 3}, {}}, {{2, 3, 9}, {9}}, {{0, 4}, {4}}};
  std::vector<OpSample> r;
  for (const auto& [sa, sb] : shapes) {
    a.shape = sa;
    b.shape = sb;
    r.push_back({.inputs = {a, b}, .attrs = attrs, .skip = skip});
  }
  return r;
}

// Gradient ops of elementwise ops: (grad, saved) of equal shapes; `saved` gives the init.
inline std::vector<OpSample> grad_pair(const Attrs& attrs = {}, SampleInput saved = {},
                                       uint32_t skip = 0) {
  std::vector<OpSample> r;
  for (const Shape& s : elementwise_shapes()) {
    saved.shape = s;
    r.push_back({.inputs = {normal(s), saved}, .attrs = attrs, .skip = skip});
  }
  return r;
}

// conv2d attributes (also the conv gradient ops', which add input_shape / weight_shape).
inline Attrs conv(int64_t stride = 1, int64_t padding = 0, int64_t dilation = 1,
                  int64_t groups = 1) {
  return Attrs()
      .set("stride", std::vector<int64_t>{stride, stride})
      .set("padding", std::vector<int64_t>{padding, padding})
      .set("dilation", std::vector<int64_t>{dilation, dilation})
      .set("groups", groups);
}

}  // namespace duet::samples

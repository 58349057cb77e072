// The neural-network converters (src/onnx/import_{conv,pool,activation}_ops.cpp): one-node
// models built with the generated protobuf classes, run eagerly and compiled (the compiled
// outputs must equal the eager ones), against hand-written loops (convolution, transposed
// convolution, pooling with asymmetric pads, Gemm with every attribute), hand-computed values
// (activations) or duet's ops called directly; errors against their messages.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "duet/duet.h"
#include "duet/onnx.h"
#include "onnx/loader_test_util.h"
#include "test_util.h"

namespace duet::test {
namespace {

using ::testing::HasSubstr;
constexpr int32_t kFloat = ::onnx::TensorProto::FLOAT;

Tensor randn(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return Tensor::randn(s, g);
}

// Runs the model eagerly and compiled on `feeds`; expects both to agree and returns the
// eager outputs.
std::vector<Tensor> run_both(const OnnxBuilder& b, const std::map<std::string, Tensor>& feeds,
                             double rtol = 1e-5) {
  auto m = b.load();
  std::vector<Tensor> eager = m->run(feeds);
  std::vector<Shape> shapes;
  for (const auto& vi : m->inputs()) shapes.push_back(feeds.at(vi.name).shape());
  Executable exe = m->compile(shapes);
  std::vector<Tensor> graph = exe.run(feeds);
  EXPECT_EQ(graph.size(), eager.size());
  for (size_t i = 0; i < std::min(graph.size(), eager.size()); ++i)
    expect_close(graph[i], eager[i], rtol, 1e-6);
  return eager;
}

// A model with input "x" and output "y" of one node `op` (more inputs: initializers).
struct OneNode {
  OnnxBuilder b;
  ::onnx::NodeProto* node;
  OneNode(const std::string& op, const Shape& x_shape, int64_t opset = 13,
          const std::vector<std::pair<std::string, Tensor>>& inits = {},
          std::vector<std::string> extra_inputs = {}, std::vector<std::string> outputs = {"y"})
      : b(opset) {
    b.input("x", kFloat, std::vector<int64_t>(x_shape.begin(), x_shape.end()));
    std::vector<std::string> ins = {"x"};
    for (const auto& [name, t] : inits) {
      b.init(name, t);
      ins.push_back(name);
    }
    for (const auto& e : extra_inputs) ins.push_back(e);
    node = b.node(op, ins, outputs);
    for (const auto& o : outputs)
      if (!o.empty()) b.output(o, kFloat, {});
  }
  Tensor run(const Tensor& x, double rtol = 1e-5) { return run_both(b, {{"x", x}}, rtol)[0]; }
};

// ---- hand-written references -----------------------------------------------------------------

struct Win {
  int64_t kh, kw, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0, pb = 0, pr = 0;
};

// Grouped convolution of x (N, C, H, W) with w (M, C / g, kh, kw), zero padding.
Tensor ref_conv(const Tensor& x, const Tensor& w, const Tensor& bias, const Win& p, int64_t g) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3), m = w.size(0);
  const int64_t cg = c / g, mg = m / g;
  const int64_t oh = (h + p.pt + p.pb - (p.kh - 1) * p.dh - 1) / p.sh + 1;
  const int64_t ow = (wd + p.pl + p.pr - (p.kw - 1) * p.dw - 1) / p.sw + 1;
  const std::vector<float> xv = x.to_vector<float>(), wv = w.to_vector<float>();
  std::vector<float> y(static_cast<size_t>(n * m * oh * ow));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o = 0; o < m; ++o)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double s = bias.defined() ? bias.to_vector<float>()[static_cast<size_t>(o)] : 0.0;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t a = 0; a < p.kh; ++a)
              for (int64_t e = 0; e < p.kw; ++e) {
                const int64_t r = i * p.sh - p.pt + a * p.dh, q = j * p.sw - p.pl + e * p.dw;
                if (r < 0 || r >= h || q < 0 || q >= wd) continue;
                const int64_t cin = (o / mg) * cg + ci;
                s += xv[static_cast<size_t>(((b * c + cin) * h + r) * wd + q)] *
                     wv[static_cast<size_t>(((o * cg + ci) * p.kh + a) * p.kw + e)];
              }
          y[static_cast<size_t>(((b * m + o) * oh + i) * ow + j)] = static_cast<float>(s);
        }
  return Tensor::from_vector(y, {n, m, oh, ow});
}

// Transposed convolution of x (N, C, H, W) with w (C, M / g, kh, kw): the full output
// (s * (H - 1) + (k - 1) * d + 1 per axis) cropped by pt / pl at the start to (oh, ow), zeros
// past the full output.
Tensor ref_conv_transpose(const Tensor& x, const Tensor& w, const Win& p, int64_t g, int64_t oh,
                          int64_t ow) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  const int64_t mg = w.size(1), m = mg * g, cg = c / g;
  const std::vector<float> xv = x.to_vector<float>(), wv = w.to_vector<float>();
  std::vector<float> y(static_cast<size_t>(n * m * oh * ow), 0.0f);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t r = 0; r < h; ++r)
        for (int64_t q = 0; q < wd; ++q)
          for (int64_t mo = 0; mo < mg; ++mo)
            for (int64_t a = 0; a < p.kh; ++a)
              for (int64_t e = 0; e < p.kw; ++e) {
                const int64_t i = r * p.sh + a * p.dh - p.pt, j = q * p.sw + e * p.dw - p.pl;
                if (i < 0 || i >= oh || j < 0 || j >= ow) continue;
                const int64_t o = (ci / cg) * mg + mo;
                y[static_cast<size_t>(((b * m + o) * oh + i) * ow + j)] +=
                    xv[static_cast<size_t>(((b * c + ci) * h + r) * wd + q)] *
                    wv[static_cast<size_t>(((ci * mg + mo) * p.kh + a) * p.kw + e)];
              }
  return Tensor::from_vector(y, {n, m, oh, ow});
}

// Max or average pooling with ONNX pads; average: count_include_pad counts positions inside
// the padded input, else only real ones. Floor output sizes.
Tensor ref_pool(const Tensor& x, const Win& p, bool average, bool include_pad) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  const int64_t oh = (h + p.pt + p.pb - (p.kh - 1) * p.dh - 1) / p.sh + 1;
  const int64_t ow = (wd + p.pl + p.pr - (p.kw - 1) * p.dw - 1) / p.sw + 1;
  const std::vector<float> xv = x.to_vector<float>();
  std::vector<float> y;
  for (int64_t b = 0; b < n * c; ++b)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        double best = -std::numeric_limits<double>::infinity(), sum = 0;
        int64_t count = 0;
        for (int64_t a = 0; a < p.kh; ++a)
          for (int64_t e = 0; e < p.kw; ++e) {
            const int64_t r = i * p.sh - p.pt + a * p.dh, q = j * p.sw - p.pl + e * p.dw;
            const bool real = r >= 0 && r < h && q >= 0 && q < wd;
            if (real) {
              const double v = xv[static_cast<size_t>((b * h + r) * wd + q)];
              best = std::max(best, v);
              sum += v;
            }
            if (real || include_pad) ++count;
          }
        y.push_back(static_cast<float>(average ? sum / static_cast<double>(count) : best));
      }
  return Tensor::from_vector(y, {n, c, oh, ow});
}

// ---- Conv ----------------------------------------------------------------------------------

TEST(OnnxNnOps, ConvAsymmetricPadsStridesDilationsGroupsBias) {
  DUET_NEED_OPS("Conv");
  const Tensor x = randn({2, 4, 9, 8}, 1), w = randn({6, 2, 3, 2}, 2), bias = randn({6}, 3);
  OneNode m("Conv", x.shape(), 11, {{"w", w}, {"b", bias}});
  OnnxBuilder::attr_ints(m.node, "pads", {2, 0, 1, 1});  // top, left, bottom, right
  OnnxBuilder::attr_ints(m.node, "strides", {2, 1});
  OnnxBuilder::attr_ints(m.node, "dilations", {1, 2});
  OnnxBuilder::attr_int(m.node, "group", 2);
  OnnxBuilder::attr_ints(m.node, "kernel_shape", {3, 2});
  const Tensor y = m.run(x);
  expect_close(
      y, ref_conv(x, w, bias, {.kh = 3, .kw = 2, .sh = 2, .dw = 2, .pt = 2, .pb = 1, .pr = 1}, 2),
      1e-4, 1e-5);
  // The same as duet's pad + conv2d called directly.
  expect_close(y, conv2d(pad(x, {0, 1, 2, 1}), w, bias,
                         {.stride = {2, 1}, .dilation = {1, 2}, .groups = 2}));
}

TEST(OnnxNnOps, ConvAutoPadSameUpperLowerAndValid) {
  DUET_NEED_OPS("Conv");
  const Tensor x = randn({1, 2, 7, 6}, 4), w = randn({3, 2, 4, 3}, 5);
  // in 7, stride 2 -> 4 outputs, total pad (4 - 1) * 2 + 4 - 7 = 3: upper (1, 2), lower (2, 1);
  // in 6 -> 3 outputs, total (3 - 1) * 2 + 3 - 6 = 1: upper (0, 1), lower (1, 0).
  for (const char* mode : {"SAME_UPPER", "SAME_LOWER", "VALID"}) {
    OneNode m("Conv", x.shape(), 11, {{"w", w}});
    attr_s(m.node, "auto_pad", mode);
    OnnxBuilder::attr_ints(m.node, "strides", {2, 2});
    const std::string s = mode;
    const Win p = s == "SAME_UPPER"
                      ? Win{.kh = 4, .kw = 3, .sh = 2, .sw = 2, .pt = 1, .pl = 0, .pb = 2, .pr = 1}
                  : s == "SAME_LOWER"
                      ? Win{.kh = 4, .kw = 3, .sh = 2, .sw = 2, .pt = 2, .pl = 1, .pb = 1, .pr = 0}
                      : Win{.kh = 4, .kw = 3, .sh = 2, .sw = 2};
    expect_close(m.run(x), ref_conv(x, w, Tensor(), p, 1), 1e-4, 1e-5);
  }
}

TEST(OnnxNnOps, Conv1dIsLiftedTo2d) {
  DUET_NEED_OPS("Conv");
  const Tensor x = randn({2, 3, 10}, 6), w = randn({4, 3, 3}, 7), bias = randn({4}, 8);
  OneNode m("Conv", x.shape(), 13, {{"w", w}, {"b", bias}});
  OnnxBuilder::attr_ints(m.node, "pads", {1, 2});
  OnnxBuilder::attr_ints(m.node, "strides", {2});
  const Tensor y = m.run(x);
  const Tensor ref = ref_conv(unsqueeze(x, 2), unsqueeze(w, 2), bias,
                              {.kh = 1, .kw = 3, .sw = 2, .pl = 1, .pr = 2}, 1);
  expect_close(y, squeeze(ref, 2), 1e-4, 1e-5);
}

TEST(OnnxNnOps, Conv3dAndKernelMismatchAreErrors) {
  DUET_NEED_OPS("Conv");
  OneNode m3("Conv", {1, 1, 3, 3, 3}, 13, {{"w", randn({1, 1, 2, 2, 2}, 1)}});
  try {
    m3.run(randn({1, 1, 3, 3, 3}, 2));
    ADD_FAILURE() << "3-D conv ran";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("(Conv)"));
    EXPECT_THAT(e.what(), HasSubstr("3-D is not supported"));
  }
  OneNode mk("Conv", {1, 1, 5, 5}, 13, {{"w", randn({1, 1, 3, 3}, 1)}});
  OnnxBuilder::attr_ints(mk.node, "kernel_shape", {2, 2});
  try {
    mk.run(randn({1, 1, 5, 5}, 2));
    ADD_FAILURE() << "kernel_shape mismatch ran";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("kernel_shape = [2, 2] but the weight's kernel is [3, 3]"));
  }
  OneNode mg("ConvTranspose", {1, 2, 5, 5}, 13, {{"w", randn({2, 4, 3, 3}, 1)}});
  OnnxBuilder::attr_int(mg.node, "group", int64_t{1} << 62);  // W.shape[1] * group overflows
  try {
    mg.run(randn({1, 2, 5, 5}, 2));
    ADD_FAILURE() << "an absurd group ran";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("group = 4611686018427387904 for X of shape (1, 2, 5, 5)"));
  }
  OneNode mu("Conv", {1, 1, 5, 5}, 13, {{"w", randn({1, 1, 3, 3}, 1)}});
  OnnxBuilder::attr_int(mu.node, "fancy", 1);
  try {
    mu.run(randn({1, 1, 5, 5}, 2));
    ADD_FAILURE() << "an unknown attribute was ignored";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("fancy"));
  }
}

// ---- ConvTranspose -------------------------------------------------------------------------

TEST(OnnxNnOps, ConvTransposePadsOutputPaddingGroupsBias) {
  DUET_NEED_OPS("ConvTranspose");
  const Tensor x = randn({2, 4, 4, 5}, 9), w = randn({4, 3, 3, 2}, 10), bias = randn({6}, 11);
  OneNode m("ConvTranspose", x.shape(), 11, {{"w", w}, {"b", bias}});
  OnnxBuilder::attr_ints(m.node, "strides", {2, 3});
  OnnxBuilder::attr_ints(m.node, "pads", {1, 0, 2, 1});
  OnnxBuilder::attr_ints(m.node, "output_padding", {1, 2});
  OnnxBuilder::attr_int(m.node, "group", 2);
  // full: 2 * 3 + 3 = 9 rows, 3 * 4 + 2 = 14 columns; out: 9 + 1 - 3 = 7, 14 + 2 - 1 = 15.
  const Tensor y = m.run(x);
  const Tensor ref =
      add(ref_conv_transpose(x, w, {.kh = 3, .kw = 2, .sh = 2, .sw = 3, .pt = 1}, 2, 7, 15),
          reshape(bias, {6, 1, 1}));
  expect_close(y, ref, 1e-4, 1e-5);
}

TEST(OnnxNnOps, ConvTransposeOutputShapeSameUpperAndSymmetric) {
  DUET_NEED_OPS("ConvTranspose");
  const Tensor x = randn({1, 2, 3, 3}, 12), w = randn({2, 3, 3, 3}, 13);
  {  // output_shape larger than the full output: zeros at the end
    OneNode m("ConvTranspose", x.shape(), 11, {{"w", w}});
    OnnxBuilder::attr_ints(m.node, "strides", {3, 2});
    OnnxBuilder::attr_ints(m.node, "output_shape", {10, 8});
    expect_close(m.run(x), ref_conv_transpose(x, w, {.kh = 3, .kw = 3, .sh = 3, .sw = 2}, 1, 10, 8),
                 1e-4, 1e-5);
  }
  {  // SAME_UPPER: out = in * stride = 6 of 7, the extra position cut at the end
    OneNode m("ConvTranspose", x.shape(), 11, {{"w", w}});
    OnnxBuilder::attr_ints(m.node, "strides", {2, 2});
    attr_s(m.node, "auto_pad", "SAME_UPPER");
    expect_close(m.run(x), ref_conv_transpose(x, w, {.kh = 3, .kw = 3, .sh = 2, .sw = 2}, 1, 6, 6),
                 1e-4, 1e-5);
  }
  {  // symmetric pads with dilation: one conv2d_backward_input
    OneNode m("ConvTranspose", x.shape(), 11, {{"w", w}});
    OnnxBuilder::attr_ints(m.node, "pads", {1, 1, 1, 1});
    OnnxBuilder::attr_ints(m.node, "dilations", {2, 1});
    // full: 2 + 5 = 7 rows, 2 + 3 = 5 columns, minus 2.
    expect_close(m.run(x),
                 ref_conv_transpose(x, w, {.kh = 3, .kw = 3, .dh = 2, .pt = 1, .pl = 1}, 1, 5, 3),
                 1e-4, 1e-5);
  }
}

TEST(OnnxNnOps, ConvTransposeSameWiderThanFullOutputPadsTheStart) {
  DUET_NEED_OPS("ConvTranspose");
  // in 3, stride 3, kernel 2: the full output has 8 positions, SAME asks for 9; ONNX's
  // reference splits the total padding -1 as floor(-1 / 2) = -1 at the start (UPPER), 0 at
  // the end; LOWER puts the zero at the end.
  const Tensor x = randn({1, 2, 3, 3}, 41), w = randn({2, 1, 2, 2}, 42);
  for (const char* mode : {"SAME_UPPER", "SAME_LOWER"}) {
    OneNode m("ConvTranspose", x.shape(), 13, {{"w", w}});
    OnnxBuilder::attr_ints(m.node, "strides", {3, 3});
    attr_s(m.node, "auto_pad", mode);
    const int64_t shift = std::string(mode) == "SAME_UPPER" ? -1 : 0;
    SCOPED_TRACE(mode);
    expect_close(m.run(x),
                 ref_conv_transpose(
                     x, w, {.kh = 2, .kw = 2, .sh = 3, .sw = 3, .pt = shift, .pl = shift}, 1, 9, 9),
                 1e-4, 1e-5);
  }
}

// ---- Gemm, MatMul ----------------------------------------------------------------------------

TEST(OnnxNnOps, GemmAllAttributesAgainstLoop) {
  DUET_NEED_OPS("Gemm");
  const Tensor a = randn({4, 3}, 14), b = randn({5, 4}, 15), c = randn({1, 5}, 16);
  OneNode m("Gemm", a.shape(), 13, {{"b", b}, {"c", c}});  // A^T (3, 4) B^T (4, 5)
  OnnxBuilder::attr_int(m.node, "transA", 1);
  OnnxBuilder::attr_int(m.node, "transB", 1);
  attr_f(m.node, "alpha", 0.25f);
  attr_f(m.node, "beta", 0.35f);
  const std::vector<float> av = a.to_vector<float>(), bv = b.to_vector<float>(),
                           cv = c.to_vector<float>();
  std::vector<double> want;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 5; ++j) {
      double s = 0;
      for (int k = 0; k < 4; ++k) s += av[k * 3 + i] * bv[j * 4 + k];
      want.push_back(0.25 * s + 0.35 * cv[j]);
    }
  expect_values(m.run(a), want, 1e-5);
}

TEST(OnnxNnOps, GemmLinearPathAndNoBias) {
  DUET_NEED_OPS("Gemm", "Relu");
  const Tensor a = randn({3, 4}, 17), w = randn({5, 4}, 18), bias = randn({5}, 19);
  OneNode m("Gemm", a.shape(), 13, {{"w", w}, {"bias", bias}});
  OnnxBuilder::attr_int(m.node, "transB", 1);
  expect_close(m.run(a), linear(a, w, bias), 1e-5, 1e-6);
  // Gemm -> Relu compiles to one linear_fused (PyTorch's Linear + ReLU)
  OnnxBuilder r(13);
  r.input("x", kFloat, {3, 4});
  r.init("w", w);
  r.init("bias", bias);
  OnnxBuilder::attr_int(r.node("Gemm", {"x", "w", "bias"}, {"g"}), "transB", 1);
  r.node("Relu", {"g"}, {"y"});
  r.output("y", kFloat, {});
  expect_close(run_both(r, {{"x", a}})[0], relu(linear(a, w, bias)), 1e-5, 1e-6);
  EXPECT_THAT(r.load()->compile({a.shape()}).dump(), HasSubstr("linear_fused"));
  const Tensor b = randn({4, 2}, 20);
  OneNode m2("Gemm", a.shape(), 11, {{"b", b}});  // no C (opset 11), transB = 0
  expect_close(m2.run(a), matmul(a, b), 1e-5, 1e-6);
}

TEST(OnnxNnOps, MatMulBroadcastsBatchAndPromotesVectors) {
  DUET_NEED_OPS("MatMul");
  const Tensor a = randn({2, 1, 3, 4}, 21), b = randn({5, 4, 2}, 22);
  OneNode m("MatMul", a.shape(), 13, {{"b", b}});
  const Tensor y = m.run(a);
  EXPECT_EQ(shape_str(y.shape()), "(2, 5, 3, 2)");
  const std::vector<float> av = a.to_vector<float>(), bv = b.to_vector<float>();
  std::vector<double> want;
  for (int p = 0; p < 2; ++p)
    for (int q = 0; q < 5; ++q)
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 2; ++j) {
          double s = 0;
          for (int k = 0; k < 4; ++k) s += av[(p * 3 + i) * 4 + k] * bv[(q * 4 + k) * 2 + j];
          want.push_back(s);
        }
  expect_values(y, want, 1e-5);
  OneNode v("MatMul", {4}, 13, {{"b", randn({4, 3}, 23)}});
  EXPECT_EQ(shape_str(v.run(randn({4}, 24)).shape()), "(3,)");
}

// ---- BatchNormalization ----------------------------------------------------------------------

TEST(OnnxNnOps, BatchNormInferenceAndFoldIntoConv) {
  DUET_NEED_OPS("BatchNormalization", "Conv", "Relu");
  const Tensor scale = randn({3}, 25), shift = randn({3}, 26), mean = randn({3}, 27);
  const Tensor var = add(abs(randn({3}, 28)), 0.5);
  const Tensor x = randn({2, 3, 2, 2}, 29);
  OneNode m("BatchNormalization", x.shape(), 15,
            {{"s", scale}, {"bias", shift}, {"mean", mean}, {"var", var}});
  attr_f(m.node, "epsilon", 1e-3f);
  const std::vector<float> xv = x.to_vector<float>(), sv = scale.to_vector<float>(),
                           bv = shift.to_vector<float>(), mv = mean.to_vector<float>(),
                           vv = var.to_vector<float>();
  std::vector<double> want;
  for (size_t i = 0; i < xv.size(); ++i) {
    const size_t c = (i / 4) % 3;
    want.push_back((xv[i] - mv[c]) / std::sqrt(vv[c] + 1e-3f) * sv[c] + bv[c]);
  }
  expect_values(m.run(x), want, 1e-5);
  // rank 2 (after a Gemm) and rank 3 inputs
  OneNode m2("BatchNormalization", {4, 3}, 15,
             {{"s", scale}, {"bias", shift}, {"mean", mean}, {"var", var}});
  const Tensor x2 = randn({4, 3}, 30);
  expect_close(m2.run(x2), batch_norm(x2, scale, shift, mean, var, false, 0.1, 1e-5));

  // Conv -> BatchNormalization -> Relu compiles to one fused convolution (the batch norm
  // folded into its weights, the relu its epilogue), as duet's own Conv2d + BatchNorm2d.
  OnnxBuilder b(13);
  b.input("x", kFloat, {1, 2, 5, 5});
  b.init("w", randn({3, 2, 3, 3}, 31));
  for (auto [n, t] : {std::pair{"s", scale}, {"bias", shift}, {"mean", mean}, {"var", var}})
    b.init(n, t);
  b.node("Conv", {"x", "w"}, {"c"});
  b.node("BatchNormalization", {"c", "s", "bias", "mean", "var"}, {"bn"});
  b.node("Relu", {"bn"}, {"y"});
  b.output("y", kFloat, {});
  const Tensor xc = randn({1, 2, 5, 5}, 32);
  const Tensor yc = run_both(b, {{"x", xc}}, 1e-4)[0];
  expect_close(yc,
               relu(batch_norm(conv2d(xc, b.load()->initializers().at("w")), scale, shift, mean,
                               var, false, 0.1, 1e-5)),
               1e-4, 1e-5);
  // (Without the CPU blocked-layout pass, which would turn that conv2d_fused into a
  // conv2d_nchwc with the same epilogue.)
  Executable exe = b.load()->compile({xc.shape()}, {.disabled_passes = {"nchwc_layout"}});
  EXPECT_THAT(exe.dump(), HasSubstr("conv2d_fused"));
  EXPECT_THAT(exe.dump(), HasSubstr("activation=relu"));
  EXPECT_THAT(exe.dump(), ::testing::Not(HasSubstr("channel_affine")));
}

TEST(OnnxNnOps, BatchNormTrainingModeIsNotSupported) {
  DUET_NEED_OPS("BatchNormalization");
  OneNode m(
      "BatchNormalization", {2, 3}, 15,
      {{"s", randn({3}, 1)}, {"b", randn({3}, 2)}, {"m", randn({3}, 3)}, {"v", Tensor::ones({3})}});
  OnnxBuilder::attr_int(m.node, "training_mode", 1);
  try {
    m.run(randn({2, 3}, 4));
    ADD_FAILURE() << "training_mode = 1 ran";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("(BatchNormalization): training_mode = 1 is not supported"));
  }
}

TEST(OnnxNnOps, LayerInstanceNormAndLrnAgainstLoops) {
  DUET_NEED_OPS("LayerNormalization", "InstanceNormalization", "LRN");
  const Tensor x = randn({2, 3, 4}, 45);
  const std::vector<float> xv = x.to_vector<float>();
  // normalise each (3, 4) block (axis 1), optional Mean / InvStdDev outputs
  const Tensor scale = randn({3, 4}, 46), bias = randn({4}, 47);
  OneNode ln("LayerNormalization", x.shape(), 17, {{"scale", scale}, {"bias", bias}}, {},
             {"y", "mean", "inv"});
  OnnxBuilder::attr_int(ln.node, "axis", 1);
  attr_f(ln.node, "epsilon", 1e-3f);
  const std::vector<Tensor> out = run_both(ln.b, {{"x", x}});
  const std::vector<float> sv = scale.to_vector<float>(), bv = bias.to_vector<float>();
  std::vector<double> want, want_mean, want_inv;
  for (int b = 0; b < 2; ++b) {
    double m = 0, v = 0;
    for (int i = 0; i < 12; ++i) m += xv[b * 12 + i] / 12.0;
    for (int i = 0; i < 12; ++i) v += (xv[b * 12 + i] - m) * (xv[b * 12 + i] - m) / 12.0;
    want_mean.push_back(m);
    want_inv.push_back(1 / std::sqrt(v + 1e-3));
    for (int i = 0; i < 12; ++i)
      want.push_back((xv[b * 12 + i] - m) / std::sqrt(v + 1e-3) * sv[i] + bv[i % 4]);
  }
  ASSERT_EQ(out.size(), 3u);
  expect_values(out[0], want, 1e-4);
  EXPECT_EQ(shape_str(out[1].shape()), "(2, 1, 1)");
  expect_values(out[1], want_mean, 1e-5);
  expect_values(out[2], want_inv, 1e-4);

  // instance norm: each (n, c) plane of 4 values
  const Tensor s3 = randn({3}, 48), b3 = randn({3}, 49);
  OneNode in("InstanceNormalization", x.shape(), 13, {{"s", s3}, {"b", b3}});
  const std::vector<float> s3v = s3.to_vector<float>(), b3v = b3.to_vector<float>();
  want.clear();
  for (int p = 0; p < 6; ++p) {
    double m = 0, v = 0;
    for (int i = 0; i < 4; ++i) m += xv[p * 4 + i] / 4.0;
    for (int i = 0; i < 4; ++i) v += (xv[p * 4 + i] - m) * (xv[p * 4 + i] - m) / 4.0;
    for (int i = 0; i < 4; ++i)
      want.push_back((xv[p * 4 + i] - m) / std::sqrt(v + 1e-5) * s3v[p % 3] + b3v[p % 3]);
  }
  expect_values(in.run(x), want, 1e-4);

  // LRN, even size 4: channels [c - 1, c + 2]
  const Tensor x4 = randn({1, 5, 2, 2}, 50);
  OneNode lrn("LRN", x4.shape(), 13);
  OnnxBuilder::attr_int(lrn.node, "size", 4);
  attr_f(lrn.node, "alpha", 0.5f);
  attr_f(lrn.node, "beta", 0.6f);
  attr_f(lrn.node, "bias", 2.0f);
  const std::vector<float> v4 = x4.to_vector<float>();
  want.clear();
  for (int c = 0; c < 5; ++c)
    for (int i = 0; i < 4; ++i) {
      double sq = 0;
      for (int k = std::max(0, c - 1); k <= std::min(4, c + 2); ++k)
        sq += v4[k * 4 + i] * v4[k * 4 + i];
      want.push_back(v4[c * 4 + i] / std::pow(2.0 + 0.5 / 4 * sq, 0.6));
    }
  expect_values(lrn.run(x4), want, 1e-5);
}

// ---- pools -----------------------------------------------------------------------------------

TEST(OnnxNnOps, MaxPoolAsymmetricPadsDilationsAndSameLower) {
  DUET_NEED_OPS("MaxPool");
  const Tensor x = randn({2, 3, 7, 8}, 33);
  OneNode m("MaxPool", x.shape(), 12);
  OnnxBuilder::attr_ints(m.node, "kernel_shape", {3, 2});
  OnnxBuilder::attr_ints(m.node, "pads", {0, 1, 2, 0});
  OnnxBuilder::attr_ints(m.node, "strides", {2, 1});
  OnnxBuilder::attr_ints(m.node, "dilations", {1, 2});
  expect_close(m.run(x),
               ref_pool(x, {.kh = 3, .kw = 2, .sh = 2, .dw = 2, .pl = 1, .pb = 2}, false, false));
  OneNode s("MaxPool", x.shape(), 12);
  OnnxBuilder::attr_ints(s.node, "kernel_shape", {2, 3});
  attr_s(s.node, "auto_pad", "SAME_LOWER");  // total pads 1 and 2: all / half at the start
  expect_close(s.run(x), ref_pool(x, {.kh = 2, .kw = 3, .pt = 1, .pl = 1, .pr = 1}, false, false));
  // a 1-D pool with symmetric pads (duet's own padding)
  const Tensor x1 = randn({2, 3, 9}, 34);
  OneNode p("MaxPool", x1.shape(), 12);
  OnnxBuilder::attr_ints(p.node, "kernel_shape", {3});
  OnnxBuilder::attr_ints(p.node, "pads", {1, 1});
  OnnxBuilder::attr_ints(p.node, "strides", {2});
  expect_close(p.run(x1),
               squeeze(ref_pool(unsqueeze(x1, 2), {.kh = 1, .kw = 3, .sw = 2, .pl = 1, .pr = 1},
                                false, false),
                       2));
}

TEST(OnnxNnOps, MaxPoolIndicesRowAndColumnMajor) {
  DUET_NEED_OPS("MaxPool");
  // Indices count over the whole tensor: ((n * C + c) * H + h) * W + w (storage_order 0) or
  // (n * C + c) * H * W + w * H + h (1), here with asymmetric pads (a padded input inside).
  const Tensor x = randn({2, 2, 5, 4}, 51);
  const std::vector<float> xv = x.to_vector<float>();
  for (int order : {0, 1}) {
    OneNode m("MaxPool", x.shape(), 12, {}, {}, {"y", "i"});
    OnnxBuilder::attr_ints(m.node, "kernel_shape", {3, 2});
    OnnxBuilder::attr_ints(m.node, "pads", {2, 0, 0, 1});
    OnnxBuilder::attr_ints(m.node, "strides", {2, 2});
    OnnxBuilder::attr_int(m.node, "storage_order", order);
    const std::vector<Tensor> out = run_both(m.b, {{"x", x}});
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[1].dtype(), int64);
    EXPECT_EQ(shape_str(out[1].shape()), "(2, 2, 3, 2)");
    std::vector<double> want_y, want_i;
    for (int p = 0; p < 4; ++p)
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 2; ++j) {
          double best = -1e30;
          int64_t at = -1;
          for (int a = 0; a < 3; ++a)
            for (int e = 0; e < 2; ++e) {
              const int r = i * 2 - 2 + a, q = j * 2 + e;
              if (r < 0 || r >= 5 || q >= 4) continue;
              const double v = xv[static_cast<size_t>((p * 5 + r) * 4 + q)];
              if (v > best) {
                best = v;
                at = order == 0 ? (p * 5 + r) * 4 + q : p * 20 + q * 5 + r;
              }
            }
          want_y.push_back(best);
          want_i.push_back(static_cast<double>(at));
        }
    SCOPED_TRACE(order);
    expect_values(out[0], want_y, 1e-6);
    expect_values(out[1], want_i, 0);
  }
}

TEST(OnnxNnOps, AveragePoolAsymmetricPadsWithAndWithoutCountIncludePad) {
  DUET_NEED_OPS("AveragePool");
  const Tensor x = randn({1, 2, 6, 7}, 35);
  for (int include : {0, 1}) {
    OneNode m("AveragePool", x.shape(), 11);
    OnnxBuilder::attr_ints(m.node, "kernel_shape", {3, 3});
    OnnxBuilder::attr_ints(m.node, "pads", {2, 0, 1, 2});
    OnnxBuilder::attr_ints(m.node, "strides", {2, 2});
    OnnxBuilder::attr_int(m.node, "count_include_pad", include);
    expect_close(m.run(x),
                 ref_pool(x, {.kh = 3, .kw = 3, .sh = 2, .sw = 2, .pt = 2, .pb = 1, .pr = 2}, true,
                          include == 1));
  }
  // symmetric pads (duet's own padding), default count_include_pad = 0
  OneNode s("AveragePool", x.shape(), 11);
  OnnxBuilder::attr_ints(s.node, "kernel_shape", {3, 3});
  OnnxBuilder::attr_ints(s.node, "pads", {1, 1, 1, 1});
  expect_close(s.run(x),
               ref_pool(x, {.kh = 3, .kw = 3, .pt = 1, .pl = 1, .pb = 1, .pr = 1}, true, false));
}

TEST(OnnxNnOps, PoolCeilModeAndGlobalPools) {
  DUET_NEED_OPS("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool");
  // 4x4, kernel 3, stride 2, ceil: windows [0, 3) and [2, 4) (clipped) per axis.
  const Tensor x =
      Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, {1, 1, 4, 4});
  OneNode mx("MaxPool", x.shape(), 12);
  OnnxBuilder::attr_ints(mx.node, "kernel_shape", {3, 3});
  OnnxBuilder::attr_ints(mx.node, "strides", {2, 2});
  OnnxBuilder::attr_int(mx.node, "ceil_mode", 1);
  expect_values(mx.run(x), {11, 12, 15, 16});
  OneNode av("AveragePool", x.shape(), 11);
  OnnxBuilder::attr_ints(av.node, "kernel_shape", {3, 3});
  OnnxBuilder::attr_ints(av.node, "strides", {2, 2});
  OnnxBuilder::attr_int(av.node, "ceil_mode", 1);
  expect_values(av.run(x), {6, 7.5, 12, 13.5});
  const Tensor g = randn({2, 3, 4, 5}, 36);
  OneNode ga("GlobalAveragePool", g.shape(), 13);
  expect_close(ga.run(g), mean(g, {2, 3}, true));
  OneNode gm("GlobalMaxPool", g.shape(), 13);
  expect_close(gm.run(g), max(g, {2, 3}, true));
  const Tensor g1 = randn({2, 3, 7}, 37);
  OneNode ga1("GlobalAveragePool", g1.shape(), 13);
  expect_close(ga1.run(g1), mean(g1, {2}, true));
}

TEST(OnnxNnOps, PoolCeilModeWithPadsDuetCannotTake) {
  DUET_NEED_OPS("MaxPool", "AveragePool");
  // Ceil mode drops a last window that would start in the trailing pad (PyTorch's and ONNX
  // Runtime's rule): here the floor sizes (5, 4), not (5, 5).
  const Tensor x = randn({1, 2, 8, 8}, 43);
  OneNode m("MaxPool", x.shape(), 12);
  OnnxBuilder::attr_ints(m.node, "kernel_shape", {4, 4});
  OnnxBuilder::attr_ints(m.node, "pads", {1, 3, 3, 3});
  OnnxBuilder::attr_ints(m.node, "strides", {2, 3});
  OnnxBuilder::attr_int(m.node, "ceil_mode", 1);
  expect_close(m.run(x),
               ref_pool(x, {.kh = 4, .kw = 4, .sh = 2, .sw = 3, .pt = 1, .pl = 3, .pb = 3, .pr = 3},
                        false, false));
  const Tensor x1 = randn({1, 2, 8}, 44);  // 1-D: 3 windows, not 4
  for (int include : {0, 1}) {
    OneNode a("AveragePool", x1.shape(), 11);
    OnnxBuilder::attr_ints(a.node, "kernel_shape", {3});
    OnnxBuilder::attr_ints(a.node, "pads", {1, 2});
    OnnxBuilder::attr_ints(a.node, "strides", {3});
    OnnxBuilder::attr_int(a.node, "ceil_mode", 1);
    OnnxBuilder::attr_int(a.node, "count_include_pad", include);
    expect_close(a.run(x1),
                 squeeze(ref_pool(unsqueeze(x1, 2), {.kh = 1, .kw = 3, .sw = 3, .pl = 1, .pr = 2},
                                  true, include == 1),
                         2));
  }
}

// ---- activations ------------------------------------------------------------------------------

TEST(OnnxNnOps, ActivationsAgainstFormulas) {
  DUET_NEED_OPS("Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu",
                "Softplus", "Softsign", "ThresholdedRelu", "Celu", "Shrink");
  const Tensor x = Tensor::from_vector({-3.5, -1, -0.25, 0, 0.5, 2, 4}, {7});
  const std::vector<double> xv = x.to_vector<double>();
  auto check = [&](const std::string& op, int64_t opset, auto f,
                   std::vector<std::pair<const char*, float>> attrs = {}) {
    OneNode m(op, x.shape(), opset);
    for (auto [k, v] : attrs) attr_f(m.node, k, v);
    std::vector<double> want;
    for (double v : xv) want.push_back(f(v));
    SCOPED_TRACE(op);
    expect_values(m.run(x), want, 1e-5);
  };
  check("Relu", 13, [](double v) { return std::max(v, 0.0); });
  check("LeakyRelu", 13, [](double v) { return v > 0 ? v : 0.2 * v; }, {{"alpha", 0.2f}});
  check("LeakyRelu", 13, [](double v) { return v > 0 ? v : 0.01 * v; });
  check("Sigmoid", 13, [](double v) { return 1 / (1 + std::exp(-v)); });
  check("Tanh", 13, [](double v) { return std::tanh(v); });
  check("HardSigmoid", 13, [](double v) { return std::clamp(0.2 * v + 0.5, 0.0, 1.0); });
  check("HardSigmoid", 13, [](double v) { return std::clamp(v / 6 + 0.5, 0.0, 1.0); },
        {{"alpha", 1.0f / 6}, {"beta", 0.5f}});
  check("HardSigmoid", 13, [](double v) { return std::clamp(0.5 * v + 0.25, 0.0, 1.0); },
        {{"alpha", 0.5f}, {"beta", 0.25f}});
  check("HardSwish", 14, [](double v) { return v * std::clamp(v / 6 + 0.5, 0.0, 1.0); });
  check("Elu", 13, [](double v) { return v > 0 ? v : 0.5 * (std::exp(v) - 1); }, {{"alpha", 0.5f}});
  check("Selu", 13, [](double v) {
    return 1.05070102214813232421875 * (v > 0 ? v : 1.67326319217681884765625 * (std::exp(v) - 1));
  });
  check("Softplus", 13, [](double v) { return std::log1p(std::exp(v)); });
  check("Softsign", 13, [](double v) { return v / (1 + std::abs(v)); });
  check("ThresholdedRelu", 13, [](double v) { return v > 0.4 ? v : 0.0; }, {{"alpha", 0.4f}});
  check("Celu", 13, [](double v) { return v > 0 ? v : 2 * (std::exp(v / 2) - 1); },
        {{"alpha", 2.0f}});
  check("Shrink", 13, [](double v) { return v < -1  ? v + 0.5
                                            : v > 1 ? v - 0.5
                                                    : 0.0; },
        {{"lambd", 1.0f}, {"bias", 0.5f}});
}

TEST(OnnxNnOps, PReluBroadcastsSlope) {
  DUET_NEED_OPS("PRelu");
  const Tensor x = randn({2, 3, 4}, 38), slope = Tensor::from_vector({0.1, -0.5, 2, 0.25}, {4});
  OneNode m("PRelu", x.shape(), 13, {{"slope", slope}});
  const std::vector<float> xv = x.to_vector<float>(), sv = slope.to_vector<float>();
  std::vector<double> want;
  for (size_t i = 0; i < xv.size(); ++i) want.push_back(xv[i] > 0 ? xv[i] : xv[i] * sv[i % 4]);
  expect_values(m.run(x), want, 1e-6);
}

TEST(OnnxNnOps, ClipAttributesInputsAndRelu6) {
  DUET_NEED_OPS("Clip");
  const Tensor x = Tensor::from_vector({-8, -1, 0.5, 3, 7}, {5});
  OneNode a("Clip", x.shape(), 7);  // before opset 11: attributes
  attr_f(a.node, "min", -2.0f);
  attr_f(a.node, "max", 4.0f);
  expect_values(a.run(x), {-2, -1, 0.5, 3, 4});
  OneNode r6("Clip", x.shape(), 13, {{"lo", Tensor::scalar(0)}, {"hi", Tensor::scalar(6)}});
  expect_values(r6.run(x), {0, 0, 0.5, 3, 6});
  OneNode hi("Clip", x.shape(), 13, {{"hi", Tensor::scalar(1)}}, {});
  hi.node->set_input(1, "");  // min omitted
  hi.node->add_input("hi");
  expect_values(hi.run(x), {-8, -1, 0.5, 1, 1});
  OneNode none("Clip", x.shape(), 13);
  expect_values(none.run(x), {-8, -1, 0.5, 3, 7});
  // a bound that is a model input: elementwise maximum
  OnnxBuilder b(13);
  b.input("x", kFloat, {5});
  b.input("lo", kFloat, {});
  b.node("Clip", {"x", "lo"}, {"y"});
  b.output("y", kFloat, {});
  expect_values(run_both(b, {{"x", x}, {"lo", Tensor::scalar(-0.5)}})[0], {-0.5, -0.5, 0.5, 3, 7});
}

TEST(OnnxNnOps, SoftmaxAxisAcrossOpsets) {
  DUET_NEED_OPS("Softmax", "LogSoftmax");
  const Tensor x = randn({2, 3, 4}, 39);
  // opset 13: along axis 1 only
  OneNode m13("Softmax", x.shape(), 13);
  OnnxBuilder::attr_int(m13.node, "axis", 1);
  expect_close(m13.run(x), softmax(x, 1));
  // opset 11: coerced to (2, 12), normalised over all 12 values of each row
  OneNode m11("Softmax", x.shape(), 11);
  const Tensor y11 = m11.run(x);
  expect_close(y11, reshape(softmax(reshape(x, {2, 12}), 1), {2, 3, 4}));
  expect_close(sum(y11, {1, 2}), Tensor::ones({2}));
  OneNode l11("LogSoftmax", x.shape(), 11);
  OnnxBuilder::attr_int(l11.node, "axis", 0);
  expect_close(l11.run(x), reshape(log_softmax(reshape(x, {1, 24}), 1), {2, 3, 4}));
  OneNode l13("LogSoftmax", x.shape(), 13);  // default axis -1
  expect_close(l13.run(x), log_softmax(x, 2));
}

TEST(OnnxNnOps, DropoutIsIdentityWithMaskOfOnes) {
  DUET_NEED_OPS("Dropout", "Identity");
  const Tensor x = randn({3, 4}, 40);
  OneNode m("Dropout", x.shape(), 13, {}, {}, {"y", "mask"});
  std::vector<Tensor> out = run_both(m.b, {{"x", x}});  // the mask compiles too
  ASSERT_EQ(out.size(), 2u);
  expect_close(out[0], x);
  EXPECT_EQ(out[1].dtype(), bool_);
  EXPECT_EQ(shape_str(out[1].shape()), "(3, 4)");
  for (bool v : out[1].to_vector<bool>()) EXPECT_TRUE(v);
  OneNode t("Dropout", x.shape(), 13,
            {{"ratio", Tensor::scalar(0.5)}, {"mode", Tensor::scalar(1, bool_)}});
  try {
    t.run(x);
    ADD_FAILURE() << "training_mode = true ran";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("training_mode = true is not supported"));
  }
  OneNode id("Identity", x.shape(), 13);
  expect_close(id.run(x), x);
}

}  // namespace
}  // namespace duet::test

// conv2d_nchwc, format "dense" (kernels/cpu/nchwc_conv.cpp, nchwc_conv_avx512.cpp): blocked
// input -> conv2d_nchwc -> unblocked output against conv2d_fused on the plain tensors, for
// ResNet-like shapes, odd channel counts, strides, dilation, every fusable activation, bias
// and residual; the generic path (float32, float64) and the AVX-512 path against each other.
//
// The blocked tensors are built by small helpers here (plain loops over the layouts of
// kernels/nchwc_kernels.h), so the test depends only on the conv kernel.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "duet/duet.h"
#include "nchwc_kernels.h"
#include "nchwc_test_util.h"
#include "ops/op_def.h"
#include "test_util.h"

namespace duet {
namespace {

using namespace nchwc_test;

int64_t blocks(int64_t c) {
  return (c + B - 1) / B;
}

// w (O, C, KH, KW) -> (Ob, Cb, KH, KW, 16i, 16o), zero-padded.
Tensor pack_dense(const Tensor& w) {
  const Shape& s = w.shape();
  const int64_t o = s[0], c = s[1], kh = s[2], kw = s[3], ob = blocks(o), cb = blocks(c);
  const std::vector<double> v = w.to_vector<double>();
  std::vector<double> out(static_cast<size_t>(ob * cb * kh * kw * B * B), 0.0);
  for (int64_t oc = 0; oc < o; ++oc)
    for (int64_t ic = 0; ic < c; ++ic)
      for (int64_t k = 0; k < kh * kw; ++k)
        out[static_cast<size_t>((((oc / B) * cb + ic / B) * kh * kw + k) * B * B + (ic % B) * B +
                                oc % B)] = v[static_cast<size_t>((oc * c + ic) * kh * kw + k)];
  return Tensor::from_vector(out, {ob, cb, kh, kw, B, B}, w.dtype());
}

struct Case {
  const char* name;
  int64_t n, c, h, w, o, k, stride, pad, dilation;
  bool bias, residual;
  const char* act;
};

struct Data {
  Tensor x, w, b, r;  // plain
};

Data make_data(const Case& c, DType dtype, uint64_t seed) {
  Generator g(seed);
  const int64_t oh = (c.h + 2 * c.pad - c.dilation * (c.k - 1) - 1) / c.stride + 1;
  const int64_t ow = (c.w + 2 * c.pad - c.dilation * (c.k - 1) - 1) / c.stride + 1;
  Data d;
  d.x = Tensor::uniform({c.n, c.c, c.h, c.w}, -1, 1, g, dtype);
  d.w = Tensor::uniform({c.o, c.c, c.k, c.k}, -1, 1, g, dtype);
  if (c.bias) d.b = Tensor::uniform({c.o}, -1, 1, g, dtype);
  if (c.residual) d.r = Tensor::uniform({c.n, c.o, oh, ow}, -1, 1, g, dtype);
  return d;
}

Attrs conv_attrs(const Case& c) {
  return Attrs()
      .set("stride", std::vector<int64_t>{c.stride, c.stride})
      .set("padding", std::vector<int64_t>{c.pad, c.pad})
      .set("dilation", std::vector<int64_t>{c.dilation, c.dilation})
      .set("groups", int64_t{1})
      .set("format", std::string("dense"))
      .set("out_channels", c.o)
      .set("activation", std::string(c.act))
      .set("has_bias", c.bias)
      .set("has_residual", c.residual);
}

// The blocked conv on d's tensors, unblocked. Padding channels of x and the residual hold
// `pad` (any finite value must leave the real channels alone).
Tensor run_blocked(const Case& c, const Data& d, double pad = 0.0) {
  std::vector<Tensor> in{to_blocked(d.x, pad), pack_dense(d.w)};
  if (c.bias) in.push_back(d.b);
  if (c.residual) in.push_back(to_blocked(d.r, pad));
  const Tensor y = call_op1(op_def(OpId::conv2d_nchwc), in, conv_attrs(c));
  EXPECT_EQ(y.shape()[1], blocks(c.o));
  return from_blocked(y, c.o);
}

Tensor run_reference(const Case& c, const Data& d) {
  return conv2d_fused(d.x, d.w, d.b, d.r,
                      {.stride = c.stride, .padding = c.pad, .dilation = c.dilation}, c.act);
}

const Case kCases[] = {
    // ResNet-like layers at small H, W
    {"resnet_3x3s1_64", 2, 64, 9, 9, 64, 3, 1, 1, 1, true, false, "relu"},
    {"resnet_3x3s1_res", 1, 64, 8, 10, 64, 3, 1, 1, 1, true, true, "relu"},
    {"resnet_3x3s2_64to128", 2, 64, 11, 11, 128, 3, 2, 1, 1, true, false, "relu"},
    {"resnet_3x3s1_256", 1, 256, 5, 5, 256, 3, 1, 1, 1, false, true, "none"},
    {"resnet_3x3s1_512", 1, 512, 3, 3, 512, 3, 1, 1, 1, true, false, "relu"},
    {"rows_of_7_groups_of_3", 2, 48, 7, 7, 80, 3, 1, 1, 1, true, true, "relu"},
    {"resnet_1x1s1_64to256", 2, 64, 7, 7, 256, 1, 1, 0, 1, true, true, "relu"},
    {"resnet_1x1s1_256to64", 1, 256, 10, 10, 64, 1, 1, 0, 1, true, false, "relu"},
    {"resnet_1x1s2_256to512", 2, 256, 7, 7, 512, 1, 2, 0, 1, true, false, "none"},
    {"long_row_1x1", 1, 32, 13, 17, 48, 1, 1, 0, 1, true, false, "relu6"},
    {"long_row_1x1_2blocks", 1, 48, 11, 13, 32, 1, 1, 0, 1, false, true, "relu"},
    // odd channel counts (padding blocks), 3 output blocks
    {"odd_20to5", 2, 20, 6, 7, 5, 3, 1, 1, 1, true, false, "silu"},
    {"odd_5to20", 1, 5, 7, 6, 20, 3, 1, 1, 1, false, true, "relu"},
    {"odd_3blocks", 1, 40, 9, 9, 40, 3, 1, 1, 1, true, true, "relu6"},
    // dilation, stride 3, a 5x5 kernel, padding larger than the kernel reach
    {"dilated_2", 1, 32, 9, 9, 32, 3, 1, 2, 2, true, false, "relu"},
    {"dilated_3_pad1", 1, 16, 10, 8, 16, 3, 1, 1, 3, false, false, "none"},
    {"stride3_5x5", 1, 16, 13, 13, 32, 5, 3, 2, 1, true, true, "hardswish"},
    {"pad_beyond", 1, 16, 2, 3, 16, 3, 1, 3, 1, true, false, "sigmoid"},
    {"tiny_1x1_image", 1, 16, 1, 1, 80, 3, 1, 1, 1, true, true, "relu"},
    // every fusable activation
    {"act_sigmoid", 1, 16, 5, 5, 16, 3, 1, 1, 1, true, false, "sigmoid"},
    {"act_silu", 1, 16, 5, 5, 32, 3, 2, 1, 1, true, true, "silu"},
    {"act_hardswish", 1, 16, 5, 5, 16, 1, 1, 0, 1, false, true, "hardswish"},
    {"act_relu6", 1, 16, 5, 5, 64, 3, 1, 1, 1, true, true, "relu6"},
};

class ConvNchwc : public ::testing::TestWithParam<Case> {};

// float64: the generic path against the reference.
TEST_P(ConvNchwc, GenericFloat64MatchesConv2dFused) {
  const Case& c = GetParam();
  const Data d = make_data(c, float64, 7);
  test::expect_close(run_blocked(c, d), run_reference(c, d), 1e-10, 1e-10);
}

// float32: the default path (AVX-512 where the CPU has it) and the generic path against the
// reference, and against each other.
TEST_P(ConvNchwc, Float32BothPathsMatchConv2dFused) {
  const Case& c = GetParam();
  const Data d = make_data(c, float32, 11);
  const Tensor ref = run_reference(c, d);
  const Tensor fast = run_blocked(c, d);
  Tensor generic;
  {
    IsaGuard scope(simd::Isa::generic);
    generic = run_blocked(c, d);
  }
  const double tol = 1e-4;
  test::expect_close(fast, ref, tol, tol);
  test::expect_close(generic, ref, tol, tol);
  test::expect_close(fast, generic, tol, tol);
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConvNchwc, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           return std::string(i.param.name);
                         });

// Finite garbage in the padding channels of x and the residual never reaches real channels.
TEST(ConvNchwcPadding, PaddingChannelsDoNotLeak) {
  for (const Case& c : kCases) {
    if (c.c % B == 0 && c.o % B == 0) continue;
    SCOPED_TRACE(c.name);
    const Data d = make_data(c, float32, 13);
    const Tensor ref = run_reference(c, d);
    test::expect_close(run_blocked(c, d, 3.5), ref, 1e-4, 1e-4);
    IsaGuard scope(simd::Isa::generic);
    test::expect_close(run_blocked(c, d, -2.25), ref, 1e-4, 1e-4);
  }
}

// The same call on 1 and 2 threads gives the same bits (units write disjoint outputs).
TEST(ConvNchwcThreads, DeterministicAcrossThreadCounts) {
  const Case c{"t", 2, 64, 12, 12, 128, 3, 1, 1, 1, true, true, "relu"};
  const Data d = make_data(c, float32, 5);
  const int before = num_threads();
  set_num_threads(1);
  const std::vector<float> one = run_blocked(c, d).to_vector<float>();
  set_num_threads(2);
  const std::vector<float> two = run_blocked(c, d).to_vector<float>();
  set_num_threads(before);
  EXPECT_EQ(one, two);
}

// The kernel may write its output over the residual (a graph that reuses the residual's
// buffer): it reads each tile's residual before it stores partial sums there.
TEST(ConvNchwcInPlace, ResidualMayBeTheOutputBuffer) {
  for (const simd::Isa isa : {simd::best_isa(), simd::Isa::generic}) {
    IsaGuard scope(isa);
    for (const Case& c : {Case{"a", 2, 64, 9, 9, 64, 3, 1, 1, 1, true, true, "relu"},
                          Case{"b", 1, 256, 7, 7, 64, 1, 1, 0, 1, false, true, "silu"}}) {
      SCOPED_TRACE(c.name);
      const Data d = make_data(c, float32, 17);
      const Tensor expected = run_blocked(c, d);
      const Attrs attrs = conv_attrs(c);
      std::vector<Tensor> in{to_blocked(d.x), pack_dense(d.w)};
      if (c.bias) in.push_back(d.b);
      Tensor r = to_blocked(d.r);
      in.push_back(r);
      std::vector<Tensor> out{r};  // y is the residual's buffer
      cpu_kernels::conv2d_nchwc(KernelArgs{attrs, in, out});
      test::expect_close(from_blocked(r, c.o), expected, 1e-5, 1e-5);
    }
  }
}

TEST(ConvNchwcErrors, RejectsMismatchedPackedWeight) {
  const Case c{"e", 1, 32, 5, 5, 16, 3, 1, 1, 1, false, false, "none"};
  Generator g(1);
  const Tensor xb = Tensor::randn({1, 2, 5, 5, B}, g);
  const Tensor wp = Tensor::randn({1, 3, 3, 3, B, B}, g);  // 3 input blocks, x has 2
  EXPECT_DUET_ERROR(call_op1(op_def(OpId::conv2d_nchwc), {xb, wp}, conv_attrs(c)), "conv2d_nchwc",
                    "packed weight");
}

}  // namespace
}  // namespace duet

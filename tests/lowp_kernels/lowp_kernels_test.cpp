// The native bfloat16 CPU kernels (kernels/cpu/lowp_kernels.h): conv2d (forward, both
// backward ops, the fused epilogue), linear and matmul in bfloat16 against the float32 ops on
// the same bfloat16-rounded inputs, under each bfloat16 GEMM path this CPU has
// (duet::simd::set_bf16_path), and eager vs graph (fused) bit for bit.
//
// Tolerance: the bfloat16 result is the float32-accumulated product rounded once (half an ulp:
// 2^-9 relative; 2^-8 allowed) plus the float32 accumulation-order difference of a reduction of
// length K (K * 2e-6 absolute for N(0, 1) inputs).
#include <cmath>
#include <vector>

#include "duet/graph.h"
#include "duet/simd.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

// The bfloat16 GEMM paths of this CPU: plain, and the faster ones it supports.
std::vector<simd::Bf16Path> bf16_paths() {
  std::vector<simd::Bf16Path> r{simd::Bf16Path::plain};
  const simd::Bf16Path best = simd::best_bf16_path();
  if (best == simd::Bf16Path::avx512_bf16 || best == simd::Bf16Path::amx)
    r.push_back(simd::Bf16Path::avx512_bf16);
  if (best == simd::Bf16Path::amx) r.push_back(simd::Bf16Path::amx);
  return r;
}

struct PathGuard {
  explicit PathGuard(simd::Bf16Path p) { simd::set_bf16_path(p); }
  ~PathGuard() { simd::reset_bf16_path(); }
  PathGuard(const PathGuard&) = delete;
  PathGuard& operator=(const PathGuard&) = delete;
};

// A bfloat16 N(0, 1) tensor and its exact float32 copy.
struct Pair {
  Tensor b, f;
};
Pair randn_pair(const Shape& s, uint64_t seed) {
  Generator g(seed);
  Tensor b = Tensor::randn(s, g).to(bfloat16);
  return {b, b.to(float32)};
}

// actual: bfloat16 result; expected: the float32 op on the same (rounded) inputs; k: the
// reduction length.
void expect_bf16_close(const Tensor& actual, const Tensor& expected, int64_t k,
                       const std::string& what) {
  ASSERT_EQ(actual.dtype(), bfloat16) << what;
  ASSERT_EQ(shape_str(actual.shape()), shape_str(expected.shape())) << what;
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  const double atol = 2e-6 * static_cast<double>(k);
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_NEAR(a[i], e[i], atol + std::ldexp(std::abs(e[i]), -8))
        << what << " at flat index " << i;
}

// Bit equality of two bfloat16 tensors.
void expect_same_bits(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.dtype(), bfloat16) << what;
  ASSERT_EQ(b.dtype(), bfloat16) << what;
  ASSERT_EQ(shape_str(a.shape()), shape_str(b.shape())) << what;
  const std::vector<float> va = a.to_vector<float>(), vb = b.to_vector<float>();
  for (size_t i = 0; i < va.size(); ++i)
    ASSERT_EQ(BFloat16(va[i]).bits, BFloat16(vb[i]).bits) << what << " at flat index " << i;
}

struct Cfg {
  int64_t n, c, h, w, o, kh, kw;
  std::array<int64_t, 2> stride{1, 1}, padding{0, 0}, dilation{1, 1};
  int64_t groups = 1;

  Conv2dOptions opts() const { return {stride, padding, dilation, groups}; }
  Shape x_shape() const { return {n, c, h, w}; }
  Shape w_shape() const { return {o, c / groups, kh, kw}; }
  std::string str() const {
    return detail::cat("x", shape_str(x_shape()), " w", shape_str(w_shape()), " s", stride[0], ",",
                       stride[1], " p", padding[0], ",", padding[1], " d", dilation[0], ",",
                       dilation[1], " g", groups);
  }
};

// Stride 2, padding, dilation, groups, depthwise, batch 1, 1x1 (in place and strided), the 7x7
// stem, row bands of one image (large map), several images per GEMM (small maps).
const std::vector<Cfg>& configs() {
  static const std::vector<Cfg> c = {
      {2, 3, 9, 9, 8, 3, 3, {1, 1}, {1, 1}},
      {1, 8, 10, 11, 16, 3, 3, {2, 2}, {1, 1}},
      {2, 4, 9, 9, 6, 3, 3, {1, 1}, {2, 2}, {2, 2}},
      {2, 8, 7, 7, 8, 3, 3, {1, 1}, {1, 1}, {1, 1}, 2},
      {2, 8, 9, 9, 8, 3, 3, {1, 1}, {1, 1}, {1, 1}, 8},
      {2, 8, 9, 9, 16, 3, 3, {2, 2}, {1, 1}, {1, 1}, 8},
      {3, 16, 5, 5, 12, 1, 1},
      {2, 16, 8, 8, 8, 1, 1, {2, 2}},
      {1, 3, 32, 32, 16, 7, 7, {2, 2}, {3, 3}},
      {1, 64, 40, 40, 8, 3, 3, {1, 1}, {1, 1}},
      {8, 32, 7, 7, 16, 3, 3, {1, 1}, {1, 1}},
      {1, 5, 6, 4, 7, 2, 3, {1, 2}, {0, 1}},
  };
  return c;
}

}  // namespace

TEST(LowpKernels, Conv2dForwardMatchesFloat32) {
  for (simd::Bf16Path path : bf16_paths()) {
    PathGuard guard(path);
    uint64_t seed = 10;
    for (const Cfg& c : configs()) {
      const std::string what = detail::cat(simd::bf16_path_name(path), " ", c.str());
      Pair x = randn_pair(c.x_shape(), ++seed), w = randn_pair(c.w_shape(), ++seed);
      Pair b = randn_pair({c.o}, ++seed);
      const int64_t k = c.c / c.groups * c.kh * c.kw;
      expect_bf16_close(conv2d(x.b, w.b, b.b, c.opts()), conv2d(x.f, w.f, b.f, c.opts()), k, what);
      expect_bf16_close(conv2d(x.b, w.b, Tensor(), c.opts()), conv2d(x.f, w.f, Tensor(), c.opts()),
                        k, what + " no bias");
    }
  }
}

TEST(LowpKernels, Conv2dBackwardMatchesFloat32) {
  for (simd::Bf16Path path : bf16_paths()) {
    PathGuard guard(path);
    uint64_t seed = 100;
    for (const Cfg& c : configs()) {
      const std::string what = detail::cat(simd::bf16_path_name(path), " ", c.str());
      Pair x = randn_pair(c.x_shape(), ++seed), w = randn_pair(c.w_shape(), ++seed);
      const Shape ys = conv2d(x.f, w.f, Tensor(), c.opts()).shape();
      Pair go = randn_pair(ys, ++seed);
      const int64_t kin = c.o / c.groups * c.kh * c.kw, kw = ys[0] * ys[2] * ys[3];
      expect_bf16_close(conv2d_backward_input(go.b, w.b, c.x_shape(), c.opts()),
                        conv2d_backward_input(go.f, w.f, c.x_shape(), c.opts()), kin,
                        what + " input grad");
      expect_bf16_close(conv2d_backward_weight(go.b, x.b, c.w_shape(), c.opts()),
                        conv2d_backward_weight(go.f, x.f, c.w_shape(), c.opts()), kw,
                        what + " weight grad");
    }
  }
}

// Autograd through the bfloat16 conv and linear: the gradients of bfloat16 leaves against the
// float32 gradients of the same values.
TEST(LowpKernels, AutogradGradientsMatchFloat32) {
  const Cfg c{4, 6, 9, 9, 8, 3, 3, {2, 2}, {1, 1}};
  Pair x = randn_pair(c.x_shape(), 1), w = randn_pair(c.w_shape(), 2);
  Pair go = randn_pair(conv2d(x.f, w.f, Tensor(), c.opts()).shape(), 3);
  Tensor xb = x.b.detach().requires_grad_(), wb = w.b.detach().requires_grad_();
  Tensor xf = x.f.detach().requires_grad_(), wf = w.f.detach().requires_grad_();
  conv2d(xb, wb, Tensor(), c.opts()).backward(go.b);
  conv2d(xf, wf, Tensor(), c.opts()).backward(go.f);
  expect_bf16_close(xb.grad(), xf.grad(), c.o * 9, "conv x grad");
  expect_bf16_close(wb.grad(), wf.grad(), 4 * 5 * 5, "conv w grad");

  Pair a = randn_pair({6, 5, 24}, 4), lw = randn_pair({10, 24}, 5), lg = randn_pair({6, 5, 10}, 6);
  Tensor ab = a.b.detach().requires_grad_(), lwb = lw.b.detach().requires_grad_();
  Tensor af = a.f.detach().requires_grad_(), lwf = lw.f.detach().requires_grad_();
  linear(ab, lwb).backward(lg.b);
  linear(af, lwf).backward(lg.f);
  expect_bf16_close(ab.grad(), af.grad(), 10, "linear x grad");
  expect_bf16_close(lwb.grad(), lwf.grad(), 30, "linear w grad");
}

TEST(LowpKernels, LinearAndMatmulMatchFloat32) {
  for (simd::Bf16Path path : bf16_paths()) {
    PathGuard guard(path);
    const std::string p = simd::bf16_path_name(path);
    Pair x = randn_pair({5, 7, 33}, 1), w = randn_pair({17, 33}, 2), b = randn_pair({17}, 3);
    expect_bf16_close(linear(x.b, w.b, b.b), linear(x.f, w.f, b.f), 33, p + " linear");
    expect_bf16_close(linear(x.b, w.b), linear(x.f, w.f), 33, p + " linear no bias");
    Pair v = randn_pair({33}, 4);
    expect_bf16_close(linear(v.b, w.b, b.b), linear(v.f, w.f, b.f), 33, p + " linear rank 1");

    Pair a = randn_pair({3, 4, 20}, 5), m = randn_pair({20, 9}, 6);
    expect_bf16_close(matmul(a.b, m.b), matmul(a.f, m.f), 20, p + " matmul folded batch");
    Pair c = randn_pair({2, 1, 5, 6}, 7), d = randn_pair({3, 6, 4}, 8);
    expect_bf16_close(matmul(c.b, d.b), matmul(c.f, d.f), 6, p + " matmul broadcast");
    Pair e = randn_pair({9, 20}, 9);
    expect_bf16_close(matmul(a.b, e.b.transpose(0, 1)), matmul(a.f, e.f.transpose(0, 1)), 20,
                      p + " matmul transposed b");
    Pair r = randn_pair({20}, 10);
    expect_bf16_close(matmul(a.b, r.b), matmul(a.f, r.f), 20, p + " matmul vector");
    Pair big = randn_pair({70, 130}, 11), big2 = randn_pair({130, 50}, 12);
    expect_bf16_close(matmul(big.b, big2.b), matmul(big.f, big2.f), 130, p + " matmul 70x130x50");
    // A transposed b with >= 16 rows of a: copied untransposed before the GEMM.
    Pair bt = randn_pair({50, 130}, 13);
    expect_bf16_close(matmul(big.b, bt.b.transpose(0, 1)), matmul(big.f, bt.f.transpose(0, 1)), 130,
                      p + " matmul 70x130 @ (50x130)^T");
  }
}

// Graph mode fuses conv + bias + residual + activation into conv2d_fused and linear + activation
// into linear_fused; the fused bfloat16 kernels round where the eager op chain rounds, so the
// results agree bit for bit.
TEST(LowpKernels, FusedGraphMatchesEagerBits) {
  const Cfg c{2, 8, 10, 10, 8, 3, 3, {1, 1}, {1, 1}};
  Pair x = randn_pair(c.x_shape(), 21), w = randn_pair(c.w_shape(), 22), b = randn_pair({8}, 23);
  Pair r = randn_pair({2, 8, 10, 10}, 24);
  auto conv_net = [&](const Tensor& xi, const Tensor& ri, bool silu_act) {
    Tensor y = conv2d(xi, w.b, b.b, c.opts()) + ri;
    return silu_act ? silu(y) : relu(y);
  };
  for (bool use_silu : {false, true}) {
    Tensor eager = conv_net(x.b, r.b, use_silu);
    Graph g;
    Tensor xs = g.input("x", c.x_shape(), bfloat16), rs = g.input("r", {2, 8, 10, 10}, bfloat16);
    Executable exe = compile(g, {conv_net(xs, rs, use_silu)});
    expect_same_bits(exe.run({{"x", x.b}, {"r", r.b}})[0], eager,
                     use_silu ? "conv + residual + silu" : "conv + residual + relu");
  }
  Pair lx = randn_pair({6, 40}, 25), lw = randn_pair({24, 40}, 26), lb = randn_pair({24}, 27);
  Tensor eager = relu(linear(lx.b, lw.b, lb.b));
  Graph g;
  Tensor xs = g.input("x", {6, 40}, bfloat16);
  Executable exe = compile(g, {relu(linear(xs, lw.b, lb.b))});
  expect_same_bits(exe.run({{"x", lx.b}})[0], eager, "linear + relu");
}

// The native bfloat16 max_pool2d and add_relu give exactly the float32 kernels' results on the
// widened values, rounded (a maximum is one of its inputs; relu(a + b) is rounded once).
TEST(LowpKernels, MaxPoolAndAddReluMatchFloat32Bits) {
  Pair x = randn_pair({2, 5, 13, 12}, 31);
  for (const Pool2dOptions& o :
       {Pool2dOptions{.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}},
        Pool2dOptions{.kernel = {2, 2}, .stride = {2, 2}},
        Pool2dOptions{.kernel = {3, 2}, .stride = {1, 2}, .padding = {1, 0}, .dilation = {2, 1}}}) {
    expect_same_bits(max_pool2d(x.b, o), max_pool2d(x.f, o).to(bfloat16), "max_pool2d");
  }
  Pair a = randn_pair({3, 7, 9, 11}, 32), b = randn_pair({3, 7, 9, 11}, 33);
  expect_same_bits(add_relu(a.b, b.b), add_relu(a.f, b.f).to(bfloat16), "add_relu");
}

// conv2d, conv2d_backward_input, conv2d_backward_weight: forward against naive loops for many
// configurations (both dtypes, several thread counts), gradients against finite differences.
#include "duet/threads.h"

#include "conv_kernels.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

struct Cfg {
  int64_t n, c, h, w, o, kh, kw;
  std::array<int64_t, 2> stride{1, 1}, padding{0, 0}, dilation{1, 1};
  int64_t groups = 1;
  bool bias = true;

  Conv2dOptions opts() const { return {stride, padding, dilation, groups}; }
  Shape x_shape() const { return {n, c, h, w}; }
  Shape w_shape() const { return {o, c / groups, kh, kw}; }
  int64_t oh() const { return (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) / stride[0] + 1; }
  int64_t ow() const { return (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) / stride[1] + 1; }
  Shape y_shape() const { return {n, o, oh(), ow()}; }
  std::string str() const {
    return detail::cat("x", shape_str(x_shape()), " w", shape_str(w_shape()), " s", stride[0], ",",
                       stride[1], " p", padding[0], ",", padding[1], " d", dilation[0], ",",
                       dilation[1], " g", groups, bias ? " bias" : "");
  }
};

// Calls f(n, oc, oy, ox, ic, ky, kx, iy, ix) for every in-bounds tap of the convolution.
template <class F>
void for_each_tap(const Cfg& c, F f) {
  const int64_t cg = c.c / c.groups, og = c.o / c.groups;
  for (int64_t n = 0; n < c.n; ++n)
    for (int64_t oc = 0; oc < c.o; ++oc)
      for (int64_t oy = 0; oy < c.oh(); ++oy)
        for (int64_t ox = 0; ox < c.ow(); ++ox)
          for (int64_t icl = 0; icl < cg; ++icl)
            for (int64_t ky = 0; ky < c.kh; ++ky)
              for (int64_t kx = 0; kx < c.kw; ++kx) {
                const int64_t iy = oy * c.stride[0] - c.padding[0] + ky * c.dilation[0];
                const int64_t ix = ox * c.stride[1] - c.padding[1] + kx * c.dilation[1];
                if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) continue;
                f(n, oc, oy, ox, (oc / og) * cg + icl, icl, ky, kx, iy, ix);
              }
}

// Index helpers over row-major (N, C, H, W) / (O, Cg, KH, KW) buffers.
int64_t xi(const Cfg& c, int64_t n, int64_t ch, int64_t y, int64_t x) {
  return ((n * c.c + ch) * c.h + y) * c.w + x;
}
int64_t wi(const Cfg& c, int64_t o, int64_t icl, int64_t ky, int64_t kx) {
  return ((o * (c.c / c.groups) + icl) * c.kh + ky) * c.kw + kx;
}
int64_t yi(const Cfg& c, int64_t n, int64_t o, int64_t y, int64_t x) {
  return ((n * c.o + o) * c.oh() + y) * c.ow() + x;
}

Tensor ref_forward(const Cfg& c, const Tensor& x, const Tensor& w, const Tensor& b) {
  std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>();
  std::vector<double> y(numel(c.y_shape()), 0.0);
  for_each_tap(c, [&](int64_t n, int64_t oc, int64_t oy, int64_t ox, int64_t ic, int64_t icl,
                      int64_t ky, int64_t kx, int64_t iy, int64_t ix) {
    y[yi(c, n, oc, oy, ox)] += xv[xi(c, n, ic, iy, ix)] * wv[wi(c, oc, icl, ky, kx)];
  });
  if (b.defined()) {
    std::vector<double> bv = b.to_vector<double>();
    for (size_t i = 0; i < y.size(); ++i) y[i] += bv[(i / (c.oh() * c.ow())) % c.o];
  }
  return Tensor::from_vector(y, c.y_shape(), float64);
}

Tensor ref_backward_input(const Cfg& c, const Tensor& g, const Tensor& w) {
  std::vector<double> gv = g.to_vector<double>(), wv = w.to_vector<double>();
  std::vector<double> gx(numel(c.x_shape()), 0.0);
  for_each_tap(c, [&](int64_t n, int64_t oc, int64_t oy, int64_t ox, int64_t ic, int64_t icl,
                      int64_t ky, int64_t kx, int64_t iy, int64_t ix) {
    gx[xi(c, n, ic, iy, ix)] += gv[yi(c, n, oc, oy, ox)] * wv[wi(c, oc, icl, ky, kx)];
  });
  return Tensor::from_vector(gx, c.x_shape(), float64);
}

Tensor ref_backward_weight(const Cfg& c, const Tensor& g, const Tensor& x) {
  std::vector<double> gv = g.to_vector<double>(), xv = x.to_vector<double>();
  std::vector<double> gw(numel(c.w_shape()), 0.0);
  for_each_tap(c, [&](int64_t n, int64_t oc, int64_t oy, int64_t ox, int64_t ic, int64_t icl,
                      int64_t ky, int64_t kx, int64_t iy, int64_t ix) {
    gw[wi(c, oc, icl, ky, kx)] += gv[yi(c, n, oc, oy, ox)] * xv[xi(c, n, ic, iy, ix)];
  });
  return Tensor::from_vector(gw, c.w_shape(), float64);
}

Cfg mk(int64_t n, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kh, int64_t kw) {
  Cfg r;
  r.n = n, r.c = c, r.h = h, r.w = w, r.o = o, r.kh = kh, r.kw = kw;
  return r;
}
Cfg with(Cfg c, std::array<int64_t, 2> s, std::array<int64_t, 2> p, std::array<int64_t, 2> d,
         int64_t groups, bool bias) {
  c.stride = s, c.padding = p, c.dilation = d, c.groups = groups, c.bias = bias;
  return c;
}

// Covers: stride 1/2, padding 0/1/2/3, dilation 1/2, groups 1/2/C (depthwise, with and without
// a channel multiplier), pointwise 1x1, odd and non-square sizes, row-band chunks (large
// feature maps) and multi-image chunks (small ones).
std::vector<Cfg> forward_configs() {
  return {
      with(mk(2, 3, 7, 7, 4, 3, 3), {1, 1}, {0, 0}, {1, 1}, 1, true),
      with(mk(2, 4, 8, 9, 6, 3, 3), {2, 2}, {1, 1}, {1, 1}, 2, false),
      with(mk(1, 3, 9, 7, 5, 3, 2), {1, 2}, {2, 1}, {2, 1}, 1, false),
      with(mk(2, 6, 7, 8, 6, 3, 3), {1, 1}, {1, 1}, {1, 1}, 6, true),      // depthwise
      with(mk(2, 4, 9, 9, 8, 3, 3), {2, 2}, {1, 1}, {1, 1}, 4, true),      // depthwise x2
      with(mk(2, 5, 6, 7, 5, 5, 5), {1, 1}, {2, 2}, {2, 1}, 5, false),     // depthwise dilated
      with(mk(3, 8, 5, 5, 16, 1, 1), {1, 1}, {0, 0}, {1, 1}, 1, true),     // pointwise
      with(mk(2, 8, 6, 6, 4, 1, 1), {1, 1}, {0, 0}, {1, 1}, 2, true),      // pointwise, groups
      with(mk(2, 8, 7, 7, 4, 1, 1), {2, 2}, {0, 0}, {1, 1}, 1, false),     // 1x1 stride 2
      with(mk(8, 16, 5, 5, 32, 3, 3), {1, 1}, {1, 1}, {1, 1}, 1, true),    // multi-image chunks
      with(mk(6, 8, 4, 5, 8, 3, 3), {1, 1}, {1, 1}, {1, 1}, 2, true),      // multi-image, groups
      with(mk(2, 64, 40, 40, 8, 3, 3), {1, 1}, {1, 1}, {1, 1}, 1, true),   // row bands
      with(mk(1, 32, 33, 21, 6, 3, 3), {2, 1}, {1, 0}, {1, 1}, 2, false),  // row bands, groups
      with(mk(2, 3, 23, 23, 8, 7, 7), {2, 2}, {3, 3}, {1, 1}, 1, true),    // resnet stem
      with(mk(2, 4, 9, 9, 4, 3, 3), {1, 1}, {2, 2}, {2, 2}, 1, true),      // dilation 2
      with(mk(1, 4, 7, 10, 6, 5, 3), {1, 2}, {2, 1}, {1, 1}, 2, true),     // 5x3 kernel
      with(mk(2, 3, 2, 2, 4, 3, 3), {1, 1}, {1, 1}, {1, 1}, 1, true),      // input < kernel
      with(mk(1, 2, 1, 5, 3, 1, 3), {1, 1}, {0, 1}, {1, 1}, 1, false),     // one row
      with(mk(3, 6, 11, 13, 9, 4, 4), {3, 2}, {0, 2}, {1, 2}, 3, true),    // stride 3, even k
      // one image, small map, more outputs than positions: im2col instead of row shifting,
      // the im2col split over the threads
      with(mk(1, 64, 12, 12, 160, 3, 3), {1, 1}, {1, 1}, {1, 1}, 1, true),
  };
}

void check_forward(const Cfg& c, DType dt, double rtol, double atol) {
  SCOPED_TRACE(c.str() + (dt == float32 ? " float32" : " float64"));
  Generator gen(7);
  Tensor x = Tensor::uniform(c.x_shape(), -1, 1, gen, dt);
  Tensor w = Tensor::uniform(c.w_shape(), -1, 1, gen, dt);
  Tensor b = c.bias ? Tensor::uniform({c.o}, -1, 1, gen, dt) : Tensor();
  Tensor y = conv2d(x, w, b, c.opts());
  EXPECT_EQ(y.dtype(), dt);
  expect_close(y, ref_forward(c, x, w, b), rtol, atol);

  Tensor g = Tensor::uniform(c.y_shape(), -1, 1, gen, dt);
  expect_close(conv2d_backward_input(g, w, c.x_shape(), c.opts()), ref_backward_input(c, g, w),
               rtol, atol);
  expect_close(conv2d_backward_weight(g, x, c.w_shape(), c.opts()), ref_backward_weight(c, g, x),
               rtol, atol);
}

}  // namespace

TEST(Conv2d, ForwardAndBackwardOpsMatchNaiveFloat64) {
  for (const Cfg& c : forward_configs()) check_forward(c, float64, 1e-10, 1e-10);
}

TEST(Conv2d, ForwardAndBackwardOpsMatchNaiveFloat32) {
  for (const Cfg& c : forward_configs()) check_forward(c, float32, 1e-4, 1e-4);
}

// Serial (Eigen-threaded), per-chunk parallel and the private-accumulator reduction of the
// weight gradient must agree for any thread count.
TEST(Conv2d, ThreadCountsAgree) {
  const int saved = duet::num_threads();
  for (int t : {1, 2, 3}) {
    duet::set_num_threads(t);
    SCOPED_TRACE(detail::cat(t, " threads"));
    check_forward(with(mk(5, 16, 12, 12, 8, 3, 3), {1, 1}, {1, 1}, {1, 1}, 1, true), float64, 1e-10,
                  1e-10);
    check_forward(with(mk(4, 64, 24, 20, 8, 3, 3), {1, 1}, {1, 1}, {1, 1}, 2, false), float32, 1e-4,
                  1e-4);
    check_forward(with(mk(3, 6, 9, 9, 6, 3, 3), {2, 2}, {1, 1}, {1, 1}, 6, true), float64, 1e-10,
                  1e-10);
    check_forward(with(mk(1, 64, 12, 12, 160, 3, 3), {1, 1}, {1, 1}, {1, 1}, 1, true), float64,
                  1e-10, 1e-10);
  }
  duet::set_num_threads(saved);
}

TEST(Conv2d, NonContiguousInput) {
  Cfg c = with(mk(2, 3, 6, 5, 4, 3, 3), {1, 1}, {1, 1}, {1, 1}, 1, true);
  Generator gen(3);
  Tensor xt = Tensor::uniform({2, 3, 5, 6}, -1, 1, gen, float64);
  Tensor x = xt.transpose(2, 3);  // (2, 3, 6, 5), a view
  Tensor w = Tensor::uniform(c.w_shape(), -1, 1, gen, float64);
  Tensor b = Tensor::uniform({4}, -1, 1, gen, float64);
  expect_close(conv2d(x, w, b, c.opts()), ref_forward(c, x.contiguous(), w, b), 1e-10, 1e-10);
}

TEST(Conv2d, GradcheckConfigs) {
  const std::vector<Cfg> cfgs = {
      with(mk(2, 3, 5, 6, 4, 3, 3), {1, 1}, {1, 1}, {1, 1}, 1, true),
      with(mk(2, 4, 7, 7, 2, 3, 3), {2, 2}, {0, 1}, {2, 2}, 2, true),   // stride, dilation, groups
      with(mk(2, 3, 6, 5, 3, 3, 3), {1, 2}, {1, 1}, {1, 1}, 3, true),   // depthwise
      with(mk(1, 2, 6, 6, 4, 3, 3), {2, 1}, {2, 2}, {2, 1}, 2, false),  // depthwise x2, dilated
      with(mk(2, 4, 4, 3, 3, 1, 1), {1, 1}, {0, 0}, {1, 1}, 1, true),   // pointwise
      with(mk(4, 2, 3, 3, 3, 2, 2), {1, 1}, {1, 0}, {1, 1}, 1, true),   // multi-image chunks
  };
  for (const Cfg& c : cfgs) {
    SCOPED_TRACE(c.str());
    Tensor x = rand64(c.x_shape(), 11), w = rand64(c.w_shape(), 12);
    std::vector<Tensor> in{x, w};
    if (c.bias) in.push_back(rand64({c.o}, 13));
    const Conv2dOptions o = c.opts();
    gradcheck(
        [o](const std::vector<Tensor>& t) {
          return conv2d(t[0], t[1], t.size() > 2 ? t[2] : Tensor(), o);
        },
        in);
  }
}

TEST(Conv2d, BackwardOpsGradcheck) {
  const std::vector<Cfg> cfgs = {
      with(mk(2, 3, 5, 5, 4, 3, 3), {1, 1}, {1, 1}, {1, 1}, 1, false),
      with(mk(2, 4, 7, 6, 2, 3, 2), {2, 1}, {1, 0}, {1, 2}, 2, false),
      with(mk(1, 3, 6, 6, 3, 3, 3), {2, 2}, {1, 1}, {1, 1}, 3, false),  // depthwise
      with(mk(3, 2, 3, 3, 2, 1, 1), {1, 1}, {0, 0}, {1, 1}, 1, false),  // pointwise
  };
  for (const Cfg& c : cfgs) {
    SCOPED_TRACE(c.str());
    const Conv2dOptions o = c.opts();
    const Shape xs = c.x_shape(), ws = c.w_shape();
    Tensor g = rand64(c.y_shape(), 21), w = rand64(ws, 22), x = rand64(xs, 23);
    gradcheck(
        [o, xs](const std::vector<Tensor>& t) { return conv2d_backward_input(t[0], t[1], xs, o); },
        {g, w});
    gradcheck(
        [o, ws](const std::vector<Tensor>& t) { return conv2d_backward_weight(t[0], t[1], ws, o); },
        {g, x});
  }
}

// The second derivative through the conv's own backward graph: d/dx of <dL/dw, v>.
TEST(Conv2d, BackwardChainsThroughBackwardOps) {
  Cfg c = with(mk(2, 2, 5, 5, 3, 3, 3), {1, 1}, {1, 1}, {1, 1}, 1, false);
  const Conv2dOptions o = c.opts();
  const Shape ws = c.w_shape();
  Tensor x = rand64(c.x_shape(), 31), g = rand64(c.y_shape(), 32);
  // grad_w(x) = backward_weight(g, x) is linear in x; a loss on it differentiates back to x.
  gradcheck(
      [o, ws](const std::vector<Tensor>& t) {
        Tensor gw = conv2d_backward_weight(t[1], t[0], ws, o);
        return conv2d(t[0], gw, Tensor(), o);
      },
      {x, g});
}

TEST(Conv2d, Errors) {
  Tensor x = Tensor::zeros({2, 4, 8, 8});
  Tensor w = Tensor::zeros({6, 4, 3, 3});
  EXPECT_DUET_ERROR(conv2d(Tensor::zeros({4, 8, 8}), w), "conv2d", "(4, 8, 8)", "rank 4");
  EXPECT_DUET_ERROR(conv2d(x, Tensor::zeros({6, 4, 3})), "conv2d", "weight", "(6, 4, 3)", "rank 4");
  EXPECT_DUET_ERROR(conv2d(x, Tensor::zeros({6, 3, 3, 3})), "conv2d", "(2, 4, 8, 8)",
                    "(6, 3, 3, 3)", "groups=1");
  EXPECT_DUET_ERROR(conv2d(x, Tensor::zeros({6, 2, 3, 3}), Tensor(), {.groups = 4}), "conv2d",
                    "(6, 2, 3, 3)", "not divisible by groups=4");
  EXPECT_DUET_ERROR(conv2d(x, Tensor::zeros({6, 4, 9, 3})), "conv2d", "larger than the padded",
                    "(2, 4, 8, 8)");
  EXPECT_DUET_ERROR(conv2d(x, Tensor::zeros({6, 4, 5, 5}), Tensor(), {.dilation = {2, 2}}),
                    "conv2d", "dilation", "larger than the padded");
  EXPECT_DUET_ERROR(conv2d(x, w, Tensor::zeros({4})), "conv2d", "bias", "(4,)", "(6,)");
  EXPECT_DUET_ERROR(conv2d(x, Tensor::zeros({6, 4, 3, 3}, float64)), "conv2d", "float64");
  EXPECT_DUET_ERROR(conv2d(x, w, Tensor(), {.stride = {0, 1}}), "conv2d", "stride");
  EXPECT_DUET_ERROR(conv2d(x, w, Tensor(), {.padding = {-1, 0}}), "conv2d", "padding");
  EXPECT_DUET_ERROR(conv2d(Tensor::zeros({2, 4, 8, 8}, int64), Tensor::zeros({6, 4, 3, 3}, int64)),
                    "conv2d", "int64");
  // Backward ops check grad_out against the geometry.
  EXPECT_DUET_ERROR(conv2d_backward_input(Tensor::zeros({2, 6, 5, 6}), w, {2, 4, 8, 8}, {}),
                    "conv2d_backward_input", "(2, 6, 5, 6)", "(2, 6, 6, 6)");
  EXPECT_DUET_ERROR(conv2d_backward_weight(Tensor::zeros({2, 6, 6, 6}), x, {6, 4, 3}, {}),
                    "conv2d_backward_weight", "weight_shape", "rank 4");
  EXPECT_DUET_ERROR(conv2d_backward_weight(Tensor::zeros({2, 5, 6, 6}), x, {6, 4, 3, 3}, {}),
                    "conv2d_backward_weight", "(2, 5, 6, 6)", "(2, 6, 6, 6)");
}

TEST(Conv2d, OutputSizeMatchesPyTorch) {
  // floor((H + 2p - d (k - 1) - 1) / s) + 1
  Tensor x = Tensor::zeros({1, 1, 10, 11});
  EXPECT_EQ(conv2d(x, Tensor::zeros({1, 1, 3, 3}), Tensor(), {.stride = {3, 2}}).shape(),
            (Shape{1, 1, 3, 5}));
  EXPECT_EQ(conv2d(x, Tensor::zeros({1, 1, 3, 2}), Tensor(),
                   {.stride = {2, 3}, .padding = {1, 2}, .dilation = {3, 2}})
                .shape(),
            (Shape{1, 1, 3, 5}));
  EXPECT_EQ(conv2d(x, Tensor::zeros({1, 1, 10, 11})).shape(), (Shape{1, 1, 1, 1}));
}

// Called directly (as fused kernels or benchmarks may), without the op's workspace, the
// kernels fall back to their own scratch buffers.
TEST(Conv2d, KernelsWithoutWorkspace) {
  for (const Cfg& c : {with(mk(2, 8, 12, 12, 6, 3, 3), {1, 1}, {1, 1}, {1, 1}, 2, true),
                       with(mk(8, 4, 5, 5, 6, 3, 3), {2, 2}, {1, 1}, {1, 1}, 1, true)}) {
    SCOPED_TRACE(c.str());
    Generator gen(5);
    Tensor x = Tensor::uniform(c.x_shape(), -1, 1, gen, float64);
    Tensor w = Tensor::uniform(c.w_shape(), -1, 1, gen, float64);
    Tensor b = Tensor::uniform({c.o}, -1, 1, gen, float64);
    Tensor g = Tensor::uniform(c.y_shape(), -1, 1, gen, float64);
    Attrs a;
    a.set("stride", std::vector<int64_t>{c.stride[0], c.stride[1]})
        .set("padding", std::vector<int64_t>{c.padding[0], c.padding[1]})
        .set("dilation", std::vector<int64_t>{c.dilation[0], c.dilation[1]})
        .set("groups", c.groups)
        .set("input_shape", c.x_shape())
        .set("weight_shape", c.w_shape());
    std::vector<Tensor> out{Tensor::empty(c.y_shape(), float64)};
    std::vector<Tensor> in{x, w, b};
    cpu_kernels::conv2d({a, in, out});
    expect_close(out[0], ref_forward(c, x, w, b), 1e-10, 1e-10);
    std::vector<Tensor> gx{Tensor::empty(c.x_shape(), float64)}, in_bi{g, w};
    cpu_kernels::conv2d_backward_input({a, in_bi, gx});
    expect_close(gx[0], ref_backward_input(c, g, w), 1e-10, 1e-10);
    std::vector<Tensor> gw{Tensor::empty(c.w_shape(), float64)}, in_bw{g, x};
    cpu_kernels::conv2d_backward_weight({a, in_bw, gw});
    expect_close(gw[0], ref_backward_weight(c, g, x), 1e-10, 1e-10);
  }
}

// Hostile shapes and attributes (issue #19, "checked shape arithmetic"): every shape whose
// element count or byte size does not fit in int64, every view that would reach outside its
// storage and every op attribute whose arithmetic would wrap is a duet::Error that names the
// op (or factory) and the problem, in eager and in graph mode; never a crash, a wrapped
// product or a std::bad_alloc.
#include <cstdint>
#include <limits>
#include <string>

#include "core/tensor_impl.h"
#include "duet/graph.h"
#include "geometry.h"
#include "ops/op_def.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t k2_20 = int64_t{1} << 20;
constexpr int64_t k2_31 = int64_t{1} << 31;
constexpr int64_t k2_40 = int64_t{1} << 40;
constexpr int64_t k2_62 = int64_t{1} << 62;

}  // namespace

// Expects `stmt` to throw duet::Error (nothing else) whose message contains every given
// substring and is shorter than 2,000 characters.
#define EXPECT_HOSTILE(stmt, ...)                                                 \
  do {                                                                            \
    try {                                                                         \
      stmt;                                                                       \
      ADD_FAILURE() << "expected duet::Error from " #stmt;                        \
    } catch (const ::duet::Error& e) {                                            \
      const std::string msg = e.what();                                           \
      EXPECT_LT(msg.size(), 2000u) << "message too long: " << msg.substr(0, 300); \
      for (const std::string& part : std::vector<std::string>{__VA_ARGS__})       \
        EXPECT_NE(msg.find(part), std::string::npos)                              \
            << "message: " << msg << "\nmissing: " << part;                       \
    }                                                                             \
  } while (0)

// ---- the one place: numel, strides, byte sizes ------------------------------------------------

TEST(HostileShapes, NumelAndStridesAreChecked) {
  EXPECT_EQ(numel({2, 3, 4}), 24);
  EXPECT_EQ(numel({}), 1);
  EXPECT_EQ(numel({3, 0}), 0);
  EXPECT_EQ(contiguous_strides({2, 3, 4}), (Shape{12, 4, 1}));
  EXPECT_EQ(checked_numel({k2_31, k2_31}, "t"), k2_62);
  EXPECT_EQ(checked_nbytes({k2_20, k2_20}, 4, "t"), int64_t{4} << 40);
  // (2^40, 2^40) used to be accepted; (2^20)^4 had numel() == 0.
  EXPECT_HOSTILE(numel({k2_40, k2_40}), "numel", "(1099511627776, 1099511627776)",
                 "more elements than fit in int64", "axis 1");
  EXPECT_HOSTILE(numel({k2_20, k2_20, k2_20, k2_20}), "numel", "more elements than fit");
  EXPECT_HOSTILE(contiguous_strides({k2_40, k2_40}), "contiguous_strides", "more elements");
  // A zero dimension does not hide the others (their strides would still overflow).
  EXPECT_HOSTILE(numel({0, k2_40, k2_40}), "numel", "more elements");
  EXPECT_HOSTILE(contiguous_strides({k2_40, 0, k2_40}), "contiguous_strides", "more elements");
  EXPECT_HOSTILE(checked_numel({2, -3}, "myop"), "myop", "(2, -3)", "negative dimension",
                 "-3 at axis 1");
  EXPECT_HOSTILE(checked_nbytes({k2_62}, 8, "myop"), "myop", "(4611686018427387904,)",
                 "more bytes than fit in int64");
  EXPECT_HOSTILE(checked_nbytes({2}, 0, "myop"), "myop", "element size 0");
  EXPECT_HOSTILE(checked_mul(k2_40, k2_40, "myop: area"), "myop: area", "overflows int64");
  EXPECT_HOSTILE(checked_add(kMax, 1, "myop: sum"), "myop: sum", "overflows int64");
  EXPECT_EQ(checked_mul(-k2_31, k2_31, "t"), -k2_62);
}

TEST(HostileShapes, LongShapesPrintShort) {
  Shape s(100000, 1);
  s[50] = -1;
  const std::string str = shape_str(s);
  EXPECT_LT(str.size(), 100u);
  EXPECT_NE(str.find("99988 more"), std::string::npos) << str;
  EXPECT_HOSTILE(checked_numel(s, "myop"), "myop", "negative dimension", "at axis 50");
  EXPECT_EQ(shape_str(Shape(16, 2)).find("more"), std::string::npos);
}

// ---- factories ----------------------------------------------------------------------------------

TEST(HostileShapes, FactoriesRejectShapesThatDoNotFit) {
  Generator gen(1);
  EXPECT_HOSTILE(Tensor::zeros({k2_40, k2_40}), "zeros", "(1099511627776, 1099511627776)",
                 "more elements than fit in int64");
  EXPECT_HOSTILE(Tensor::empty({k2_20, k2_20, k2_20, k2_20}), "empty", "more elements");
  EXPECT_HOSTILE(Tensor::empty({3, -1}), "empty", "(3, -1)", "negative dimension");
  EXPECT_HOSTILE(Tensor::full({k2_62}, 1.0, float64), "full", "more bytes than fit in int64");
  EXPECT_HOSTILE(Tensor::ones({k2_40, k2_40}), "full", "more elements");
  EXPECT_HOSTILE(Tensor::randn({k2_40, k2_40}, gen), "randn", "more elements");
  EXPECT_HOSTILE(Tensor::rand({-2}, gen), "rand", "negative dimension");
  EXPECT_HOSTILE(Tensor::uniform({k2_62, 4}, 0, 1, gen), "uniform", "more elements");
  EXPECT_HOSTILE(Tensor::arange(kMax), "arange", "more bytes");
  EXPECT_HOSTILE(Tensor::arange(-5), "arange", "-5", "n >= 0");
  // (2^62 + 48) * 4 wraps to 192: three values must not match it.
  EXPECT_HOSTILE(Tensor::from_vector({1, 2, 3}, {k2_62 + 48, 4}), "from_vector",
                 "more elements than fit");
  EXPECT_HOSTILE(Tensor::from_vector({1, 2, 3}, {-1, -3}), "from_vector", "negative dimension");
  // Near the limits but valid: a 0-element tensor with large dimensions.
  EXPECT_EQ(Tensor::zeros({0, k2_40}).numel(), 0);
}

TEST(HostileShapes, AllocationFailureIsAnError) {
  // 4 TiB: the shape fits in int64, the memory does not.
  EXPECT_HOSTILE(Tensor::zeros({k2_20, k2_20}), "cpu allocator",
                 "out of memory allocating 4398046511104 bytes", "memory and swap");
  EXPECT_HOSTILE(Tensor::empty({k2_62}, DType::bool_), "cpu allocator",
                 "cannot allocate 4611686018427387904 bytes");
  // Past set_memory_limit, even for a request near the int64 limit (no overflow in the sum).
  const MemoryStats before = memory_stats(cpu);
  set_memory_limit(cpu, before.current_bytes + (1 << 20));
  EXPECT_HOSTILE(Tensor::empty({int64_t{1} << 61}, DType::bool_), "cpu allocator",
                 "set_memory_limit");
  EXPECT_HOSTILE(Tensor::empty({1 << 20}), "out of memory allocating", "set_memory_limit");
  set_memory_limit(cpu, 0);
  EXPECT_EQ(memory_stats(cpu).current_bytes, before.current_bytes);
  Tensor ok = Tensor::empty({1 << 20});  // allocations work again
  EXPECT_EQ(ok.numel(), 1 << 20);
}

// ---- views --------------------------------------------------------------------------------------

TEST(HostileShapes, ViewsStayInsideTheirStorage) {
  Tensor x = Tensor::arange(192, float32);
  // The case: (2^62 + 48) * 4 wraps to 192; slicing the view read foreign memory.
  EXPECT_HOSTILE(x.reshape({k2_62 + 48, 4}), "reshape", "(4611686018427387952, 4)",
                 "more elements than fit");
  EXPECT_HOSTILE(x.reshape({-1, k2_40, k2_40}), "reshape", "more elements than fit");
  EXPECT_HOSTILE(x.reshape({-1, 0}), "reshape", "cannot reshape");
  EXPECT_HOSTILE(x.reshape({-2, -96}), "reshape", "invalid size -2");
  EXPECT_EQ(x.reshape({-1, 4}).shape(), (Shape{48, 4}));
  // Views built directly (the class fix under every view op).
  EXPECT_EQ(detail::make_view(x, {4}, {1}, 188).to_vector<float>()[3], 191.0f);
  EXPECT_HOSTILE(detail::make_view(x, {4}, {1}, 190, "myview"), "myview",
                 "reaches elements 190 to 193", "storage holds 192 elements");
  EXPECT_HOSTILE(detail::make_view(x, {4}, {-1}, 2), "view", "reaches elements -1 to 2");
  EXPECT_HOSTILE(detail::make_view(x, {2, 2}, {kMax, 1}, 0), "view", "beyond int64");
  EXPECT_HOSTILE(detail::make_view(x, {3}, {1}, -1), "view", "at offset -1");
  EXPECT_HOSTILE(detail::make_view(x, {3}, {1, 1}, 0), "view", "one stride per dimension");
  EXPECT_HOSTILE(detail::make_view(x, {k2_62, 4}, {0, 0}, 0), "view", "more elements");
  // Reversed and broadcast views inside the storage, and an empty view anywhere, are fine.
  EXPECT_EQ(detail::make_view(x, {3}, {-1}, 2).to_vector<float>(), (std::vector<float>{2, 1, 0}));
  EXPECT_EQ(detail::make_view(x, {k2_40}, {0}, 191).numel(), k2_40);
  EXPECT_EQ(detail::make_view(x, {0, 5}, {1, 1}, 1000).numel(), 0);
}

TEST(HostileShapes, SliceExpandPadConcat) {
  Tensor x = Tensor::arange(12, float32).reshape({3, 4});
  // Huge steps and bounds clamp (no wrapped length, no wrapped stride).
  EXPECT_EQ(x.slice(1, 0, kMax, kMax).shape(), (Shape{3, 1}));
  EXPECT_EQ(x.slice(1, std::numeric_limits<int64_t>::min(), kMax, 3).to_vector<float>(),
            (std::vector<float>{0, 3, 4, 7, 8, 11}));
  EXPECT_EQ(x.slice(0, kMax, kMax).numel(), 0);
  EXPECT_HOSTILE(x.slice(1, 0, 4, 0), "slice", "step 0", "step >= 1");
  EXPECT_HOSTILE(x.slice(1, 0, 4, -kMax), "slice", "step >= 1");
  EXPECT_HOSTILE(x.slice(7, 0, 4), "slice", "axis 7");
  EXPECT_HOSTILE(slice_backward(x, {3, -4}, 1, 0, 4, 1), "slice_backward", "negative dimension");
  EXPECT_HOSTILE(slice_backward(x, {k2_40, k2_40}, 1, 0, 4, 1), "slice_backward", "more elements");
  // expand: the product of the target is checked; sizes other than -1 must be >= 0.
  Tensor c = Tensor::arange(3, float32).reshape({3, 1});
  EXPECT_HOSTILE(c.expand({k2_62, 3, k2_62}), "expand", "more elements than fit");
  EXPECT_HOSTILE(c.expand({int64_t{1} << 60, 3, 1}), "expand", "more bytes");
  EXPECT_HOSTILE(c.expand({3, -5}), "expand", "invalid size -5");
  EXPECT_EQ(c.expand({2, 3, 5}).numel(), 30);
  // pad: the amounts and the padded sizes are summed checked.
  EXPECT_HOSTILE(pad(x, {kMax, 1}), "pad", "overflows int64");
  EXPECT_HOSTILE(pad(x, {1, 1, kMax - 2, 0}), "pad", "overflows int64");
  EXPECT_HOSTILE(pad(x, {k2_40, k2_40, k2_40, 0}), "pad", "more elements than fit");
  EXPECT_HOSTILE(pad(x, {-1, 0}), "pad", "negative padding");
  EXPECT_HOSTILE(pad(x, {1}), "pad", "even count");
  // An empty input padded by 2^62 along an axis whose other side is empty: the output is empty
  // and nothing is copied (the kernel used to form a view at element offset 2^62, whose byte
  // offset overflowed).
  Tensor e = Tensor::zeros({0, 1}, float64);
  EXPECT_EQ(pad(e, {k2_62, 0}).shape(), (Shape{0, k2_62 + 1}));
  // An empty view keeps no offset outside its storage.
  EXPECT_EQ(e.slice(0, k2_62, kMax).numel(), 0);
  // concat: too large even when each input is representable (graph mode, nothing allocated).
  Graph g;
  Tensor a = g.input("a", {k2_62}, DType::bool_);
  EXPECT_HOSTILE(concat({a, a}, 0), "concat", "overflows int64");
  EXPECT_HOSTILE(concat({a, a, a, a}, 0), "concat", "overflows int64");
}

TEST(HostileShapes, CastAndDeviceAttributes) {
  Tensor x = Tensor::ones({2});
  EXPECT_HOSTILE(cast(x, static_cast<DType>(99)), "cast", "dtype 99", "is not a dtype");
  EXPECT_HOSTILE(to_device(x, Device{static_cast<DeviceType>(7), 0}), "to_device", "device_type 7");
  EXPECT_HOSTILE(to_device(x, Device{DeviceType::cuda, -1}), "to_device", "device_index -1");
}

// ---- pooling ------------------------------------------------------------------------------------

TEST(HostileShapes, PoolingAttributes) {
  Tensor x = Tensor::ones({1, 2, 5, 5});
  Pool2dOptions o;
  // The case: SIGSEGV before.
  o.kernel = {kMax, kMax};
  EXPECT_HOSTILE(avg_pool2d(x, o), "avg_pool2d", "output size 0x0");
  EXPECT_HOSTILE(max_pool2d(x, o), "max_pool2d", "output size 0x0");
  o.stride = {1, 1};
  o.padding = {kMax / 2, kMax / 2};  // padding <= kernel / 2 holds; in + 2p does not fit
  EXPECT_HOSTILE(avg_pool2d(x, o), "avg_pool2d", "overflows int64");
  EXPECT_HOSTILE(max_pool2d(x, o), "max_pool2d", "overflows int64");
  o = Pool2dOptions{};
  o.kernel = {3, 3};
  o.dilation = {kMax, 1};  // dilation * (kernel - 1) wraps
  EXPECT_HOSTILE(max_pool2d(x, o), "max_pool2d", "overflows int64");
  o.dilation = {kMax / 2, 1};
  EXPECT_HOSTILE(max_pool2d(x, o), "max_pool2d", "output size");
  // Huge strides are fine: one window, also with ceil_mode.
  o = Pool2dOptions{};
  o.kernel = {2, 2};
  o.stride = {kMax, kMax};
  EXPECT_EQ(max_pool2d(x, o).shape(), (Shape{1, 2, 1, 1}));
  o.ceil_mode = true;
  EXPECT_EQ(avg_pool2d(x, o).shape(), (Shape{1, 2, 1, 1}));
  // A huge window that is mostly padding runs over the taps that reach the input only (it
  // looped 2^62 times), and a huge dilation of a 1x1 window does not step past int64.
  o = Pool2dOptions{};
  o.kernel = {k2_62, k2_62};
  o.stride = {1, 1};
  o.padding = {int64_t{1} << 61, int64_t{1} << 61};
  EXPECT_EQ(max_pool2d(x, o).to_vector<float>(), std::vector<float>(2 * 6 * 6, 1.0f));
  EXPECT_EQ(avg_pool2d(x, o).shape(), (Shape{1, 2, 6, 6}));
  EXPECT_EQ(avg_pool2d_backward(Tensor::ones({1, 2, 6, 6}), {1, 2, 5, 5}, o).shape(), x.shape());
  // Huge strides too: the taps that reach the input are sparse runs (2^31 taps apart).
  o.kernel = {int64_t{1} << 32, int64_t{1} << 32};
  o.stride = {int64_t{1} << 32, int64_t{1} << 31};
  o.padding = {2, int64_t{1} << 31};
  o.ceil_mode = true;
  EXPECT_EQ(avg_pool2d(Tensor::ones({1, 2, 5, 6}), o).shape(), (Shape{1, 2, 1, 2}));
  EXPECT_EQ(max_pool2d(Tensor::ones({1, 2, 5, 6}), o).to_vector<float>(),
            std::vector<float>(4, 1.0f));
  o.ceil_mode = false;
  o = Pool2dOptions{};
  o.kernel = {1, 1};
  o.stride = {1, 1};
  o.dilation = {kMax, kMax};
  expect_close(max_pool2d(x, o), x);
  o = Pool2dOptions{};
  o.stride = {-1, 1};
  EXPECT_HOSTILE(max_pool2d(x, o), "max_pool2d", "stride (-1, 1)", ">= 1");
  o.stride = {1, 1};
  o.kernel = {0, 2};
  EXPECT_HOSTILE(avg_pool2d(x, o), "avg_pool2d", "kernel (0, 2)", ">= 1");
  o.kernel = {2, 2};
  o.padding = {-1, 0};
  EXPECT_HOSTILE(avg_pool2d(x, o), "avg_pool2d", "padding (-1, 0)", ">= 0");
  o.padding = {0, 0};
  o.dilation = {0, 1};
  EXPECT_HOSTILE(max_pool2d(x, o), "max_pool2d", "dilation (0, 1)", ">= 1");
  // adaptive: the output size and the window arithmetic (i + 1) * H.
  EXPECT_HOSTILE(adaptive_avg_pool2d(x, {kMax, 1}), "adaptive_avg_pool2d", "overflows int64");
  EXPECT_HOSTILE(adaptive_avg_pool2d(x, {k2_40, k2_40}), "adaptive_avg_pool2d",
                 "more elements than fit");
  EXPECT_HOSTILE(adaptive_avg_pool2d(x, {0, 1}), "adaptive_avg_pool2d", "output_size");
  // Backward ops take shapes as attributes: checked like tensor shapes.
  Tensor g = Tensor::ones({1, 2, 2, 2});
  Tensor idx = Tensor::zeros({1, 2, 2, 2}, int64);
  EXPECT_HOSTILE(max_pool2d_backward(g, idx, {-1, 2, 4, 4}), "max_pool2d_backward",
                 "negative dimension");
  EXPECT_HOSTILE(max_pool2d_backward(g, idx, {1, 2, k2_40, k2_40}), "max_pool2d_backward",
                 "more elements");
  Pool2dOptions p;
  EXPECT_HOSTILE(avg_pool2d_backward(g, {1, 2, kMax, kMax}, p), "avg_pool2d_backward",
                 "more elements");
  EXPECT_HOSTILE(adaptive_avg_pool2d_backward(g, {1, 2, kMax, 4}), "adaptive_avg_pool2d_backward",
                 "more elements");
  // A representable input_shape whose window arithmetic (i + 1) * H is not.
  EXPECT_HOSTILE(adaptive_avg_pool2d_backward(Tensor::ones({1, 1, 2, 2}), {1, 1, k2_62, 1}),
                 "adaptive_avg_pool2d_backward", "overflows int64");
}

TEST(HostileShapes, WindowGeometryIsChecked) {
  using kernels::window_out_size;
  EXPECT_EQ(window_out_size(5, 3, 2, 1, 1, false, "t"), 3);
  EXPECT_EQ(window_out_size(5, 2, 2, 0, 1, true, "t"), 3);
  EXPECT_EQ(window_out_size(4, 2, 2, 0, 1, true, "t"), 2);
  EXPECT_EQ(window_out_size(5, 7, 1, 0, 1, false, "t"), 0);
  // ceil_mode: a last partial window may start inside the input even when the dilated kernel
  // is larger than it (PyTorch: 4 wide, kernel 3, dilation 2, stride 2 -> 1).
  EXPECT_EQ(window_out_size(4, 3, 2, 0, 2, true, "t"), 1);
  EXPECT_EQ(window_out_size(4, 3, 2, 0, 2, false, "t"), 0);
  EXPECT_EQ(window_out_size(kMax, 1, kMax, 0, 1, true, "t"), 1);
  EXPECT_EQ(window_out_size(kMax, 1, 1, 0, 1, false, "t"), kMax);
  EXPECT_HOSTILE(window_out_size(kMax, 1, 1, 1, 1, false, "myop"), "myop", "overflows int64");
  EXPECT_HOSTILE(window_out_size(5, 1, 0, 0, 1, false, "myop"), "myop", "stride 0", "stride >= 1");
  EXPECT_HOSTILE(window_out_size(-5, 1, 1, 0, 1, false, "myop"), "myop", "size -5");
}

// ---- convolution --------------------------------------------------------------------------------

TEST(HostileShapes, ConvolutionAttributes) {
  Tensor x = Tensor::ones({1, 2, 5, 5});
  Tensor w = Tensor::ones({4, 2, 3, 3});
  Conv2dOptions o;
  o.padding = {kMax, 0};
  EXPECT_HOSTILE(conv2d(x, w, Tensor(), o), "conv2d", "overflows int64");
  o = Conv2dOptions{};
  o.dilation = {kMax, 1};
  EXPECT_HOSTILE(conv2d(x, w, Tensor(), o), "conv2d", "overflows int64");
  o.dilation = {kMax / 2, 1};
  EXPECT_HOSTILE(conv2d(x, w, Tensor(), o), "conv2d", "larger than the padded input");
  o = Conv2dOptions{};
  o.stride = {kMax, kMax};
  EXPECT_EQ(conv2d(x, w, Tensor(), o).shape(), (Shape{1, 4, 1, 1}));
  // A window far in the padding with a huge stride: the im2col column range was
  // (-iw0 + s - 1) / s, which wrapped (SIGSEGV); every output reads only padding here.
  o = Conv2dOptions{{2, kMax}, {2, int64_t{1} << 32}, {1, 2}, 1};
  Tensor y = conv2d(Tensor::ones({1, 2, 5, 6}), Tensor::ones({2, 2, 3, 3}), Tensor(), o);
  EXPECT_EQ(y.shape(), (Shape{1, 2, 4, 1}));
  EXPECT_EQ(y.to_vector<float>(), std::vector<float>(8, 0.0f));
  o.stride = {0, 1};
  EXPECT_HOSTILE(conv2d(x, w, Tensor(), o), "conv2d", "stride (0, 1)");
  o = Conv2dOptions{};
  o.groups = kMax;
  EXPECT_HOSTILE(conv2d(x, Tensor::ones({0, 2, 3, 3}), Tensor(), o), "conv2d", "groups=");
  o.groups = 0;
  EXPECT_HOSTILE(conv2d(x, w, Tensor(), o), "conv2d", "groups=0");
  // Shapes given as attributes (the backward ops) are checked like tensor shapes.
  Tensor go = Tensor::ones({1, 4, 3, 3});
  EXPECT_HOSTILE(conv2d_backward_input(go, w, {1, 2, k2_40, k2_40}, {}), "conv2d_backward_input",
                 "more elements");
  EXPECT_HOSTILE(conv2d_backward_input(go, w, {-1, 2, 5, 5}, {}), "conv2d_backward_input",
                 "negative dimension");
  EXPECT_HOSTILE(conv2d_backward_weight(go, x, {4, 2, kMax, kMax}, {}), "conv2d_backward_weight",
                 "more elements");
  EXPECT_HOSTILE(conv2d_backward_weight(go, x, {4, 2, 0, 3}, {}), "conv2d_backward_weight",
                 "at least 1x1");
  // Representable shapes whose multiply-adds (the kernels' products) are not: graph mode.
  Graph g;
  Tensor xs = g.input("x", {1, 1, int64_t{1} << 30, int64_t{1} << 30});
  Tensor ws = g.input("w", {1, 1, k2_20, k2_20});
  EXPECT_HOSTILE(conv2d(xs, ws), "conv2d", "multiply-adds", "overflow int64");
}

// ---- graph mode ---------------------------------------------------------------------------------

TEST(HostileShapes, GraphModeChecksEveryInferredShape) {
  {
    Graph g;
    EXPECT_HOSTILE(g.input("big", {k2_40, k2_40}), "Graph::input: input 'big'", "more elements");
    EXPECT_HOSTILE(g.input("neg", {2, -2}), "Graph::input: input 'neg'", "negative size");
    EXPECT_HOSTILE(g.input("bytes", {k2_62}, float64), "Graph::input: input 'bytes'", "more bytes");
    Tensor x = g.input("x", {k2_31});
    // Each op's inferred output is checked, named by the op; nothing is allocated.
    EXPECT_HOSTILE(expand(reshape(x, {k2_31, 1}), {k2_31, k2_31}), "expand", "more bytes");
    EXPECT_HOSTILE(add(reshape(x, {k2_31, 1}), reshape(x, {1, k2_31})), "add", "more bytes");
    EXPECT_HOSTILE(pad(x, {kMax - 10, 0}), "pad", "overflows int64");
    EXPECT_HOSTILE(reshape(x, {k2_62 + 48, 4}), "reshape", "more elements");
    Tensor img = g.input("img", {1, 1, 8, 8});
    Pool2dOptions o;
    o.kernel = {kMax, kMax};
    EXPECT_HOSTILE(avg_pool2d(img, o), "avg_pool2d", "output size 0x0");
    EXPECT_HOSTILE(adaptive_avg_pool2d(img, {k2_40, k2_40}), "adaptive_avg_pool2d",
                   "more elements");
    EXPECT_HOSTILE(matmul(reshape(x, {k2_31, 1}), reshape(x, {1, k2_31})), "matmul", "more bytes");
  }
  // Graphs still build and run after the rejected calls.
  Graph g;
  Tensor img = g.input("img", {1, 1, 8, 8});
  EXPECT_HOSTILE(pad(img, {kMax, 0}), "pad", "overflows int64");
  Tensor y = relu(img) * 2.0;
  Executable exe = compile(g, {y});
  expect_close(exe.run({{"img", Tensor::ones({1, 1, 8, 8})}})[0], Tensor::full({1, 1, 8, 8}, 2.0));
}

// ---- every op: attributes missing or of the wrong type ------------------------------------------

namespace {

// A sample's inputs as plain tensors (ones; int64 and bool inputs zeros, valid indices).
std::vector<Tensor> plain_inputs(const OpSample& s) {
  std::vector<Tensor> r;
  for (const SampleInput& in : s.inputs) {
    const DType t = in.fixed ? in.dtype : float32;
    r.push_back(is_floating(t) ? Tensor::ones(in.shape, t) : Tensor::zeros(in.shape, t));
  }
  return r;
}

// Calls `op` and accepts a result or a duet::Error naming the op that is not an internal error.
void expect_user_error_or_result(const OpDef& op, const std::vector<Tensor>& in, const Attrs& attrs,
                                 const std::string& what) {
  try {
    call_op(op, in, attrs);
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find("internal error"), std::string::npos)
        << op.name << " " << what << ": " << msg;
    EXPECT_NE(msg.find(op.name), std::string::npos) << op.name << " " << what << ": " << msg;
    EXPECT_LT(msg.size(), 2000u) << op.name << " " << what;
  }
}

}  // namespace

TEST(HostileShapes, EveryOpRejectsMissingOrMistypedAttributes) {
  int calls = 0;
  for (const OpDef* op : all_ops()) {
    if (!op->samples) continue;
    const std::vector<OpSample> samples = op->samples();
    if (samples.empty()) continue;
    const OpSample& s = samples[0];
    const std::vector<Tensor> in = plain_inputs(s);
    expect_user_error_or_result(*op, in, Attrs(), "without attributes");
    ++calls;
    for (const auto& [name, value] : s.attrs.items()) {
      Attrs without, mistyped;
      for (const auto& [n, v] : s.attrs.items()) {
        if (n != name) without.set(n, v);
        mistyped.set(n, n == name ? AttrValue(std::string("hostile")) : v);
      }
      expect_user_error_or_result(*op, in, without, "without " + name);
      expect_user_error_or_result(*op, in, mistyped, name + " a string");
      calls += 2;
    }
  }
  EXPECT_GT(calls, 150);
}

TEST(HostileShapes, BackwardOpsCheckTheirInputsAgree) {
  // clamp_backward read a saved input of another shape past its end (fuzz_ops finding).
  const Attrs clamp = Attrs().set("lo", -1.0).set("hi", 1.0);
  EXPECT_HOSTILE(
      call_op(op_def(OpId::clamp_backward), {Tensor::ones({4}), Tensor::ones({2})}, clamp),
      "clamp_backward", "grad has shape (4,)", "x has shape (2,)");
  EXPECT_HOSTILE(
      call_op(op_def(OpId::clamp_backward), {Tensor::ones({0}), Tensor::ones({})}, clamp),
      "clamp_backward", "expected equal shapes");
  const Attrs keepdim = Attrs().set("keepdim", false);
  EXPECT_HOSTILE(call_op(op_def(OpId::sum), {Tensor::ones({2})}, keepdim), "sum",
                 "attribute 'axes' is missing");
  EXPECT_HOSTILE(
      call_op(op_def(OpId::sum), {Tensor::ones({2})}, Attrs(keepdim).set("axes", int64_t{0})),
      "sum", "attribute 'axes' is not an int list");
  // An attribute only the kernel reads.
  EXPECT_HOSTILE(call_op(op_def(OpId::pad), {Tensor::ones({2})},
                         Attrs().set("pads", std::vector<int64_t>{1, 1})),
                 "pad", "attribute 'value' is missing");
}

// A string attribute from a hostile source is quoted short in the error.
TEST(HostileShapes, LongStringAttributesAreQuotedShort) {
  Tensor x = Tensor::ones({2, 3}), w = Tensor::ones({4, 3});
  const std::string act(3000, 'r');
  EXPECT_HOSTILE(linear_fused(x, w, Tensor(), act), "linear_fused", "activation 'rrrr",
                 "(3000 characters)", "is not supported");
  EXPECT_HOSTILE(linear_fused(x, w, Tensor(), "gelu_tanh_fast"), "linear_fused",
                 "activation 'gelu_tanh_fast' is not supported (expected none, ");
}

// Integer division: a zero divisor, and the smallest integer by -1, are errors (C++ leaves both
// undefined and x86 traps); a nonzero divisor divides as C++ does (toward zero).
TEST(HostileShapes, IntegerDivisionByZeroIsAnError) {
  const Tensor a = Tensor::from_vector(std::vector<int64_t>{7, -7, 3}, {3}, int64);
  EXPECT_EQ(div(a, Tensor::from_vector(std::vector<int64_t>{2, 2, -3}, {3}, int64))
                .to_vector<int64_t>(),
            (std::vector<int64_t>{3, -3, -1}));
  EXPECT_HOSTILE(div(a, Tensor::from_vector(std::vector<int64_t>{1, 0, 1}, {3}, int64)), "div",
                 "integer division by zero", "flat index 1");
  const Tensor lowest =
      Tensor::from_vector(std::vector<int64_t>{std::numeric_limits<int64_t>::min()}, {1}, int64);
  EXPECT_HOSTILE(div(lowest, Tensor::from_vector(std::vector<int64_t>{-1}, {1}, int64)), "div",
                 "/ -1 overflows");
  // An empty divisor divides nothing.
  EXPECT_EQ(div(Tensor::empty({0}, int64), Tensor::empty({0}, int64)).numel(), 0);
}

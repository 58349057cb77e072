// cuDNN convolutions: conv2d, conv2d_backward_input, conv2d_backward_weight, conv2d_fused, and
// their workspace queries.
//
// Each call builds its descriptors (cheap), looks its algorithm up in the process-wide cache
// (cudnnFind*AlgorithmEx on a miss, with the largest workspace any algorithm asks for under
// duet::cuda_workspace_limit()), then runs on the device's stream. The op's workspace query
// (OpDef::workspace_bytes, called by eager dispatch and by the graph planner before the
// kernel) fills the same cache entry first, over temporary buffers, and returns the chosen
// algorithm's workspace; the kernel runs in KernelArgs::workspace when it is that large and
// only takes a block from the caching allocator otherwise.
//
// Bias and activation: where cuDNN can fuse them (a bias, and relu or no activation), the
// forward pass is one cudnnConvolutionBiasActivationForward; otherwise cudnnConvolutionForward
// then one elementwise pass (conv_epilogue.cu).
//
// float16 / bfloat16: descriptors of that data type with a float32 compute type and
// CUDNN_TENSOR_OP_MATH (tensor cores; cudnn_util.h); the algorithm cache key holds the dtype.
// Bias, residual and activation always run in our epilogue, in float32, rounded to the dtype
// after each step as the unfused ops (conv2d, add, the activation) round.
#include "conv_kernels.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <mutex>
#include <optional>
#include <set>
#include <tuple>
#include <vector>

#include "core/device_backend.h"
#include "cuda/conv_epilogue.h"
#include "cuda/cudnn_util.h"
#include "cuda/runtime.h"
#include "duet/cuda.h"
#include "duet/memory.h"
#include "fused_kernels.h"

namespace duet::cuda_kernels {
namespace {

using cuda_backend::DeviceContext;
using cuda_backend::Workspace;
using kernels::Activation;

std::atomic<int64_t> g_fused_calls{0};     // cudnnConvolutionBiasActivationForward calls
std::atomic<int64_t> g_own_workspaces{0};  // kernels that had to take their own workspace
std::atomic<bool> g_fuse_identity_always{false};

// Identity-activation fusion needs IMPLICIT_PRECOMP_GEMM. When Find picked another algorithm,
// we still fuse if Find timed PRECOMP within this factor of it: the fused call saves a full
// read and write of y (the epilogue pass), so a conv a few percent slower still wins; beyond
// that, the faster conv plus our epilogue.
constexpr float kIdentityFusionSlack = 1.10f;

ConvParams conv_params(const Attrs& a) {
  ConvParams p;
  const auto& s = a.ints("stride");
  const auto& pad = a.ints("padding");
  const auto& d = a.ints("dilation");
  for (int i = 0; i < 2; ++i) p.stride[i] = s[i], p.padding[i] = pad[i], p.dilation[i] = d[i];
  p.groups = a.i("groups");
  return p;
}

// The cache key of a convolution x (N, C, H, W), w (O, C/g, KH, KW), whatever the pass.
ConvKey key_of(int device, ConvPass pass, DType dtype, const Shape& x, const Shape& w,
               const ConvParams& p) {
  int64_t xs[4], ws[4];
  for (int i = 0; i < 4; ++i) xs[i] = x[i], ws[i] = w[i];
  return conv_key(device, pass, dtype, xs, ws, p);
}

// Descriptors of one convolution: x (N, C, H, W), w (O, C/g, KH, KW), y (N, O, OH, OW). Every
// pass uses these roles (backward-data: x is grad_x, y is grad_out).
struct Problem {
  DType dtype;
  Shape x, w, y;
  ConvParams p;
  TensorDesc xd, yd;
  FilterDesc wd;
  ConvDesc cd;
  cudnnMathType_t math;  // asked of Find

  Problem(DType t, const Shape& xs, const Shape& ws, const Shape& ys, const ConvParams& cp,
          const char* op)
      : dtype(t),
        x(xs),
        w(ws),
        y(ys),
        p(cp),
        xd(t, xs[0], xs[1], xs[2], xs[3], op),
        yd(t, ys[0], ys[1], ys[2], ys[3], op),
        wd(t, ws[0], ws[1], ws[2], ws[3], op),
        cd(t, cp, conv_math_type(t), op),
        math(conv_math_type(t)) {}

  ConvKey key(int device, ConvPass pass) const { return key_of(device, pass, dtype, x, w, p); }
};

size_t workspace_limit() {
  return static_cast<size_t>(std::max<int64_t>(cuda_workspace_limit(), 0));
}

// A workspace query could not allocate the temporary operands of its search.
struct OperandsOutOfMemory {};

// Device memory for a Find, straight from cudaMalloc and freed right after: the caching
// allocator cannot split blocks, so a cached block of that size would sit unused in `reserved`
// for the rest of the run. Find synchronises anyway, so the cudaMalloc/cudaFree pair costs
// nothing extra. On failure the allocator's cache is returned and, for the search's scratch
// (`shrink`), the size halved down to none (Find then only tries algorithms without
// workspace); operands (`!shrink`) throw OperandsOutOfMemory instead.
class FindBuffer {
 public:
  FindBuffer(size_t bytes, Device device, bool shrink) {
    while (bytes > 0) {
      if (cudaMalloc(&data_, bytes) == cudaSuccess) {
        size_ = bytes;
        return;
      }
      cudaGetLastError();
      data_ = nullptr;
      if (!emptied_) {
        empty_cache(device);
        emptied_ = true;
        continue;
      }
      if (!shrink) throw OperandsOutOfMemory{};
      bytes = bytes > (size_t{1} << 20) ? bytes / 2 : 0;
    }
  }
  ~FindBuffer() {
    if (data_) cudaFree(data_);
  }
  FindBuffer(const FindBuffer&) = delete;
  FindBuffer& operator=(const FindBuffer&) = delete;
  void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
  bool emptied_ = false;
};

const char* pass_name(ConvPass pass) {
  switch (pass) {
    case ConvPass::forward:
      return "forward";
    case ConvPass::backward_data:
      return "backward-data";
    case ConvPass::backward_filter:
      return "backward-filter";
  }
  return "?";
}

// A Find result we may use: succeeded, within the workspace limit, deterministic when asked,
// and no tensor-core math when FMA was asked for (no TF32).
template <class Perf>
bool usable(const Perf& r, const Problem& pr) {
  if (r.status != CUDNN_STATUS_SUCCESS || r.memory > workspace_limit()) return false;
  if (cuda_deterministic() && r.determinism != CUDNN_DETERMINISTIC) return false;
  return !(pr.math == CUDNN_FMA_MATH && (r.mathType == CUDNN_TENSOR_OP_MATH ||
                                         r.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION));
}

// The fastest usable result (Find sorts by time); throws duet::Error if there is none.
template <class Perf>
int pick(const Perf* perf, int count, const Problem& pr, ConvPass pass, const char* op) {
  for (int i = 0; i < count; ++i)
    if (usable(perf[i], pr)) return i;
  throw Error(detail::cat(op, ": cuDNN found no ", cuda_deterministic() ? "deterministic " : "",
                          pass_name(pass), " algorithm for x ", shape_str(pr.x), ", weight ",
                          shape_str(pr.w), ", groups=", pr.p.groups,
                          " within the workspace limit of ", workspace_limit(), " bytes (", count,
                          " candidates tried)"));
}

template <class Perf>
ConvAlgo algo_of(const Perf& r, const Problem& pr) {
  ConvAlgo a;
  a.algo = static_cast<int>(r.algo);
  a.math = pr.math == CUDNN_FMA_MATH ? CUDNN_FMA_MATH : r.mathType;
  a.workspace = r.memory;
  return a;
}

// ---- Find per pass ------------------------------------------------------------------------

ConvAlgo find_forward(DeviceContext& ctx, Problem& pr, const void* x, const void* w, void* y,
                      Device dev, const char* op) {
  const size_t limit = workspace_limit();
  size_t ws = 0;
  for (int a = 0; a < CUDNN_CONVOLUTION_FWD_ALGO_COUNT; ++a) {
    size_t s = 0;
    if (cudnnGetConvolutionForwardWorkspaceSize(
            ctx.cudnn, pr.xd.get(), pr.wd.get(), pr.cd.get(), pr.yd.get(),
            static_cast<cudnnConvolutionFwdAlgo_t>(a), &s) == CUDNN_STATUS_SUCCESS &&
        s <= limit)
      ws = std::max(ws, s);
  }
  FindBuffer buf(ws, dev, true);
  std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
  int n = 0;
  DUET_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(
      ctx.cudnn, pr.xd.get(), x, pr.wd.get(), w, pr.cd.get(), pr.yd.get(), y,
      static_cast<int>(perf.size()), &n, perf.data(), buf.data(), buf.size()));
  const int best = pick(perf.data(), n, pr, ConvPass::forward, op);
  ConvAlgo a = algo_of(perf[best], pr);
  for (int i = 0; i < n; ++i) {  // the fastest usable IMPLICIT_PRECOMP_GEMM, for fusion
    const cudnnConvolutionFwdAlgoPerf_t& r = perf[i];
    if (r.algo != CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM || !usable(r, pr)) continue;
    const ConvAlgo p = algo_of(r, pr);
    const float t0 = perf[best].time, t = r.time;
    a.precomp_usable = true;
    a.precomp_math = p.math;
    a.precomp_workspace = p.workspace;
    a.precomp_slowdown = i == best ? 1.0f
                         : t0 > 0  ? t / t0
                                   : (t <= 0 ? 1.0f : std::numeric_limits<float>::infinity());
    break;
  }
  return a;
}

ConvAlgo find_backward_data(DeviceContext& ctx, Problem& pr, const void* w, const void* dy,
                            void* dx, Device dev, const char* op) {
  const size_t limit = workspace_limit();
  size_t ws = 0;
  for (int a = 0; a < CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT; ++a) {
    size_t s = 0;
    if (cudnnGetConvolutionBackwardDataWorkspaceSize(
            ctx.cudnn, pr.wd.get(), pr.yd.get(), pr.cd.get(), pr.xd.get(),
            static_cast<cudnnConvolutionBwdDataAlgo_t>(a), &s) == CUDNN_STATUS_SUCCESS &&
        s <= limit)
      ws = std::max(ws, s);
  }
  FindBuffer buf(ws, dev, true);
  std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT);
  int n = 0;
  DUET_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
      ctx.cudnn, pr.wd.get(), w, pr.yd.get(), dy, pr.cd.get(), pr.xd.get(), dx,
      static_cast<int>(perf.size()), &n, perf.data(), buf.data(), buf.size()));
  return algo_of(perf[pick(perf.data(), n, pr, ConvPass::backward_data, op)], pr);
}

ConvAlgo find_backward_filter(DeviceContext& ctx, Problem& pr, const void* x, const void* dy,
                              void* dw, Device dev, const char* op) {
  const size_t limit = workspace_limit();
  size_t ws = 0;
  for (int a = 0; a < CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT; ++a) {
    size_t s = 0;
    if (cudnnGetConvolutionBackwardFilterWorkspaceSize(
            ctx.cudnn, pr.xd.get(), pr.yd.get(), pr.cd.get(), pr.wd.get(),
            static_cast<cudnnConvolutionBwdFilterAlgo_t>(a), &s) == CUDNN_STATUS_SUCCESS &&
        s <= limit)
      ws = std::max(ws, s);
  }
  FindBuffer buf(ws, dev, true);
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT);
  int n = 0;
  DUET_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
      ctx.cudnn, pr.xd.get(), x, pr.yd.get(), dy, pr.cd.get(), pr.wd.get(), dw,
      static_cast<int>(perf.size()), &n, perf.data(), buf.data(), buf.size()));
  return algo_of(perf[pick(perf.data(), n, pr, ConvPass::backward_filter, op)], pr);
}

// The buffers of one pass in cuDNN's argument order: forward (x, w, y), backward-data
// (w, dy, dx), backward-filter (x, dy, dw).
struct Operands {
  const void* a = nullptr;
  const void* b = nullptr;
  void* out = nullptr;
};

ConvAlgo run_find(DeviceContext& ctx, Problem& pr, ConvPass pass, const Operands& o, Device dev,
                  const char* op) {
  detail::note_cuda_sync();  // the search times algorithms: the host waits for it
  switch (pass) {
    case ConvPass::forward:
      return find_forward(ctx, pr, o.a, o.b, o.out, dev, op);
    case ConvPass::backward_data:
      return find_backward_data(ctx, pr, o.a, o.b, o.out, dev, op);
    case ConvPass::backward_filter:
      return find_backward_filter(ctx, pr, o.a, o.b, o.out, dev, op);
  }
  DUET_ASSERT(false, op, ": unknown convolution pass");
  return {};
}

// A Find outside a kernel call (the workspace query): over zeroed temporary operands of the
// problem's shapes, from cudaMalloc and freed after the search.
ConvAlgo find_with_temporaries(DeviceContext& ctx, Problem& pr, ConvPass pass, Device dev,
                               const char* op) {
  const size_t es = dtype_size(pr.dtype);
  FindBuffer x(numel(pr.x) * es, dev, false);
  FindBuffer w(numel(pr.w) * es, dev, false);
  FindBuffer y(numel(pr.y) * es, dev, false);
  for (const FindBuffer* b : {&x, &w, &y})
    DUET_CUDA_CHECK(cudaMemsetAsync(b->data(), 0, b->size(), ctx.stream));
  const Operands o = pass == ConvPass::forward         ? Operands{x.data(), w.data(), y.data()}
                     : pass == ConvPass::backward_data ? Operands{w.data(), y.data(), x.data()}
                                                       : Operands{x.data(), y.data(), w.data()};
  return run_find(ctx, pr, pass, o, dev, op);
}

// The cached algorithm of a kernel call (Find over its own buffers on a miss).
ConvAlgo algo_for(DeviceContext& ctx, Problem& pr, ConvPass pass, const Operands& o, Device dev,
                  const char* op) {
  return conv_algo_cache().get_or_find(pr.key(ctx.index, pass),
                                       [&] { return run_find(ctx, pr, pass, o, dev, op); });
}

// The cached algorithm for a workspace query (Find over temporaries on a miss). Same key as
// the kernel's, so the kernel then finds it cached.
ConvAlgo algo_for_query(ConvPass pass, const TensorMeta& like, const Shape& x, const Shape& w,
                        const Shape& y, const Attrs& attrs, const char* op) {
  DeviceContext& ctx = cuda_backend::context(like.device);
  const ConvParams p = conv_params(attrs);
  try {
    return conv_algo_cache().get_or_find(key_of(ctx.index, pass, like.dtype, x, w, p), [&] {
      Problem pr(like.dtype, x, w, y, p, op);
      return find_with_temporaries(ctx, pr, pass, like.device, op);
    });
  } catch (const OperandsOutOfMemory&) {
    // No room for temporary operands: nothing is cached and the query answers 0, so the
    // kernel searches over its own buffers on its first call and takes its own workspace
    // then (as before workspaces were planned; inside a CUDA Graph capture, from the
    // graph's scratch pool).
    return ConvAlgo{};
  }
}

// The kernels make no cuDNN call when a tensor is empty (they zero-fill): no workspace, no Find.
bool any_empty(const Shape& x, const Shape& w, const Shape& y) {
  return numel(x) == 0 || numel(w) == 0 || numel(y) == 0;
}

// ---- workspace ----------------------------------------------------------------------------

// The workspace a cuDNN call runs in: the op's (KernelArgs::workspace: the graph arena's or
// eager dispatch's block, sized by the workspace query) when it is large enough, else a block
// from the caching allocator (counted: tests check it stays unused).
class Scratch {
 public:
  Scratch(const KernelArgs& k, size_t need, Device device) {
    if (need == 0) return;
    if (k.workspace != nullptr && k.workspace_size >= need) {
      data_ = k.workspace;
      size_ = k.workspace_size;
      return;
    }
    g_own_workspaces.fetch_add(1, std::memory_order_relaxed);
    own_.emplace(need, device);
    data_ = own_->data();
    size_ = own_->size();
  }
  void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  std::optional<Workspace> own_;
  void* data_ = nullptr;
  size_t size_ = 0;
};

// ---- fused bias + activation --------------------------------------------------------------

// How a forward call runs its bias and activation inside cuDNN, if it can.
struct FusedPlan {
  bool fuse = false;
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace = 0;
  cudnnActivationMode_t mode = CUDNN_ACTIVATION_RELU;
};

// cudnnConvolutionBiasActivationForward takes relu with any algorithm and identity only with
// IMPLICIT_PRECOMP_GEMM; it needs a bias. Anything else (relu6, sigmoid, silu, hardswish, no
// bias) runs as conv + our epilogue.
FusedPlan fused_plan(const ConvAlgo& a, DType dtype, bool bias, Activation act) {
  FusedPlan f;
  // float16 / bfloat16: conv + our epilogue, which adds and activates in float32 and rounds
  // once (cuDNN's fused call would round the bias to the data type first).
  if (!bias || is_low_precision(dtype)) return f;
  if (act == Activation::relu) {
    f.fuse = true;
    f.algo = static_cast<cudnnConvolutionFwdAlgo_t>(a.algo);
    f.math = a.math;
    f.workspace = a.workspace;
    f.mode = CUDNN_ACTIVATION_RELU;
  } else if (act == Activation::none && a.precomp_usable &&
             (a.precomp_slowdown <= kIdentityFusionSlack || g_fuse_identity_always.load())) {
    f.fuse = true;
    f.algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
    f.math = a.precomp_math;
    f.workspace = a.precomp_workspace;
    f.mode = CUDNN_ACTIVATION_IDENTITY;
  }
  return f;
}

// (forward key, activation, residual) combinations for which cuDNN said NOT_SUPPORTED: they
// run unfused from then on without asking again.
struct FusedKey {
  ConvKey key;
  int act = 0;
  bool residual = false;
  bool operator<(const FusedKey& o) const {
    if (key < o.key) return true;
    if (o.key < key) return false;
    return std::tie(act, residual) < std::tie(o.act, o.residual);
  }
};
std::mutex g_unsupported_mu;
std::set<FusedKey>& unsupported_fusions() {
  static auto* s = new std::set<FusedKey>();  // leaked on purpose: used until process exit
  return *s;
}
bool fusion_unsupported(const FusedKey& k) {
  std::lock_guard<std::mutex> lock(g_unsupported_mu);
  return unsupported_fusions().count(k) > 0;
}
void mark_fusion_unsupported(const FusedKey& k) {
  std::lock_guard<std::mutex> lock(g_unsupported_mu);
  unsupported_fusions().insert(k);
}
bool is_not_supported(cudnnStatus_t s) {
  return s >= CUDNN_STATUS_NOT_SUPPORTED && static_cast<int>(s) < 4000;  // 3000..3999
}

// ---- runs ---------------------------------------------------------------------------------

// Every operand (null: absent) in out's dtype: cuDNN reads them all as one data type.
void expect_dtype_of(const Tensor& out, const char* op,
                     std::initializer_list<const Tensor*> operands) {
  for (const Tensor* t : operands)
    DUET_CHECK(!t || t->dtype() == out.dtype(), op, ": expected every operand in ", out.dtype(),
               ", got one in ", t->dtype(), " of shape ", shape_str(t->shape()));
}

// alpha = 1, beta = 0 in the compute precision (cuDNN reads double scalars for double data,
// float ones for float32, float16 and bfloat16 data).
struct Scalars {
  float f1 = 1.0f, f0 = 0.0f;
  double d1 = 1.0, d0 = 0.0;
  const void* one(DType t) const {
    return t == DType::float64 ? static_cast<const void*>(&d1) : &f1;
  }
  const void* zero(DType t) const {
    return t == DType::float64 ? static_cast<const void*>(&d0) : &f0;
  }
};

void zero_fill(const Tensor& t, cudaStream_t stream) {
  if (t.numel() == 0) return;
  DUET_CUDA_CHECK(cudaMemsetAsync(t.data_ptr(), 0,
                                  static_cast<size_t>(t.numel()) * dtype_size(t.dtype()), stream));
}

// One cuDNN call for y = act(conv2d(x, w) + residual + bias):
//   x (N, C, H, W), w (O, C/g, KH, KW), bias (O) seen as (1, O, 1, 1), z = residual
//   (N, O, OH, OW) with alpha2 = 1 or, without a residual, z = y with alpha2 = 0 (cuDNN then
//   does not read z, as for beta = 0; PyTorch's cudnn_convolution_relu does the same),
//   y (N, O, OH, OW).
// cuDNN computes act(alpha1 * conv + alpha2 * z + bias); our epilogue adds in the CPU's order
// act((conv + bias) + residual). The two differ by float rounding only (~1 ulp of the largest
// term; the tests' float32 bound of 2e-4 relative covers it).
cudnnStatus_t bias_activation_forward(DeviceContext& ctx, Problem& pr, const FusedPlan& f,
                                      const Scratch& ws, const Tensor& x, const Tensor& w,
                                      const Tensor& bias, const Tensor* residual, const Tensor& y,
                                      const char* op) {
  const Scalars s;
  const DType t = y.dtype();
  pr.cd.set_math(f.math);
  TensorDesc bd(t, 1, pr.y[1], 1, 1, op);
  ActivationDesc ad(f.mode);
  // Deprecated in cuDNN 9 (the graph API replaces it) but present and supported; the attribute
  // only warns when CUDNN_WARN_DEPRECATED is defined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  return cudnnConvolutionBiasActivationForward(
      ctx.cudnn, s.one(t), pr.xd.get(), x.data_ptr(), pr.wd.get(), w.data_ptr(), pr.cd.get(),
      f.algo, ws.data(), ws.size(), residual ? s.one(t) : s.zero(t), pr.yd.get(),
      residual ? residual->data_ptr() : y.data_ptr(), bd.get(), bias.data_ptr(), ad.get(),
      pr.yd.get(), y.data_ptr());
#pragma GCC diagnostic pop
}

// y = act(conv2d(x, w) + bias + residual); bias / residual may be null.
void forward(const KernelArgs& k, const char* op, const Tensor* bias, const Tensor* residual,
             Activation act) {
  const Tensor& y = k.outputs[0];
  if (y.numel() == 0) return;
  const Tensor& x = k.inputs[0];
  const Tensor& w = k.inputs[1];
  expect_dtype_of(y, op, {&x, &w, bias, residual});
  DeviceContext& ctx = cuda_backend::context_for(y);
  const Shape& ys = y.shape();
  if (x.numel() == 0 || w.numel() == 0) {  // no input channels: the sum is empty
    zero_fill(y, ctx.stream);
  } else {
    Problem pr(y.dtype(), x.shape(), w.shape(), ys, conv_params(k.attrs), op);
    const ConvAlgo a = algo_for(ctx, pr, ConvPass::forward,
                                {x.data_ptr(), w.data_ptr(), y.data_ptr()}, y.device(), op);
    const FusedPlan f = fused_plan(a, y.dtype(), bias != nullptr, act);
    if (f.fuse) {
      const FusedKey fk{pr.key(ctx.index, ConvPass::forward), static_cast<int>(act),
                        residual != nullptr};
      if (!fusion_unsupported(fk)) {
        const Scratch ws(k, f.workspace, y.device());
        const cudnnStatus_t st =
            bias_activation_forward(ctx, pr, f, ws, x, w, *bias, residual, y, op);
        if (st == CUDNN_STATUS_SUCCESS) {
          g_fused_calls.fetch_add(1, std::memory_order_relaxed);
          return;
        }
        if (!is_not_supported(st))
          cuda_backend::throw_cudnn_error(st, "cudnnConvolutionBiasActivationForward", __FILE__,
                                          __LINE__);
        mark_fusion_unsupported(fk);  // nothing ran: fall through to conv + epilogue
      }
    }
    pr.cd.set_math(a.math);
    const Scratch ws(k, a.workspace, y.device());
    const Scalars s;
    DUET_CUDNN_CHECK(cudnnConvolutionForward(
        ctx.cudnn, s.one(y.dtype()), pr.xd.get(), x.data_ptr(), pr.wd.get(), w.data_ptr(),
        pr.cd.get(), static_cast<cudnnConvolutionFwdAlgo_t>(a.algo), ws.data(), ws.size(),
        s.zero(y.dtype()), pr.yd.get(), y.data_ptr()));
  }
  launch_conv_epilogue(y.data_ptr(), bias ? bias->data_ptr() : nullptr,
                       residual ? residual->data_ptr() : nullptr, y.numel(), ys[1], ys[2] * ys[3],
                       y.dtype(), act, k.attrs, ctx.stream);
}

// Workspace of a forward call: the algorithm's, or the fused call's when that is larger (a
// fusion cuDNN then refuses falls back to the plain algorithm, so both must fit).
size_t forward_workspace(std::span<const TensorMeta> in, std::span<const TensorMeta> out,
                         const Attrs& attrs, bool bias, Activation act, const char* op) {
  const Shape &x = in[0].shape, &w = in[1].shape, &y = out[0].shape;
  if (any_empty(x, w, y)) return 0;
  const ConvAlgo a = algo_for_query(ConvPass::forward, out[0], x, w, y, attrs, op);
  const FusedPlan f = fused_plan(a, out[0].dtype, bias, act);
  return std::max(a.workspace, f.fuse ? f.workspace : size_t{0});
}

bool fused_has_bias(const Attrs& a) {
  return a.b("has_bias");
}

}  // namespace

void conv2d(const KernelArgs& k) {
  forward(k, "conv2d", k.inputs.size() > 2 ? &k.inputs[2] : nullptr, nullptr, Activation::none);
}

void conv2d_fused(const KernelArgs& k) {
  const Activation act = kernels::parse_activation(k.attrs.s("activation"), "conv2d_fused");
  const size_t nconv = fused_has_bias(k.attrs) ? 3 : 2;
  const Tensor* bias = nconv == 3 ? &k.inputs[2] : nullptr;
  const Tensor* residual = k.attrs.b("has_residual") ? &k.inputs[nconv] : nullptr;
  forward(k, "conv2d_fused", bias, residual, act);
}

void conv2d_backward_input(const KernelArgs& k) {
  const char* op = "conv2d_backward_input";
  const Tensor& gx = k.outputs[0];
  if (gx.numel() == 0) return;
  const Tensor& go = k.inputs[0];
  const Tensor& w = k.inputs[1];
  DeviceContext& ctx = cuda_backend::context_for(gx);
  expect_dtype_of(gx, op, {&go, &w});
  if (go.numel() == 0 || w.numel() == 0) {
    zero_fill(gx, ctx.stream);
    return;
  }
  Problem pr(gx.dtype(), gx.shape(), w.shape(), go.shape(), conv_params(k.attrs), op);
  const ConvAlgo a = algo_for(ctx, pr, ConvPass::backward_data,
                              {w.data_ptr(), go.data_ptr(), gx.data_ptr()}, gx.device(), op);
  pr.cd.set_math(a.math);
  const Scratch ws(k, a.workspace, gx.device());
  const Scalars s;
  DUET_CUDNN_CHECK(cudnnConvolutionBackwardData(
      ctx.cudnn, s.one(gx.dtype()), pr.wd.get(), w.data_ptr(), pr.yd.get(), go.data_ptr(),
      pr.cd.get(), static_cast<cudnnConvolutionBwdDataAlgo_t>(a.algo), ws.data(), ws.size(),
      s.zero(gx.dtype()), pr.xd.get(), gx.data_ptr()));
}

void conv2d_backward_weight(const KernelArgs& k) {
  const char* op = "conv2d_backward_weight";
  const Tensor& gw = k.outputs[0];
  if (gw.numel() == 0) return;
  const Tensor& go = k.inputs[0];
  const Tensor& x = k.inputs[1];
  DeviceContext& ctx = cuda_backend::context_for(gw);
  expect_dtype_of(gw, op, {&go, &x});
  if (go.numel() == 0 || x.numel() == 0) {  // N == 0: an empty sum
    zero_fill(gw, ctx.stream);
    return;
  }
  Problem pr(gw.dtype(), x.shape(), gw.shape(), go.shape(), conv_params(k.attrs), op);
  const ConvAlgo a = algo_for(ctx, pr, ConvPass::backward_filter,
                              {x.data_ptr(), go.data_ptr(), gw.data_ptr()}, gw.device(), op);
  pr.cd.set_math(a.math);
  const Scratch ws(k, a.workspace, gw.device());
  const Scalars s;
  DUET_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
      ctx.cudnn, s.one(gw.dtype()), pr.xd.get(), x.data_ptr(), pr.yd.get(), go.data_ptr(),
      pr.cd.get(), static_cast<cudnnConvolutionBwdFilterAlgo_t>(a.algo), ws.data(), ws.size(),
      s.zero(gw.dtype()), pr.wd.get(), gw.data_ptr()));
}

// ---- workspace queries --------------------------------------------------------------------

size_t conv2d_workspace(std::span<const TensorMeta> in, std::span<const TensorMeta> out,
                        const Attrs& attrs) {
  return forward_workspace(in, out, attrs, in.size() > 2, Activation::none, "conv2d");
}

size_t conv2d_fused_workspace(std::span<const TensorMeta> in, std::span<const TensorMeta> out,
                              const Attrs& attrs) {
  const Activation act = kernels::parse_activation(attrs.s("activation"), "conv2d_fused");
  return forward_workspace(in, out, attrs, fused_has_bias(attrs), act, "conv2d_fused");
}

// inputs grad_out (N, O, OH, OW), w -> grad_x (N, C, H, W)
size_t conv2d_backward_input_workspace(std::span<const TensorMeta> in,
                                       std::span<const TensorMeta> out, const Attrs& attrs) {
  const Shape &x = out[0].shape, &w = in[1].shape, &y = in[0].shape;
  if (any_empty(x, w, y)) return 0;
  return algo_for_query(ConvPass::backward_data, out[0], x, w, y, attrs, "conv2d_backward_input")
      .workspace;
}

// inputs grad_out (N, O, OH, OW), x (N, C, H, W) -> grad_w (O, C/g, KH, KW)
size_t conv2d_backward_weight_workspace(std::span<const TensorMeta> in,
                                        std::span<const TensorMeta> out, const Attrs& attrs) {
  const Shape &x = in[1].shape, &w = out[0].shape, &y = in[0].shape;
  if (any_empty(x, w, y)) return 0;
  return algo_for_query(ConvPass::backward_filter, out[0], x, w, y, attrs, "conv2d_backward_weight")
      .workspace;
}

// ---- counters and test settings -----------------------------------------------------------

int64_t conv_find_count() {
  return conv_algo_cache().find_count();
}
int64_t conv_fused_count() {
  return g_fused_calls.load();
}
int64_t conv_own_workspace_count() {
  return g_own_workspaces.load();
}
void set_conv_fuse_identity_always(bool on) {
  g_fuse_identity_always.store(on);
}

}  // namespace duet::cuda_kernels

// cuDNN convolutions: conv2d, conv2d_backward_input, conv2d_backward_weight, conv2d_fused.
//
// Each call builds its descriptors (cheap), looks its algorithm up in the process-wide cache
// (cudnnFind*AlgorithmEx on a miss, over the real buffers, with the largest workspace any
// algorithm asks for under duet::cuda_workspace_limit()), then runs on the device's stream
// with a workspace from the caching allocator. Bias, residual and activation are one
// elementwise pass afterwards (conv_epilogue.cu).
#include "cuda/conv_kernels.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "core/device_backend.h"
#include "cpu/fused_kernels.h"
#include "cuda/conv_epilogue.h"
#include "cuda/cudnn_util.h"
#include "cuda/runtime.h"
#include "duet/cuda.h"
#include "duet/memory.h"

namespace duet::cuda_kernels {
namespace {

using cuda_backend::DeviceContext;
using cuda_backend::Workspace;

ConvParams conv_params(const Attrs& a) {
  ConvParams p;
  const auto& s = a.ints("stride");
  const auto& pad = a.ints("padding");
  const auto& d = a.ints("dilation");
  for (int i = 0; i < 2; ++i) p.stride[i] = s[i], p.padding[i] = pad[i], p.dilation[i] = d[i];
  p.groups = a.i("groups");
  return p;
}

// Descriptors of one convolution: x (N, C, H, W), w (O, C/g, KH, KW), y (N, O, OH, OW).
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

  ConvKey key(int device, ConvPass pass) const {
    ConvKey k;
    k.device = device;
    k.pass = pass;
    k.dtype = dtype;
    for (int i = 0; i < 4; ++i) k.x[i] = x[i], k.w[i] = w[i];
    k.p = p;
    k.tf32 = cuda_allow_tf32();
    k.deterministic = cuda_deterministic();
    k.workspace_limit = cuda_workspace_limit();
    return k;
  }
};

size_t workspace_limit() {
  return static_cast<size_t>(std::max<int64_t>(cuda_workspace_limit(), 0));
}

// Scratch for a Find (the largest workspace any algorithm asks for), straight from cudaMalloc
// and freed right after: the caching allocator cannot split blocks, so a cached block of that
// size would sit unused in `reserved` for the rest of the run. Find synchronises anyway, so the
// cudaMalloc/cudaFree pair costs nothing extra. On failure: the allocator's cache is returned
// and the size halved (down to none: Find then only tries algorithms without workspace).
class FindScratch {
 public:
  FindScratch(size_t bytes, Device device) {
    detail::note_cuda_sync();  // the search times algorithms: the host waits for it
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
      bytes = bytes > (size_t{1} << 20) ? bytes / 2 : 0;
    }
  }
  ~FindScratch() {
    if (data_) cudaFree(data_);
  }
  FindScratch(const FindScratch&) = delete;
  FindScratch& operator=(const FindScratch&) = delete;
  void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
  bool emptied_ = false;
};

std::unique_ptr<FindScratch> find_workspace(size_t bytes, Device device) {
  return std::make_unique<FindScratch>(bytes, device);
}

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

// The fastest usable result (Find sorts by time): succeeded, within the workspace limit,
// deterministic when asked, and no tensor-core math when FMA was asked for (no TF32).
template <class Perf>
ConvAlgo pick(const Perf* perf, int count, const Problem& pr, ConvPass pass, const char* op) {
  const bool det = cuda_deterministic();
  const size_t limit = workspace_limit();
  for (int i = 0; i < count; ++i) {
    const Perf& r = perf[i];
    if (r.status != CUDNN_STATUS_SUCCESS || r.memory > limit) continue;
    if (det && r.determinism != CUDNN_DETERMINISTIC) continue;
    if (pr.math == CUDNN_FMA_MATH &&
        (r.mathType == CUDNN_TENSOR_OP_MATH || r.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
      continue;
    ConvAlgo a;
    a.algo = static_cast<int>(r.algo);
    a.math = pr.math == CUDNN_FMA_MATH ? CUDNN_FMA_MATH : r.mathType;
    a.workspace = r.memory;
    return a;
  }
  throw Error(detail::cat(op, ": cuDNN found no ", det ? "deterministic " : "", pass_name(pass),
                          " algorithm for x ", shape_str(pr.x), ", weight ", shape_str(pr.w),
                          ", groups=", pr.p.groups, " within the workspace limit of ", limit,
                          " bytes (", count, " candidates tried)"));
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
  auto buf = find_workspace(ws, dev);
  std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
  int n = 0;
  DUET_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(
      ctx.cudnn, pr.xd.get(), x, pr.wd.get(), w, pr.cd.get(), pr.yd.get(), y,
      static_cast<int>(perf.size()), &n, perf.data(), buf->data(), buf->size()));
  return pick(perf.data(), n, pr, ConvPass::forward, op);
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
  auto buf = find_workspace(ws, dev);
  std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT);
  int n = 0;
  DUET_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
      ctx.cudnn, pr.wd.get(), w, pr.yd.get(), dy, pr.cd.get(), pr.xd.get(), dx,
      static_cast<int>(perf.size()), &n, perf.data(), buf->data(), buf->size()));
  return pick(perf.data(), n, pr, ConvPass::backward_data, op);
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
  auto buf = find_workspace(ws, dev);
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT);
  int n = 0;
  DUET_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
      ctx.cudnn, pr.xd.get(), x, pr.yd.get(), dy, pr.cd.get(), pr.wd.get(), dw,
      static_cast<int>(perf.size()), &n, perf.data(), buf->data(), buf->size()));
  return pick(perf.data(), n, pr, ConvPass::backward_filter, op);
}

// ---- runs ---------------------------------------------------------------------------------

// alpha = 1, beta = 0 in the data's precision (cuDNN reads double scalars for double data).
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

// y = act(conv2d(x, w) + bias + residual); bias / residual may be null.
void forward(const KernelArgs& k, const char* op, const Tensor* bias, const Tensor* residual,
             cpu_kernels::Activation act) {
  const Tensor& y = k.outputs[0];
  if (y.numel() == 0) return;
  const Tensor& x = k.inputs[0];
  const Tensor& w = k.inputs[1];
  DeviceContext& ctx = cuda_backend::context_for(y);
  const Shape& ys = y.shape();
  if (x.numel() == 0 || w.numel() == 0) {  // no input channels: the sum is empty
    zero_fill(y, ctx.stream);
  } else {
    Problem pr(y.dtype(), x.shape(), w.shape(), ys, conv_params(k.attrs), op);
    const ConvAlgo a = conv_algo_cache().get_or_find(pr.key(ctx.index, ConvPass::forward), [&] {
      return find_forward(ctx, pr, x.data_ptr(), w.data_ptr(), y.data_ptr(), y.device(), op);
    });
    pr.cd.set_math(a.math);
    Workspace ws(a.workspace, y.device());
    const Scalars s;
    DUET_CUDNN_CHECK(cudnnConvolutionForward(
        ctx.cudnn, s.one(y.dtype()), pr.xd.get(), x.data_ptr(), pr.wd.get(), w.data_ptr(),
        pr.cd.get(), static_cast<cudnnConvolutionFwdAlgo_t>(a.algo), ws.data(), ws.size(),
        s.zero(y.dtype()), pr.yd.get(), y.data_ptr()));
  }
  launch_conv_epilogue(y.data_ptr(), bias ? bias->data_ptr() : nullptr,
                       residual ? residual->data_ptr() : nullptr, y.numel(), ys[1], ys[2] * ys[3],
                       y.dtype(), act, ctx.stream);
}

}  // namespace

void conv2d(const KernelArgs& k) {
  forward(k, "conv2d", k.inputs.size() > 2 ? &k.inputs[2] : nullptr, nullptr,
          cpu_kernels::Activation::none);
}

void conv2d_fused(const KernelArgs& k) {
  const cpu_kernels::Activation act =
      cpu_kernels::parse_activation(k.attrs.s("activation"), "conv2d_fused");
  const size_t nconv = k.attrs.b("has_bias") ? 3 : 2;
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
  if (go.numel() == 0 || w.numel() == 0) {
    zero_fill(gx, ctx.stream);
    return;
  }
  Problem pr(gx.dtype(), gx.shape(), w.shape(), go.shape(), conv_params(k.attrs), op);
  const ConvAlgo a = conv_algo_cache().get_or_find(pr.key(ctx.index, ConvPass::backward_data), [&] {
    return find_backward_data(ctx, pr, w.data_ptr(), go.data_ptr(), gx.data_ptr(), gx.device(), op);
  });
  pr.cd.set_math(a.math);
  Workspace ws(a.workspace, gx.device());
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
  if (go.numel() == 0 || x.numel() == 0) {  // N == 0: an empty sum
    zero_fill(gw, ctx.stream);
    return;
  }
  Problem pr(gw.dtype(), x.shape(), gw.shape(), go.shape(), conv_params(k.attrs), op);
  const ConvAlgo a =
      conv_algo_cache().get_or_find(pr.key(ctx.index, ConvPass::backward_filter), [&] {
        return find_backward_filter(ctx, pr, x.data_ptr(), go.data_ptr(), gw.data_ptr(),
                                    gw.device(), op);
      });
  pr.cd.set_math(a.math);
  Workspace ws(a.workspace, gw.device());
  const Scalars s;
  DUET_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
      ctx.cudnn, s.one(gw.dtype()), pr.xd.get(), x.data_ptr(), pr.yd.get(), go.data_ptr(),
      pr.cd.get(), static_cast<cudnnConvolutionBwdFilterAlgo_t>(a.algo), ws.data(), ws.size(),
      s.zero(gw.dtype()), pr.wd.get(), gw.data_ptr()));
}

int64_t conv_find_count() {
  return conv_algo_cache().find_count();
}

}  // namespace duet::cuda_kernels

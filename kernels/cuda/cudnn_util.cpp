// cuDNN helpers: dtype mapping, descriptor wrappers, the convolution algorithm cache.
#include "cuda/cudnn_util.h"

#include <limits>

#include "cuda/runtime.h"
#include "duet/cuda.h"
#include "duet/error.h"

namespace duet::cuda_kernels {

cudnnDataType_t cudnn_dtype(DType dtype, const char* op) {
  switch (dtype) {
    case DType::float32:
      return CUDNN_DATA_FLOAT;
    case DType::float64:
      return CUDNN_DATA_DOUBLE;
    case DType::float16:
      return CUDNN_DATA_HALF;
    case DType::bfloat16:
      return CUDNN_DATA_BFLOAT16;
    default:
      break;
  }
  throw Error(detail::cat(op, ": dtype ", dtype,
                          " is not supported on CUDA (expected float32, float64, float16 or "
                          "bfloat16)"));
}

cudnnDataType_t cudnn_compute_dtype(DType dtype, const char* op) {
  return is_low_precision(dtype) ? CUDNN_DATA_FLOAT : cudnn_dtype(dtype, op);
}

int cudnn_dim(int64_t v, const char* op) {
  DUET_CHECK(v >= 0 && v <= std::numeric_limits<int>::max(), op, ": dimension ", v,
             " does not fit cuDNN's 32-bit descriptors");
  return static_cast<int>(v);
}

TensorDesc::TensorDesc(DType dtype, int64_t n, int64_t c, int64_t h, int64_t w, const char* op) {
  const cudnnDataType_t t = cudnn_dtype(dtype, op);
  DUET_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d_));
  try {
    DUET_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d_, CUDNN_TENSOR_NCHW, t, cudnn_dim(n, op),
                                                cudnn_dim(c, op), cudnn_dim(h, op),
                                                cudnn_dim(w, op)));
  } catch (...) {
    cudnnDestroyTensorDescriptor(d_);
    throw;
  }
}
TensorDesc::~TensorDesc() {
  if (d_) cudnnDestroyTensorDescriptor(d_);
}

FilterDesc::FilterDesc(DType dtype, int64_t o, int64_t c, int64_t h, int64_t w, const char* op) {
  const cudnnDataType_t t = cudnn_dtype(dtype, op);
  DUET_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d_));
  try {
    DUET_CUDNN_CHECK(cudnnSetFilter4dDescriptor(d_, t, CUDNN_TENSOR_NCHW, cudnn_dim(o, op),
                                                cudnn_dim(c, op), cudnn_dim(h, op),
                                                cudnn_dim(w, op)));
  } catch (...) {
    cudnnDestroyFilterDescriptor(d_);
    throw;
  }
}
FilterDesc::~FilterDesc() {
  if (d_) cudnnDestroyFilterDescriptor(d_);
}

ConvDesc::ConvDesc(DType dtype, const ConvParams& p, cudnnMathType_t math, const char* op) {
  const cudnnDataType_t t = cudnn_compute_dtype(dtype, op);
  DUET_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d_));
  try {
    DUET_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(
        d_, cudnn_dim(p.padding[0], op), cudnn_dim(p.padding[1], op), cudnn_dim(p.stride[0], op),
        cudnn_dim(p.stride[1], op), cudnn_dim(p.dilation[0], op), cudnn_dim(p.dilation[1], op),
        CUDNN_CROSS_CORRELATION, t));
    DUET_CUDNN_CHECK(cudnnSetConvolutionGroupCount(d_, cudnn_dim(p.groups, op)));
    DUET_CUDNN_CHECK(cudnnSetConvolutionMathType(d_, math));
  } catch (...) {
    cudnnDestroyConvolutionDescriptor(d_);
    throw;
  }
}
ConvDesc::~ConvDesc() {
  if (d_) cudnnDestroyConvolutionDescriptor(d_);
}
void ConvDesc::set_math(cudnnMathType_t math) {
  DUET_CUDNN_CHECK(cudnnSetConvolutionMathType(d_, math));
}

cudnnMathType_t conv_math_type(DType dtype) {
  if (is_low_precision(dtype)) return CUDNN_TENSOR_OP_MATH;
  return dtype == DType::float32 && cuda_allow_tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
}

ActivationDesc::ActivationDesc(cudnnActivationMode_t mode) {
  DUET_CUDNN_CHECK(cudnnCreateActivationDescriptor(&d_));
  try {
    DUET_CUDNN_CHECK(cudnnSetActivationDescriptor(d_, mode, CUDNN_PROPAGATE_NAN, 0.0));
  } catch (...) {
    cudnnDestroyActivationDescriptor(d_);
    throw;
  }
}
ActivationDesc::~ActivationDesc() {
  if (d_) cudnnDestroyActivationDescriptor(d_);
}

ConvKey conv_key(int device, ConvPass pass, DType dtype, const int64_t (&x)[4],
                 const int64_t (&w)[4], const ConvParams& p) {
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

ConvAlgo ConvAlgoCache::get_or_find(const ConvKey& key, const std::function<ConvAlgo()>& find) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = map_.find(key);
  if (it != map_.end()) return it->second;
  ++finds_;
  const ConvAlgo a = find();  // throws: nothing cached, the next call searches again
  map_.emplace(key, a);
  return a;
}

int64_t ConvAlgoCache::find_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return finds_;
}

void ConvAlgoCache::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  map_.clear();
}

ConvAlgoCache& conv_algo_cache() {
  static auto* cache = new ConvAlgoCache();  // leaked on purpose: used until process exit
  return *cache;
}

}  // namespace duet::cuda_kernels

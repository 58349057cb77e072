// cuDNN helpers for the CUDA kernels: dtype mapping, RAII descriptor wrappers, and the
// convolution algorithm cache (one cudnnFind per shape key, shared by all threads).
//
//   TensorDesc x(DType::float32, n, c, h, w, "conv2d");       // NCHW, packed
//   FilterDesc w(DType::float32, o, c / groups, kh, kw, "conv2d");
//   ConvDesc conv(DType::float32, geometry, CUDNN_FMA_MATH, "conv2d");
//   ConvAlgo a = conv_algo_cache().get_or_find(key, [&] { return ...cudnnFind...; });
//
// Only compiled with DUET_CUDA (kernels/cuda/ is host code calling cuDNN).
#pragma once

#include <cudnn.h>

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <tuple>

#include "duet/dtype.h"

namespace duet::cuda_kernels {

// CUDNN_DATA_FLOAT / DOUBLE / HALF / BFLOAT16; throws duet::Error naming `op` for other dtypes.
cudnnDataType_t cudnn_dtype(DType dtype, const char* op);
// The type a convolution of `dtype` data accumulates in: the data type, except float32
// (CUDNN_DATA_FLOAT) for float16 and bfloat16 data.
cudnnDataType_t cudnn_compute_dtype(DType dtype, const char* op);

// Checks that a dimension fits cuDNN's int descriptors (throws duet::Error naming `op`).
int cudnn_dim(int64_t v, const char* op);

// A packed NCHW tensor descriptor.
class TensorDesc {
 public:
  TensorDesc(DType dtype, int64_t n, int64_t c, int64_t h, int64_t w, const char* op);
  ~TensorDesc();
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
  cudnnTensorDescriptor_t get() const { return d_; }

 private:
  cudnnTensorDescriptor_t d_ = nullptr;
};

// An OIHW (KCRS) filter descriptor.
class FilterDesc {
 public:
  FilterDesc(DType dtype, int64_t o, int64_t c, int64_t h, int64_t w, const char* op);
  ~FilterDesc();
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
  cudnnFilterDescriptor_t get() const { return d_; }

 private:
  cudnnFilterDescriptor_t d_ = nullptr;
};

// Convolution geometry beyond the tensor shapes.
struct ConvParams {
  int64_t stride[2] = {1, 1}, padding[2] = {0, 0}, dilation[2] = {1, 1}, groups = 1;
};

// A 2-D cross-correlation descriptor (PyTorch's conv2d) with group count and math type; its
// compute type is cudnn_compute_dtype(dtype) (float32 for 16-bit data).
class ConvDesc {
 public:
  ConvDesc(DType dtype, const ConvParams& p, cudnnMathType_t math, const char* op);
  ~ConvDesc();
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
  cudnnConvolutionDescriptor_t get() const { return d_; }
  void set_math(cudnnMathType_t math);

 private:
  cudnnConvolutionDescriptor_t d_ = nullptr;
};

// The math type asked of cuDNN before Find: CUDNN_TENSOR_OP_MATH for float16 / bfloat16 data
// (tensor cores, float32 accumulation); otherwise FMA (no TF32) unless TF32 is allowed and the
// data are float32.
cudnnMathType_t conv_math_type(DType dtype);

// An activation descriptor (cudnnConvolutionBiasActivationForward's epilogue). NaN propagates,
// as in our relu (x < 0 ? 0 : x).
class ActivationDesc {
 public:
  explicit ActivationDesc(cudnnActivationMode_t mode);
  ~ActivationDesc();
  ActivationDesc(const ActivationDesc&) = delete;
  ActivationDesc& operator=(const ActivationDesc&) = delete;
  cudnnActivationDescriptor_t get() const { return d_; }

 private:
  cudnnActivationDescriptor_t d_ = nullptr;
};

// ---- algorithm cache --------------------------------------------------------------------

enum class ConvPass : int { forward = 0, backward_data = 1, backward_filter = 2 };

// Everything that decides which algorithm cudnnFind picks.
struct ConvKey {
  int device = 0;
  ConvPass pass = ConvPass::forward;
  DType dtype = DType::float32;
  int64_t x[4] = {0, 0, 0, 0};  // input (N, C, H, W)
  int64_t w[4] = {0, 0, 0, 0};  // weight (O, C / groups, KH, KW)
  ConvParams p;
  bool tf32 = false;
  bool deterministic = false;
  int64_t workspace_limit = 0;

  auto tie() const {
    return std::tie(device, pass, dtype, x[0], x[1], x[2], x[3], w[0], w[1], w[2], w[3],
                    p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0],
                    p.dilation[1], p.groups, tf32, deterministic, workspace_limit);
  }
  bool operator<(const ConvKey& o) const { return tie() < o.tie(); }
};

// The key of one convolution with the current settings (TF32, deterministic, workspace
// limit): x (N, C, H, W) and w (O, C / groups, KH, KW) whatever the pass.
ConvKey conv_key(int device, ConvPass pass, DType dtype, const int64_t (&x)[4],
                 const int64_t (&w)[4], const ConvParams& p);

// The algorithm chosen for a key (algo is the cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t
// value of the key's pass).
struct ConvAlgo {
  int algo = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace = 0;  // bytes the algorithm needs
  // Forward keys only: CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM as Find timed it (the
  // one algorithm cudnnConvolutionBiasActivationForward takes with the identity activation):
  // usable under the same filters as `algo`, its math type, workspace, and its time over the
  // time of `algo` (1 when it is `algo`).
  bool precomp_usable = false;
  cudnnMathType_t precomp_math = CUDNN_DEFAULT_MATH;
  size_t precomp_workspace = 0;
  float precomp_slowdown = 0.0f;
};

// Thread-safe map ConvKey -> ConvAlgo. get_or_find runs `find` (a cudnnFind call, which may
// synchronize the device) only on the first request of a key; the lock is held meanwhile so
// two threads never search the same key twice.
class ConvAlgoCache {
 public:
  ConvAlgo get_or_find(const ConvKey& key, const std::function<ConvAlgo()>& find);
  int64_t find_count() const;  // cudnnFind searches run so far (all keys)
  void clear();

 private:
  mutable std::mutex mu_;
  std::map<ConvKey, ConvAlgo> map_;
  int64_t finds_ = 0;
};

ConvAlgoCache& conv_algo_cache();

}  // namespace duet::cuda_kernels

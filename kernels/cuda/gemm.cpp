// cuBLAS host code for matmul, linear and linear_fused (declared in linalg_kernels.h).
//
// Layout. duet's matrices are row-major, cuBLAS's column-major. A row-major (m, n) matrix with
// leading dimension ld is, read column-major, its transpose: an (n, m) matrix with the same ld.
// So the row-major product
//   C (m, n) = A (m, k) @ B (k, n)
// is the column-major product
//   C^T (n, m) = B^T (n, k) @ A^T (k, m)
// and cuBLAS gets B as its first operand, A as its second, with M' = n, N' = m, K' = k and
// ldc = n. An operand stored row-major (element (r, c) at r * ld + c) read column-major already
// is the transpose the formula needs: CUBLAS_OP_N. One stored column-major (element (r, c) at
// r + c * ld, e.g. a transpose view, or linear's weight (out, in) used as B = W^T (in, out)) is
// read as the matrix itself and needs CUBLAS_OP_T.
//
// TF32: float32 products use CUBLAS_COMPUTE_32F with CUBLAS_DEFAULT_MATH (exact fp32) unless
// duet::cuda_allow_tf32(), then CUBLAS_COMPUTE_32F_FAST_TF32 with CUBLAS_TF32_TENSOR_OP_MATH.
// The math mode is set on every call since the handle is shared.
//
// float16 / bfloat16: CUDA_R_16F / CUDA_R_16BF operands and output with CUBLAS_COMPUTE_32F
// (tensor cores, float32 accumulation, float32 alpha/beta, reduced-precision split-K
// reductions disallowed); the result is rounded once to the output dtype. linear's
// bias + activation epilogue adds in float32 and rounds as the unfused ops do
// (elementwise_host.h).
#include <algorithm>
#include <climits>
#include <memory>

#include "cuda/elementwise_host.h"
#include "cuda/runtime.h"
#include "duet/cuda.h"
#include "duet/shape.h"
#include "fused_kernels.h"
#include "linalg_kernels.h"

namespace duet::cuda_kernels {
namespace {

using cuda_backend::kMaxDims;
using cuda_backend::StridedMeta;
using cuda_backend::Workspace;
using kernels::Activation;

// ---- one cuBLAS GEMM in row-major terms ---------------------------------------------------

// A batch of matrices as cuBLAS reads it. Element (i, r, c) of the row-major (rows, cols)
// matrix i is at ptr + i * batch_stride + (trans ? r + c * ld : r * ld + c) elements.
struct Mat {
  const void* ptr = nullptr;
  int64_t ld = 1;
  bool trans = false;
  int64_t batch_stride = 0;  // 0: one matrix shared by the whole batch
};

int to_int(int64_t v, const char* what, const char* op) {
  DUET_CHECK(v >= 0 && v <= INT_MAX, op, ": ", what, " = ", v,
             " is outside cuBLAS's 32-bit int range");
  return static_cast<int>(v);
}

// C (batch, m, n), contiguous row-major, = op(A) (m, k) @ op(B) (k, n) for every batch index;
// m, n >= 1. k == 0 gives zeros.
void gemm_rowmajor(const cuda_backend::DeviceContext& ctx, DType dtype, int64_t m, int64_t n,
                   int64_t k, const Mat& a, const Mat& b, void* c, int64_t batch, const char* op) {
  const size_t elem = dtype_size(dtype);
  if (k == 0) {  // an empty sum: C = 0 (cuBLAS is not asked to special-case it)
    DUET_CUDA_CHECK(cudaMemsetAsync(c, 0, static_cast<size_t>(batch * m * n) * elem, ctx.stream));
    return;
  }
  cublasHandle_t h = ctx.cublas;
  DUET_CUBLAS_CHECK(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST));
  cudaDataType_t data;
  cublasComputeType_t compute;
  const float f_one = 1.0f, f_zero = 0.0f;
  const double d_one = 1.0, d_zero = 0.0;
  const void* alpha;
  const void* beta;
  if (dtype == DType::float64) {
    DUET_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
    data = CUDA_R_64F;
    compute = CUBLAS_COMPUTE_64F;
    alpha = &d_one;
    beta = &d_zero;
  } else if (is_low_precision(dtype)) {
    // float16 / bfloat16 operands and result, float32 accumulation and alpha/beta (tensor
    // cores); split-K partial sums stay float32 too (no reduced-precision reductions).
    DUET_CUBLAS_CHECK(cublasSetMathMode(
        h, static_cast<cublasMath_t>(CUBLAS_DEFAULT_MATH |
                                     CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)));
    data = dtype == DType::float16 ? CUDA_R_16F : CUDA_R_16BF;
    compute = CUBLAS_COMPUTE_32F;
    alpha = &f_one;
    beta = &f_zero;
  } else {
    DUET_CHECK(dtype == DType::float32, op, ": dtype ", dtype,
               " is not supported (expected float32, float64, float16 or bfloat16)");
    const bool tf32 = cuda_allow_tf32();
    DUET_CUBLAS_CHECK(
        cublasSetMathMode(h, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    data = CUDA_R_32F;
    compute = tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    alpha = &f_one;
    beta = &f_zero;
  }
  // Column-major: C^T (n, m) = op'(B) (n, k) @ op'(A) (k, m), ldc = n.
  //   B row-major (k, n) read column-major is B^T (n, k): OP_N, lda' = b.ld >= n;
  //   B column-major is B (k, n): OP_T, lda' = b.ld >= k. Likewise A with (m, k).
  const cublasOperation_t op_b = b.trans ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = a.trans ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int M = to_int(n, "N", op), N = to_int(m, "M", op), K = to_int(k, "K", op);
  const int lda = to_int(b.ld, "leading dimension of b", op);
  const int ldb = to_int(a.ld, "leading dimension of a", op);
  if (batch == 1) {
    DUET_CUBLAS_CHECK(cublasGemmEx(h, op_b, op_a, M, N, K, alpha, b.ptr, data, lda, a.ptr, data,
                                   ldb, beta, c, data, M, compute, CUBLAS_GEMM_DEFAULT));
  } else {
    DUET_CUBLAS_CHECK(
        cublasGemmStridedBatchedEx(h, op_b, op_a, M, N, K, alpha, b.ptr, data, lda, b.batch_stride,
                                   a.ptr, data, ldb, a.batch_stride, beta, c, data, M, m * n,
                                   to_int(batch, "batch count", op), compute, CUBLAS_GEMM_DEFAULT));
  }
}

// ---- matmul operands ------------------------------------------------------------------------

// A matmul operand as a strided view: batch dimensions, then one (rows, cols) matrix.
struct View {
  const char* data = nullptr;  // first element
  Shape batch, batch_strides;  // elements
  int64_t rows = 0, cols = 0, rs = 0, cs = 0;
};

// `vector_is_row`: a rank-1 operand is promoted to (1, K) (a) or (K, 1) (b).
View view_of(const Tensor& t, bool vector_is_row) {
  View v;
  v.data = static_cast<const char*>(t.data_ptr());
  const Shape& s = t.shape();
  const Shape& st = t.strides();
  const size_t r = s.size();
  if (r == 1) {
    v.rows = vector_is_row ? 1 : s[0];
    v.cols = vector_is_row ? s[0] : 1;
    v.rs = vector_is_row ? s[0] : st[0];
    v.cs = vector_is_row ? st[0] : 1;
  } else {
    v.rows = s[r - 2];
    v.cols = s[r - 1];
    v.rs = st[r - 2];
    v.cs = st[r - 1];
    v.batch.assign(s.begin(), s.end() - 2);
    v.batch_strides.assign(st.begin(), st.end() - 2);
  }
  return v;
}

// The matrix part as cuBLAS can read it in place (as the CPU kernel decides): row-major when its
// columns are unit-stride, column-major when its rows are; false otherwise (e.g. stride 0).
bool describe(const View& v, bool& trans, int64_t& ld) {
  if ((v.cs == 1 || v.cols == 1) && (v.rows == 1 || v.rs >= std::max<int64_t>(v.cols, 1))) {
    trans = false;
    ld = v.rows == 1 ? std::max<int64_t>(v.cols, 1) : v.rs;
    return true;
  }
  if ((v.rs == 1 || v.rows == 1) && (v.cols == 1 || v.cs >= std::max<int64_t>(v.rows, 1))) {
    trans = true;
    ld = v.cols == 1 ? std::max<int64_t>(v.rows, 1) : v.cs;
    return true;
  }
  return false;
}

// v's stride along output batch dimension d (0 where v is broadcast).
int64_t batch_stride_at(const View& v, const Shape& out_batch, size_t d) {
  const size_t lead = out_batch.size() - v.batch.size();
  if (d < lead || v.batch[d - lead] == 1) return 0;
  return v.batch_strides[d - lead];
}

// When v's matrices, taken in the output's row-major batch order, are evenly spaced: true and
// their spacing (0 when all are one matrix). cuBLAS's strided batch needs exactly that.
bool even_batch(const View& v, const Shape& out_batch, int64_t& stride) {
  bool found = false;
  int64_t s = 0, span = 1;
  for (size_t d = out_batch.size(); d-- > 0;) {
    if (out_batch[d] == 1) continue;
    const int64_t st = batch_stride_at(v, out_batch, d);
    if (!found) {
      s = st;
      found = true;
    } else if (st != s * span) {
      return false;
    }
    span *= out_batch[d];
  }
  stride = s;
  return true;
}

// v with its batch shape `batch` (its own, or broadcast to the output's) laid out contiguously
// at `data` (nothing is copied).
View contiguous_view(const View& v, const Shape& batch, const char* data) {
  View c;
  c.data = data;
  c.batch = batch;
  c.rows = v.rows;
  c.cols = v.cols;
  c.rs = v.cols;
  c.cs = 1;
  c.batch_strides.assign(batch.size(), 0);
  int64_t st = v.rows * v.cols;
  for (size_t d = batch.size(); d-- > 0;) {
    c.batch_strides[d] = st;
    st *= batch[d];
  }
  return c;
}

// Copies v, its batch broadcast to `batch`, into contiguous workspace memory.
View materialize(const View& v, const Shape& batch, DType dtype, Device device, cudaStream_t stream,
                 std::unique_ptr<Workspace>& ws, const char* op) {
  const int rank = static_cast<int>(batch.size()) + 2;
  DUET_CHECK(rank <= kMaxDims, op, ": an operand with ", batch.size(),
             " batch dimensions needs a copy, which supports at most ", kMaxDims - 2);
  StridedMeta sm;
  sm.rank = rank;
  for (size_t d = 0; d < batch.size(); ++d) {
    sm.sizes[d] = batch[d];
    sm.strides[d] = batch_stride_at(v, batch, d);
  }
  sm.sizes[rank - 2] = v.rows;
  sm.sizes[rank - 1] = v.cols;
  sm.strides[rank - 2] = v.rs;
  sm.strides[rank - 1] = v.cs;
  const size_t elem = dtype_size(dtype);
  ws = std::make_unique<Workspace>(static_cast<size_t>(numel(batch) * v.rows * v.cols) * elem,
                                   device);
  strided_copy(v.data, sm, ws->data(), elem, stream, op);
  return contiguous_view(v, batch, static_cast<const char*>(ws->data()));
}

// The operand as cuBLAS reads it: in place when possible, else a contiguous copy of the operand
// (its own batch shape), else one with the batch broadcast to the output's (memory: the
// output's batch count times one matrix).
Mat plan_operand(const View& v, const Shape& out_batch, DType dtype, Device device,
                 cudaStream_t stream, std::unique_ptr<Workspace>& ws, const char* op) {
  Mat m;
  m.ptr = v.data;
  if (describe(v, m.trans, m.ld) && even_batch(v, out_batch, m.batch_stride)) return m;
  const bool own_ok = even_batch(contiguous_view(v, v.batch, nullptr), out_batch, m.batch_stride);
  const View c = materialize(v, own_ok ? v.batch : out_batch, dtype, device, stream, ws, op);
  m.ptr = c.data;
  m.trans = false;
  m.ld = std::max<int64_t>(c.cols, 1);
  const bool ok = even_batch(c, out_batch, m.batch_stride);
  DUET_ASSERT(ok, op, ": a contiguous operand is not evenly batched");
  return m;
}

// Every operand in the output's dtype (the GEMM reads all of them as one cuBLAS data type).
void expect_same_dtype(const KernelArgs& k, const char* op) {
  const DType t = k.outputs[0].dtype();
  for (const Tensor& in : k.inputs)
    DUET_CHECK(in.dtype() == t, op, ": expected every input in the output's dtype ", t,
               ", got one in ", in.dtype(), " of shape ", shape_str(in.shape()));
}

// ---- linear ---------------------------------------------------------------------------------

// y (rows, out) = act(x (rows, in) @ w (out, in)^T + b); x, w, b contiguous.
void linear_impl(const KernelArgs& k, Activation act, const char* op) {
  const Tensor& x = k.inputs[0];
  const Tensor& w = k.inputs[1];
  const Tensor& y = k.outputs[0];
  const Tensor* bias = k.inputs.size() > 2 ? &k.inputs[2] : nullptr;
  const int64_t out_f = w.shape()[0], in_f = w.shape()[1];
  if (y.numel() == 0) return;
  expect_same_dtype(k, op);
  const int64_t rows = y.numel() / out_f;
  auto& ctx = cuda_backend::context_for(y);
  // A = x: row-major (rows, in), ld in. B = w^T (in, out): w is row-major (out, in), so
  // element (r, c) of B is w[c, r] at r + c * in: column-major with ld in.
  Mat a{x.data_ptr(), std::max<int64_t>(in_f, 1), false, 0};
  Mat b{w.data_ptr(), std::max<int64_t>(in_f, 1), true, 0};
  gemm_rowmajor(ctx, y.dtype(), rows, out_f, in_f, a, b, y.data_ptr(), 1, op);
  bias_activation_epilogue(y.data_ptr(), bias ? bias->data_ptr() : nullptr, nullptr, rows, out_f,
                           y.dtype(), act, k.attrs, ctx.stream, op);
}

}  // namespace

void matmul(const KernelArgs& k) {
  const char* op = "matmul";
  const Tensor& out = k.outputs[0];
  if (out.numel() == 0) return;
  expect_same_dtype(k, op);
  auto& ctx = cuda_backend::context_for(out);
  const DType dtype = out.dtype();
  const View va = view_of(k.inputs[0], true);
  const View vb = view_of(k.inputs[1], false);
  const int64_t m = va.rows, kk = va.cols, n = vb.cols;
  const Shape out_batch = broadcast_shapes(va.batch, vb.batch, op);
  const int64_t nb = numel(out_batch);
  if (kk == 0) {
    gemm_rowmajor(ctx, dtype, m, n, 0, Mat{}, Mat{}, out.data_ptr(), nb, op);
    return;
  }
  std::unique_ptr<Workspace> ws_a, ws_b;
  Mat a = plan_operand(va, out_batch, dtype, out.device(), ctx.stream, ws_a, op);
  Mat b = plan_operand(vb, out_batch, dtype, out.device(), ctx.stream, ws_b, op);
  // b shared by the whole batch and a a stack of row-major matrices one after another: one
  // GEMM with the batch folded into M (C is (nb * m, n) contiguous).
  if (nb > 1 && b.batch_stride == 0 && !a.trans && a.batch_stride == m * a.ld) {
    gemm_rowmajor(ctx, dtype, nb * m, n, kk, Mat{a.ptr, a.ld, false, 0}, b, out.data_ptr(), 1, op);
    return;
  }
  gemm_rowmajor(ctx, dtype, m, n, kk, a, b, out.data_ptr(), nb, op);
  // ws_a / ws_b go back to the caching allocator here; stream order keeps them alive for the
  // GEMM just queued.
}

void linear(const KernelArgs& k) {
  linear_impl(k, Activation::none, "linear");
}

void linear_fused(const KernelArgs& k) {
  linear_impl(k, kernels::parse_activation(k.attrs.s("activation"), "linear_fused"),
              "linear_fused");
}

}  // namespace duet::cuda_kernels

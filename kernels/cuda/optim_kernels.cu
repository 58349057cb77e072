// CUDA optimizer updates: SGD and Adam(W) as multi-tensor kernels, increment_, and the fused
// linear weight gradient + Adam update.
//
// One kernel launch updates a table of up to kMaxTensors parameters passed by value: block b
// belongs to the tensor whose range of blocks holds it. The single-parameter ops (sgd_step_,
// adam_step_) launch the very same kernels with a one-entry table, so the multi-tensor ops are
// bit-identical to them by construction.
//
// lr and the step counts are device scalars, read by thread 0 of each block; the per-step
// coefficients are computed there in double exactly as kernels/cpu/adam_math.h does (pow,
// sqrt, division) and cast to T. Element arithmetic uses the _rn intrinsics, so every step is
// the correctly rounded result of the CPU formula's operation, in its order, whatever nvcc
// would contract into fused multiply-adds. (GCC fuses some of the CPU kernel's multiply-adds
// under -march=native, and CUDA's pow may differ from glibc's in the last bit, so CUDA and
// CPU agree to rounding, not bitwise.)
// Steps are incremented by a second, one-block kernel after the update (every block of the
// update reads the old count).
// Loss scaling (attr gated, kernels/optim_kernels.h): sgd_step_, adam_step_ and
// linear_grad_adam_step_ take found_inf (float32 ()) last; the update and step kernels read it
// on the device and return before writing anything when it is nonzero (no host sync).
#include <cmath>
#include <optional>
#include <type_traits>

#include "core/dtype_dispatch.h"
#include "cuda/runtime.h"
#include "duet/cuda.h"
#include "optim_kernels.h"

namespace duet::cuda_kernels {
namespace {

constexpr int kMaxTensors = 32;        // table entries per launch
constexpr int64_t kBlockElems = 4096;  // elements per block (16 per thread)
constexpr int kThreads = cuda_backend::kThreads;

// ---- exactly rounded arithmetic (never contracted) ------------------------------------------

__device__ inline float add_rn(float a, float b) {
  return __fadd_rn(a, b);
}
__device__ inline double add_rn(double a, double b) {
  return __dadd_rn(a, b);
}
__device__ inline float sub_rn(float a, float b) {
  return __fsub_rn(a, b);
}
__device__ inline double sub_rn(double a, double b) {
  return __dsub_rn(a, b);
}
__device__ inline float mul_rn(float a, float b) {
  return __fmul_rn(a, b);
}
__device__ inline double mul_rn(double a, double b) {
  return __dmul_rn(a, b);
}
__device__ inline float div_rn(float a, float b) {
  return __fdiv_rn(a, b);
}
__device__ inline double div_rn(double a, double b) {
  return __ddiv_rn(a, b);
}
__device__ inline float sqrt_rn(float a) {
  return __fsqrt_rn(a);
}
__device__ inline double sqrt_rn(double a) {
  return __dsqrt_rn(a);
}

// ---- tables ---------------------------------------------------------------------------------

template <class T>
struct Table {
  int n = 0;
  T* p[kMaxTensors];
  const T* g[kMaxTensors];
  T* a[kMaxTensors];  // SGD: momentum buffer (or null); Adam: exp_avg
  T* b[kMaxTensors];  // Adam: exp_avg_sq
  int64_t* step[kMaxTensors];
  int64_t numel[kMaxTensors];
  int64_t block_end[kMaxTensors];  // cumulative block counts
  int64_t blocks = 0;
  // Loss-scaling gate (optim_kernels.h): when set and *skip != 0 (read on the device), the
  // kernels write nothing.
  const float* skip = nullptr;

  void add(T* p_, const T* g_, T* a_, T* b_, int64_t* step_, int64_t numel_) {
    p[n] = p_;
    g[n] = g_;
    a[n] = a_;
    b[n] = b_;
    step[n] = step_;
    numel[n] = numel_;
    blocks += (numel_ + kBlockElems - 1) / kBlockElems;
    block_end[n++] = blocks;
  }
};

struct Steps {
  int n = 0;
  int64_t* step[kMaxTensors];
  const float* skip = nullptr;  // as Table::skip
};

// The gate of a single-tensor update op: its found_inf input (float32 (), last) when the op
// runs with attr gated, else null; `ungated` receives the number of inputs before it.
inline const float* gate_of(const KernelArgs& k, size_t& ungated) {
  const bool gated = k.attrs.b("gated", false);
  ungated = k.inputs.size() - (gated ? 1 : 0);
  return gated ? static_cast<const float*>(k.inputs.back().data_ptr()) : nullptr;
}

// The table entry of this block, and the block's element range within that tensor.
template <class T>
__device__ inline int entry_of(const Table<T>& tab, int64_t& begin, int64_t& end) {
  const int64_t blk = blockIdx.x;
  int t = 0;
  while (blk >= tab.block_end[t]) ++t;
  const int64_t first = t > 0 ? tab.block_end[t - 1] : 0;
  begin = (blk - first) * kBlockElems;
  end = begin + kBlockElems < tab.numel[t] ? begin + kBlockElems : tab.numel[t];
  return t;
}

__global__ void increment_steps_kernel(Steps s) {
  const int i = static_cast<int>(threadIdx.x);
  if (s.skip && *s.skip != 0.0f) return;
  if (i < s.n) *s.step[i] += 1;
}

// ---- SGD --------------------------------------------------------------------------------------

// The attrs of sgd_step_, in T (as cpu_kernels::sgd_step casts them).
template <class T>
struct SgdConsts {
  T mom, keep, wd;
  bool nesterov;
};

// g = grad + wd * p; with a buffer: buf = first ? g : buf * mom + keep * g,
// g = nesterov ? g + mom * buf : buf; p = p + (-lr) * g. first: the entry's step == 0.
template <class T>
__global__ void __launch_bounds__(kThreads)
    sgd_kernel(Table<T> tab, const double* __restrict__ lr, SgdConsts<T> c) {
  __shared__ T neg_lr;
  __shared__ bool first;
  if (tab.skip && *tab.skip != 0.0f) return;  // every thread of the block: no barrier below
  int64_t begin, end;
  const int t = entry_of(tab, begin, end);
  if (threadIdx.x == 0) {
    neg_lr = -static_cast<T>(*lr);
    first = *tab.step[t] == 0;
  }
  __syncthreads();
  T* __restrict__ p = tab.p[t];
  const T* __restrict__ g = tab.g[t];
  T* __restrict__ buf = tab.a[t];
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    T d = g[i];
    if (c.wd != T(0)) d = add_rn(d, mul_rn(c.wd, p[i]));
    if (buf) {
      const T b = first ? d : add_rn(mul_rn(buf[i], c.mom), mul_rn(c.keep, d));
      buf[i] = b;
      d = c.nesterov ? add_rn(d, mul_rn(c.mom, b)) : b;
    }
    p[i] = add_rn(p[i], mul_rn(neg_lr, d));
  }
}

// ---- Adam ---------------------------------------------------------------------------------------

// The step-independent constants of adam_math.h's AdamConsts, in T, and the attrs in double
// for the per-step ones.
template <class T>
struct AdamConsts {
  T wd, w1, b2, w2, eps;
  double beta1, beta2, weight_decay;
  bool decoupled, l2, lerp_low;
};

template <class T>
AdamConsts<T> adam_consts(const Attrs& a) {
  AdamConsts<T> c;
  c.beta1 = a.f("beta1");
  c.beta2 = a.f("beta2");
  c.weight_decay = a.f("weight_decay");
  c.wd = static_cast<T>(c.weight_decay);
  c.w1 = static_cast<T>(1.0 - c.beta1);
  c.b2 = static_cast<T>(c.beta2);
  c.w2 = static_cast<T>(1.0 - c.beta2);
  c.eps = static_cast<T>(a.f("eps"));
  c.decoupled = a.b("decoupled");
  c.l2 = !c.decoupled && c.wd != T(0);
  c.lerp_low = c.w1 < T(0.5);
  return c;
}

// adam_math.h's adam_range, element by element; the step count t is the entry's step + 1.
template <class T>
__global__ void __launch_bounds__(kThreads)
    adam_kernel(Table<T> tab, const double* __restrict__ lr, AdamConsts<T> c) {
  __shared__ T decay, bc2_sqrt, neg_step_size;
  if (tab.skip && *tab.skip != 0.0f) return;  // every thread of the block: no barrier below
  int64_t begin, end;
  const int t = entry_of(tab, begin, end);
  if (threadIdx.x == 0) {  // adam_coeffs and AdamConsts, in double then cast
    const double lr_v = *lr;
    const double step = static_cast<double>(*tab.step[t] + 1);
    const double step_size = __ddiv_rn(lr_v, __dsub_rn(1.0, pow(c.beta1, step)));
    const double bc2 = __dsqrt_rn(__dsub_rn(1.0, pow(c.beta2, step)));
    decay = static_cast<T>(__dsub_rn(1.0, __dmul_rn(lr_v, c.weight_decay)));
    bc2_sqrt = static_cast<T>(bc2);
    neg_step_size = static_cast<T>(-step_size);
  }
  __syncthreads();
  T* __restrict__ p = tab.p[t];
  const T* __restrict__ g = tab.g[t];
  T* __restrict__ m = tab.a[t];
  T* __restrict__ v = tab.b[t];
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    T pi = p[i], gi = g[i];
    if (c.decoupled) pi = mul_rn(pi, decay);
    if (c.l2) gi = add_rn(gi, mul_rn(c.wd, pi));
    // exp_avg.lerp_(grad, 1 - beta1), with PyTorch's two-sided lerp formula
    const T mo = m[i];
    const T mi = c.lerp_low ? add_rn(mo, mul_rn(c.w1, sub_rn(gi, mo)))
                            : sub_rn(gi, mul_rn(sub_rn(gi, mo), sub_rn(T(1), c.w1)));
    const T vi = add_rn(mul_rn(v[i], c.b2), mul_rn(c.w2, mul_rn(gi, gi)));
    const T denom = add_rn(div_rn(sqrt_rn(vi), bc2_sqrt), c.eps);
    m[i] = mi;
    v[i] = vi;
    p[i] = add_rn(pi, mul_rn(neg_step_size, div_rn(mi, denom)));
  }
}

// ---- launches -----------------------------------------------------------------------------------

template <class T>
void launch_sgd(const Table<T>& tab, const double* lr, const SgdConsts<T>& c, cudaStream_t s) {
  if (tab.blocks > 0) {
    DUET_CHECK(tab.blocks <= 0x7fffffff, "sgd_step_: too many elements for one launch");
    sgd_kernel<T><<<static_cast<unsigned>(tab.blocks), kThreads, 0, s>>>(tab, lr, c);
    DUET_CUDA_CHECK_LAUNCH();
  }
}

template <class T>
void launch_adam(const Table<T>& tab, const double* lr, const AdamConsts<T>& c, cudaStream_t s) {
  if (tab.blocks > 0) {
    DUET_CHECK(tab.blocks <= 0x7fffffff, "adam_step_: too many elements for one launch");
    adam_kernel<T><<<static_cast<unsigned>(tab.blocks), kThreads, 0, s>>>(tab, lr, c);
    DUET_CUDA_CHECK_LAUNCH();
  }
}

template <class T>
void launch_increment_steps(const Table<T>& tab, cudaStream_t s) {
  Steps st;
  st.n = tab.n;
  st.skip = tab.skip;
  for (int i = 0; i < tab.n; ++i) st.step[i] = tab.step[i];
  if (st.n == 0) return;
  increment_steps_kernel<<<1, kMaxTensors, 0, s>>>(st);
  DUET_CUDA_CHECK_LAUNCH();
}

template <class T>
SgdConsts<T> sgd_consts(const Attrs& a) {
  return {static_cast<T>(a.f("momentum")), static_cast<T>(1.0 - a.f("dampening")),
          static_cast<T>(a.f("weight_decay")), a.b("nesterov")};
}

template <class T>
T* ptr(const Tensor& t) {
  return static_cast<T*>(t.data_ptr());
}

// Runs `launch` on tables of at most kMaxTensors entries: entry j of the op's parameters is
// made by add(table, j).
template <class T, class Add, class Launch>
void in_tables(int count, Add add, Launch launch) {
  for (int first = 0; first < count; first += kMaxTensors) {
    Table<T> tab;
    for (int j = first; j < count && j < first + kMaxTensors; ++j) add(tab, j);
    launch(tab);
  }
}

template <class T>
__global__ void increment_kernel(T* x, int64_t n, T v) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    x[i] = x[i] + v;
}

}  // namespace

void sgd_step(const KernelArgs& k) {
  const cudaStream_t s = cuda_backend::stream_for(k.inputs[0]);
  size_t num_inputs = 0;
  const float* skip = gate_of(k, num_inputs);
  detail::dispatch_floating(k.inputs[0].dtype(), "sgd_step_", [&](auto tag) {
    using T = decltype(tag);
    Table<T> tab;
    tab.skip = skip;
    tab.add(ptr<T>(k.inputs[0]), ptr<T>(k.inputs[1]),
            num_inputs > 4 ? ptr<T>(k.inputs[4]) : nullptr, nullptr, ptr<int64_t>(k.inputs[3]),
            k.inputs[0].numel());
    launch_sgd<T>(tab, ptr<double>(k.inputs[2]), sgd_consts<T>(k.attrs), s);
    launch_increment_steps(tab, s);
  });
}

void adam_step(const KernelArgs& k) {
  const cudaStream_t s = cuda_backend::stream_for(k.inputs[0]);
  size_t num_inputs = 0;
  const float* skip = gate_of(k, num_inputs);
  detail::dispatch_floating(k.inputs[0].dtype(), "adam_step_", [&](auto tag) {
    using T = decltype(tag);
    Table<T> tab;
    tab.skip = skip;
    tab.add(ptr<T>(k.inputs[0]), ptr<T>(k.inputs[1]), ptr<T>(k.inputs[2]), ptr<T>(k.inputs[3]),
            ptr<int64_t>(k.inputs[5]), k.inputs[0].numel());
    launch_adam<T>(tab, ptr<double>(k.inputs[4]), adam_consts<T>(k.attrs), s);
    launch_increment_steps(tab, s);
  });
}

void sgd_step_multi(const KernelArgs& k) {
  const bool buffers = k.attrs.b("buffers");
  const int stride = buffers ? 4 : 3;
  const int count = static_cast<int>((k.inputs.size() - 1) / stride);
  if (count == 0) return;
  const Tensor& p0 = k.inputs[1];
  const cudaStream_t s = cuda_backend::stream_for(p0);
  detail::dispatch_floating(p0.dtype(), "sgd_step_multi_", [&](auto tag) {
    using T = decltype(tag);
    const SgdConsts<T> c = sgd_consts<T>(k.attrs);
    const double* lr = ptr<double>(k.inputs[0]);
    in_tables<T>(
        count,
        [&](Table<T>& tab, int j) {
          const auto& in = k.inputs;
          const size_t b = 1 + static_cast<size_t>(j) * stride;
          tab.add(ptr<T>(in[b]), ptr<T>(in[b + 1]), buffers ? ptr<T>(in[b + 3]) : nullptr, nullptr,
                  ptr<int64_t>(in[b + 2]), in[b].numel());
        },
        [&](const Table<T>& tab) {
          launch_sgd<T>(tab, lr, c, s);
          launch_increment_steps(tab, s);
        });
  });
}

void adam_step_multi(const KernelArgs& k) {
  const int count = static_cast<int>((k.inputs.size() - 1) / 5);
  if (count == 0) return;
  const Tensor& p0 = k.inputs[1];
  const cudaStream_t s = cuda_backend::stream_for(p0);
  detail::dispatch_floating(p0.dtype(), "adam_step_multi_", [&](auto tag) {
    using T = decltype(tag);
    const AdamConsts<T> c = adam_consts<T>(k.attrs);
    const double* lr = ptr<double>(k.inputs[0]);
    in_tables<T>(
        count,
        [&](Table<T>& tab, int j) {
          const auto& in = k.inputs;
          const size_t b = 1 + static_cast<size_t>(j) * 5;
          tab.add(ptr<T>(in[b]), ptr<T>(in[b + 1]), ptr<T>(in[b + 2]), ptr<T>(in[b + 3]),
                  ptr<int64_t>(in[b + 4]), in[b].numel());
        },
        [&](const Table<T>& tab) {
          launch_adam<T>(tab, lr, c, s);
          launch_increment_steps(tab, s);
        });
  });
}

void increment(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const int64_t n = x.numel();
  if (n == 0) return;
  const double value = k.attrs.f("value");
  const cudaStream_t s = cuda_backend::stream_for(x);
  detail::dispatch_all(x.dtype(), "increment_", [&](auto tag) {  // as the CPU kernel
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      DUET_ASSERT(false, "increment_: a bool input passed infer");
    } else {
      increment_kernel<T>
          <<<cuda_backend::blocks_for(n), kThreads, 0, s>>>(ptr<T>(x), n, static_cast<T>(value));
      DUET_CUDA_CHECK_LAUNCH();
    }
  });
}

void linear_grad_adam_step(const KernelArgs& k) {
  const Tensor& go = k.inputs[0];  // (rows, out)
  const Tensor& x = k.inputs[1];   // (rows, in)
  const Tensor& w = k.inputs[2];   // (out, in)
  const int64_t rows = go.size(0), out = w.size(0), in = w.size(1);
  size_t num_inputs = 0;
  const float* skip = gate_of(k, num_inputs);  // the GEMM runs anyway: only dW is written
  auto& ctx = cuda_backend::context_for(w);
  const size_t bytes = static_cast<size_t>(out * in) * dtype_size(w.dtype());
  std::optional<cuda_backend::Workspace> scratch;
  void* dw = k.workspace;
  if (k.workspace_size < bytes || dw == nullptr) {
    scratch.emplace(bytes, w.device());
    dw = scratch->data();
  }
  DUET_CHECK(rows <= 0x7fffffff && out <= 0x7fffffff && in <= 0x7fffffff,
             "linear_grad_adam_step_: sizes exceed cuBLAS's int range");
  const int m_ = static_cast<int>(in), n_ = static_cast<int>(out), k_ = static_cast<int>(rows);
  // The handle is bound to ctx.stream at context creation; no cublasSetStream here: it would
  // reset the handle's workspace (src/cuda/context.cpp) to cuBLAS's own pool, which allocates
  // on first use, also inside a CUDA Graph capture.
  DUET_CUBLAS_CHECK(cublasSetMathMode(
      ctx.cublas, cuda_allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  detail::dispatch_floating(w.dtype(), "linear_grad_adam_step_", [&](auto tag) {
    using T = decltype(tag);
    if (out * in > 0) {
      // Column-major: dW^T (in, out) = x^T (in, rows) * grad_out (rows, out).
      const T one = 1, zero = 0;
      if constexpr (std::is_same_v<T, float>) {
        DUET_CUBLAS_CHECK(cublasSgemm(ctx.cublas, CUBLAS_OP_N, CUBLAS_OP_T, m_, n_, k_, &one,
                                      ptr<T>(x), m_, ptr<T>(go), n_, &zero, static_cast<T*>(dw),
                                      m_));
      } else {
        DUET_CUBLAS_CHECK(cublasDgemm(ctx.cublas, CUBLAS_OP_N, CUBLAS_OP_T, m_, n_, k_, &one,
                                      ptr<T>(x), m_, ptr<T>(go), n_, &zero, static_cast<T*>(dw),
                                      m_));
      }
    }
    Table<T> tab;
    tab.skip = skip;
    tab.add(ptr<T>(w), static_cast<const T*>(dw), ptr<T>(k.inputs[3]), ptr<T>(k.inputs[4]),
            ptr<int64_t>(k.inputs[6]), out * in);
    launch_adam<T>(tab, ptr<double>(k.inputs[5]), adam_consts<T>(k.attrs), ctx.stream);
    launch_increment_steps(tab, ctx.stream);
  });
}

}  // namespace duet::cuda_kernels

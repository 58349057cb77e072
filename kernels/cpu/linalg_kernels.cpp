#include "linalg_kernels.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "core/copy.h"
#include "core/dtype_dispatch.h"
#include "core/parallel.h"
#include "cpu/activation_math.h"
#include "cpu/convert.h"
#include "cpu/gemm.h"
#include "cpu/gemm_lowp.h"
#include "cpu/lowp_kernels.h"

namespace duet::cpu_kernels {
namespace {

// One matmul operand seen as a batch of (rows, cols) matrices a GEMM can read in place.
struct Operand {
  Tensor t;  // the tensor actually read (the input, or a contiguous copy)
  int64_t rows = 0, cols = 0;
  bool trans = false;  // stored column-major: element (r, c) at r + c * ld
  int64_t ld = 0;
  Shape batch_shape;  // leading dims of the operand (possibly fewer than the output's)
  Shape batch_strides;
};

// Tries to describe the matrix part of t (strides rs, cs) as a GEMM operand without a copy.
bool describe(int64_t rows, int64_t cols, int64_t rs, int64_t cs, bool& trans, int64_t& ld) {
  if ((cs == 1 || cols == 1) && (rows == 1 || rs >= std::max<int64_t>(cols, 1))) {
    trans = false;
    ld = rows == 1 ? std::max<int64_t>(cols, 1) : rs;
    return true;
  }
  if ((rs == 1 || rows == 1) && (cols == 1 || cs >= std::max<int64_t>(rows, 1))) {
    trans = true;
    ld = cols == 1 ? std::max<int64_t>(rows, 1) : cs;
    return true;
  }
  return false;
}

// `vector_is_row`: for a rank-1 operand, whether it is promoted to (1, K) (a) or (K, 1) (b).
Operand make_operand(const Tensor& input, bool vector_is_row) {
  Operand o;
  o.t = input;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const Shape& s = o.t.shape();
    const Shape& st = o.t.strides();
    const size_t r = s.size();
    int64_t rs, cs;
    if (r == 1) {
      o.rows = vector_is_row ? 1 : s[0];
      o.cols = vector_is_row ? s[0] : 1;
      rs = vector_is_row ? s[0] : st[0];
      cs = vector_is_row ? st[0] : 1;
      o.batch_shape.clear();
      o.batch_strides.clear();
    } else {
      o.rows = s[r - 2];
      o.cols = s[r - 1];
      rs = st[r - 2];
      cs = st[r - 1];
      o.batch_shape.assign(s.begin(), s.end() - 2);
      o.batch_strides.assign(st.begin(), st.end() - 2);
    }
    if (describe(o.rows, o.cols, rs, cs, o.trans, o.ld)) return o;
    o.t = detail::contiguous_copy(input);
  }
  DUET_ASSERT(false, "matmul: contiguous operand not describable");
  return o;
}

// Element offset of output batch index `bi` (row-major over out_batch) in operand o.
int64_t batch_offset(const Operand& o, const Shape& out_batch, int64_t bi) {
  int64_t off = 0;
  const size_t lead = out_batch.size() - o.batch_shape.size();
  for (size_t d = out_batch.size(); d-- > 0;) {
    const int64_t idx = bi % out_batch[d];
    bi /= out_batch[d];
    if (d < lead) continue;
    const size_t od = d - lead;
    if (o.batch_shape[od] != 1) off += idx * o.batch_strides[od];
  }
  return off;
}

bool all_ones(const Shape& s) {
  return std::all_of(s.begin(), s.end(), [](int64_t v) { return v == 1; });
}

// The GEMMs of one matmul: c (batch..., M, N) = a @ b, through gemm(ta, tb, m, n, k, a, lda,
// b, ldb, c, ldc) (beta 0).
template <class T, class C, class G>
void matmul_batches(const Operand& a, const Operand& b, const Shape& out_batch, const T* pa,
                    const T* pb, C* pc, const G& gemm_fn) {
  const int64_t m = a.rows, kk = a.cols, n = b.cols;
  const int64_t nb = numel(out_batch);
  // b shared by the whole batch and a a plain stack of row-major matrices: one GEMM with
  // the batch folded into M.
  if (nb > 1 && all_ones(b.batch_shape) && !a.trans && a.t.is_contiguous() &&
      numel(a.batch_shape) == nb) {
    gemm_fn(false, b.trans, nb * m, n, kk, pa, a.ld, pb, b.ld, pc, n);
    return;
  }
  std::vector<int64_t> offa(nb), offb(nb);
  for (int64_t i = 0; i < nb; ++i) {
    offa[i] = batch_offset(a, out_batch, i);
    offb[i] = batch_offset(b, out_batch, i);
  }
  auto one = [&](int64_t i) {
    gemm_fn(a.trans, b.trans, m, n, kk, pa + offa[i], a.ld, pb + offb[i], b.ld, pc + i * m * n, n);
  };
  // Many matrices: one per thread, each GEMM single-threaded. Few: each GEMM is split over the
  // threads.
  const int threads = parallel::max_threads();
  if (threads > 1 && (nb >= 2 * threads || (nb >= threads && nb % threads == 0))) {
    parallel::parallel_for(
        0, nb, 1,
        [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) one(i);
        },
        threads);
  } else {
    for (int64_t i = 0; i < nb; ++i) one(i);
  }
}

// c (m, n) = op(a) @ op(b) in bfloat16 with float32 output (beta 0). A transposed b with at
// least 16 rows of a is first copied untransposed (k, n): gemm_bf16's packing of a transposed b
// measured 2-10x slower than the untransposed one, the copy costs k * n moves against
// m * k * n multiply-adds.
void gemm_bf16_nn(bool ta, bool tb, int64_t m, int64_t n, int64_t kk, const BFloat16* a,
                  int64_t lda, const BFloat16* b, int64_t ldb, float* c, int64_t ldc) {
  if (tb && m >= 16) {
    thread_local std::vector<BFloat16> bt;
    bt.resize(static_cast<size_t>(kk * n));
    constexpr int64_t kB = 32;  // b is stored (n, k): bt[r, j] = b[j, r]
    for (int64_t j0 = 0; j0 < n; j0 += kB)
      for (int64_t r0 = 0; r0 < kk; r0 += kB)
        for (int64_t r = r0; r < std::min(kk, r0 + kB); ++r)
          for (int64_t j = j0; j < std::min(n, j0 + kB); ++j)
            bt[static_cast<size_t>(r * n + j)] = b[j * ldb + r];
    gemm_bf16(ta, false, m, n, kk, 1.0f, a, lda, bt.data(), n, 0.0f, c, ldc);
    return;
  }
  gemm_bf16(ta, tb, m, n, kk, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
}

}  // namespace

void matmul(const KernelArgs& k) {
  const Tensor& out = k.outputs[0];
  Operand a = make_operand(k.inputs[0], true);
  Operand b = make_operand(k.inputs[1], false);
  const Shape out_batch = broadcast_shapes(a.batch_shape, b.batch_shape, "matmul");
  if (out.numel() == 0) return;

  if (out.dtype() == DType::bfloat16) {
    // bfloat16 products accumulated in float32 (gemm_bf16), each element rounded once.
    std::vector<float> c(static_cast<size_t>(out.numel()));
    matmul_batches(a, b, out_batch, static_cast<const BFloat16*>(a.t.data_ptr()),
                   static_cast<const BFloat16*>(b.t.data_ptr()), c.data(), gemm_bf16_nn);
    convert::float_to_bf16(c.data(), static_cast<BFloat16*>(out.data_ptr()), out.numel());
    return;
  }
  detail::dispatch_floating(out.dtype(), "matmul", [&](auto tag) {
    using T = decltype(tag);
    matmul_batches(a, b, out_batch, static_cast<const T*>(a.t.data_ptr()),
                   static_cast<const T*>(b.t.data_ptr()), static_cast<T*>(out.data_ptr()),
                   [](bool ta, bool tb, int64_t m, int64_t n, int64_t kk, const T* pa, int64_t lda,
                      const T* pb, int64_t ldb, T* pc, int64_t ldc) {
                     gemm<T>(ta, tb, m, n, kk, T(1), pa, lda, pb, ldb, T(0), pc, ldc);
                   });
  });
}

void linear(const KernelArgs& k) {
  if (k.outputs[0].dtype() == DType::bfloat16) return linear_bf16(k, kernels::Activation::none);
  const Tensor& x = k.inputs[0];
  const Tensor& w = k.inputs[1];
  const Tensor& y = k.outputs[0];
  const bool has_bias = k.inputs.size() > 2;
  const int64_t out_f = w.shape()[0], in_f = w.shape()[1];
  if (y.numel() == 0) return;
  const int64_t rows = y.numel() / out_f;
  detail::dispatch_floating(y.dtype(), "linear", [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x.data_ptr());
    const T* pw = static_cast<const T*>(w.data_ptr());
    T* py = static_cast<T*>(y.data_ptr());
    if (has_bias) {
      // y rows start as the bias; the GEMM accumulates onto them.
      const T* pb = static_cast<const T*>(k.inputs[2].data_ptr());
      parallel::parallel_for_if(rows * out_f > (1 << 16), 0, rows, [&](int64_t lo, int64_t hi) {
        for (int64_t r = lo; r < hi; ++r) std::copy(pb, pb + out_f, py + r * out_f);
      });
    }
    // y (rows, out) = x (rows, in) @ w (out, in)^T [+ y]
    gemm<T>(false, true, rows, out_f, in_f, T(1), px, in_f, pw, in_f, has_bias ? T(1) : T(0), py,
            out_f);
  });
}

// y (rows, out) = x (rows, in) @ w (out, in)^T in float32 (gemm_bf16), then + bias and the
// activation in float32 with the rounding points of the unfused ops (bias add rounded with
// the product, the activation on the rounded value), each output rounded to bfloat16.
void linear_bf16(const KernelArgs& k, kernels::Activation act) {
  const Tensor& x = k.inputs[0];
  const Tensor& w = k.inputs[1];
  const Tensor& y = k.outputs[0];
  const int64_t out_f = w.shape()[0], in_f = w.shape()[1];
  if (y.numel() == 0) return;
  const int64_t rows = y.numel() / out_f;
  std::vector<float> c(static_cast<size_t>(y.numel()));
  gemm_bf16_nn(false, true, rows, out_f, in_f, static_cast<const BFloat16*>(x.data_ptr()), in_f,
               static_cast<const BFloat16*>(w.data_ptr()), in_f, c.data(), out_f);
  std::vector<float> bias;
  if (k.inputs.size() > 2) {
    bias.resize(static_cast<size_t>(out_f));
    convert::bf16_to_float(static_cast<const BFloat16*>(k.inputs[2].data_ptr()), bias.data(),
                           out_f);
  }
  BFloat16* py = static_cast<BFloat16*>(y.data_ptr());
  act::visit_activation<float>(act, k.attrs, [&](const auto& f) {
    using F = std::decay_t<decltype(f)>;
    constexpr bool none = std::is_same_v<F, act::none_act<float>>;
    parallel::parallel_for_if(rows * out_f > (1 << 15), 0, rows, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        float* v = c.data() + r * out_f;
        if (!bias.empty()) {
#pragma omp simd
          for (int64_t j = 0; j < out_f; ++j) v[j] += bias[static_cast<size_t>(j)];
        }
        if constexpr (!none && !F::kArrayForward) {
          for (int64_t j = 0; j < out_f; ++j) v[j] = f.forward(static_cast<float>(BFloat16(v[j])));
        }
        convert::float_to_bf16(v, py + r * out_f, out_f);
      }
    });
    if constexpr (!none && F::kArrayForward) {
      // As the unfused activation kernel: kActBlock blocks over the whole output.
      for_each_block(y.numel(), [&](int64_t i0, int64_t len) {
        float v[kActBlock];
        convert::bf16_to_float(py + i0, v, len);
        ArrayMap<float> a(v, len);
        a = f.forward(a);
        convert::float_to_bf16(v, py + i0, len);
      });
    }
  });
}

}  // namespace duet::cpu_kernels

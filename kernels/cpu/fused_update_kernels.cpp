#include "optim_kernels.h"

#include <Eigen/Core>
#include <algorithm>

#include "core/dtype_dispatch.h"
#include "core/parallel.h"
#include "cpu/adam_math.h"

namespace duet::cpu_kernels {
namespace {

constexpr int64_t kSmallRows = 8;

// Rows of dW per block. Few input rows (small batches): about 16K elements (64 KiB of
// float32), so a block stays in cache and there are enough blocks to balance the threads.
// Many rows: about 256K elements, so each block's GEMM is large enough to run efficiently.
int64_t block_rows(int64_t rows, int64_t out, int64_t in) {
  const int64_t target = rows <= kSmallRows ? (int64_t{1} << 14) : (int64_t{1} << 18);
  return std::clamp<int64_t>(target / std::max<int64_t>(in, 1), 1, out);
}

}  // namespace

size_t linear_grad_adam_workspace_bytes(int64_t rows, int64_t out, int64_t in, size_t elem_size) {
  return static_cast<size_t>(parallel::max_threads()) *
         static_cast<size_t>(block_rows(rows, out, in)) * static_cast<size_t>(in) * elem_size;
}

void linear_grad_adam_step(const KernelArgs& k) {
  if (ungated_inputs(k) == 0) return;  // loss scaling found inf/NaN gradients
  const Tensor& go = k.inputs[0];  // (rows, out)
  const Tensor& x = k.inputs[1];   // (rows, in)
  const Tensor& w = k.inputs[2];   // (out, in)
  const int64_t rows = go.size(0), out = w.size(0), in = w.size(1);
  const double lr = *static_cast<const double*>(k.inputs[5].data_ptr());
  int64_t* step = static_cast<int64_t*>(k.inputs[6].data_ptr());
  *step += 1;
  const AdamCoeffs c = adam_coeffs(k.attrs, lr, *step);
  const int64_t nb = block_rows(rows, out, in);
  const int64_t blocks = (out + nb - 1) / nb;
  // One dW buffer (nb x in) per thread; the workspace was sized for the thread count at
  // planning time, which may be fewer threads than now.
  const size_t buf_bytes = static_cast<size_t>(nb * in) * dtype_size(w.dtype());
  const int threads =
      static_cast<int>(std::min<size_t>(static_cast<size_t>(parallel::max_threads()),
                                        k.workspace_size / std::max<size_t>(buf_bytes, 1)));
  DUET_ASSERT(threads >= 1, "linear_grad_adam_step_: workspace too small");
  detail::dispatch_floating(w.dtype(), "linear_grad_adam_step_", [&](auto tag) {
    using T = decltype(tag);
    using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<const RowMajor> G(static_cast<const T*>(go.data_ptr()), rows, out);
    Eigen::Map<const RowMajor> X(static_cast<const T*>(x.data_ptr()), rows, in);
    T* p = static_cast<T*>(w.data_ptr());
    T* m = static_cast<T*>(k.inputs[3].data_ptr());
    T* v = static_cast<T*>(k.inputs[4].data_ptr());
    T* ws = static_cast<T*>(k.workspace);
    parallel::parallel_for_if(
        blocks > 1, 0, blocks,
        [&](int64_t b0, int64_t b1) {
          for (int64_t b = b0; b < b1; ++b) {
            const int64_t r0 = b * nb, r1 = std::min(out, r0 + nb);
            T* buf = ws + static_cast<int64_t>(parallel::thread_index()) * nb * in;
            if (rows <= kSmallRows) {
              // Few rows (small batches): dW rows are sums of a few scaled rows of x; a plain loop
              // beats a GEMM whose packing costs more than its arithmetic.
              for (int64_t r = r0; r < r1; ++r) {
                T* dst = buf + (r - r0) * in;
                const T* x0 = X.data();
                const T g0 = G(0, r);
#pragma omp simd
                for (int64_t j = 0; j < in; ++j) dst[j] = g0 * x0[j];
                for (int64_t q = 1; q < rows; ++q) {
                  const T gq = G(q, r);
                  const T* xq = X.data() + q * in;
#pragma omp simd
                  for (int64_t j = 0; j < in; ++j) dst[j] += gq * xq[j];
                }
              }
            } else {
              Eigen::Map<RowMajor> dw(buf, r1 - r0, in);
              dw.noalias() = G.middleCols(r0, r1 - r0).transpose() * X;  // rows r0..r1 of dW
            }
            adam_update(p, buf, m, v, r0 * in, r1 * in, r0 * in, c, false);
          }
        },
        threads);
  });
}

}  // namespace duet::cpu_kernels

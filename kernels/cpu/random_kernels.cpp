#include "random_kernels.h"

#include <cmath>
#include <cstring>

#include "core/dtype_dispatch.h"
#include "core/parallel.h"
#include "cpu/elementwise_kernels.h"
#include "duet/random.h"

namespace duet::cpu_kernels {
namespace {

constexpr int64_t kDropoutChunk = 1 << 14;  // elements per generator (fixed: thread-independent)
constexpr int64_t kBitsBlock = 512;         // random words drawn ahead of the vector loop

// A well-mixed seed for chunk `c` of a stream seeded with `seed` (splitmix64 finaliser).
uint64_t chunk_seed(uint64_t seed, uint64_t c) {
  uint64_t z = seed ^ (c * 0xd1b54a32d192ed03ULL + 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

void dropout(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const double p = k.attrs.f("p");
  const uint64_t seed = static_cast<uint64_t>(k.attrs.i("seed"));
  const int64_t n = x.numel();
  const int64_t chunks = (n + kDropoutChunk - 1) / kDropoutChunk;
  // Each element takes 32 random bits r and is kept iff r >= ceil(p * 2^32), i.e. with
  // probability 1 - p (to 2^-32). p == 1 keeps nothing.
  const bool keep_none = p >= 1.0;
  const uint32_t threshold =
      keep_none ? 0 : static_cast<uint32_t>(std::min(std::ceil(p * 4294967296.0), 4294967295.0));
  const double scale_d = keep_none ? 0.0 : 1.0 / (1.0 - p);
  detail::dispatch_floating(x.dtype(), "dropout", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = k.outputs[0].data<T>();
    T* pm = k.outputs[1].data<T>();
    const T scale = static_cast<T>(scale_d);
    if (keep_none) {
      std::memset(py, 0, n * sizeof(T));
      std::memset(pm, 0, n * sizeof(T));
      return;
    }
    parallel::parallel_for_if(n > kParallelGrain, 0, chunks, [&](int64_t lo, int64_t hi) {
      for (int64_t c = lo; c < hi; ++c) {
        Generator gen(chunk_seed(seed, static_cast<uint64_t>(c)));
        uint32_t bits[kBitsBlock];
        const int64_t c1 = std::min(n, (c + 1) * kDropoutChunk);
        for (int64_t i0 = c * kDropoutChunk; i0 < c1; i0 += kBitsBlock) {
          const int64_t len = std::min(kBitsBlock, c1 - i0);
          for (int64_t j = 0; j < len; j += 2) {
            const uint64_t r = gen.next_u64();
            bits[j] = static_cast<uint32_t>(r);
            bits[j + 1] = static_cast<uint32_t>(r >> 32);
          }
          // branch-free and vectorisable: a data-dependent branch mispredicts at p = 0.5
          for (int64_t j = 0; j < len; ++j) {
            const T m = bits[j] >= threshold ? scale : T(0);
            pm[i0 + j] = m;
            py[i0 + j] = px[i0 + j] * m;
          }
        }
      }
    });
  });
}

}  // namespace duet::cpu_kernels

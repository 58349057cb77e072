// CUDA dropout with the CPU kernel's exact mask (kernels/cpu/random_kernels.cpp).
//
// The CPU splits the elements into chunks of 16384, each drawn from its own xoshiro256**
// generator (duet::Generator) seeded with chunk_seed(seed, chunk): element j of a chunk takes
// the low (j even) or high (j odd) 32 bits of the generator's (j / 2)-th output and is kept
// iff those bits are >= ceil(p * 2^32). Running one chunk per thread would be 8192 dependent
// steps, so each chunk is split into 64 sub-streams of 256 elements (128 outputs), one per
// thread: a thread seeds the chunk's generator and jumps it ahead by 128 * k outputs.
//
// The jump uses xoshiro's linearity over GF(2): with P the characteristic polynomial of the
// state transition T (degree 256), T^J = sum_i c_i T^i where x^J mod P = sum_i c_i x^i, so the
// state after J steps is the XOR of the states s, T s, ..., T^255 s selected by the c_i
// (xoshiro's own jump() works this way for J = 2^128). kJumpPoly[k] holds x^(128 k) mod P as
// 256 coefficient bits (word w, bit b: coefficient of x^(64 w + b)). P and the table were
// computed by Berlekamp-Massey on the generator's output and checked against stepping the
// generator and against xoshiro256's published 2^128 jump constant.
#include <algorithm>
#include <cmath>

#include "core/dtype_dispatch.h"
#include "random_kernels.h"
#include "cuda/runtime.h"

namespace duet::cuda_kernels {
namespace {

constexpr int64_t kDropoutChunk = 1 << 14;  // elements per generator (as on the CPU)
constexpr int64_t kSubLen = 256;            // elements per thread
constexpr int64_t kSubs = kDropoutChunk / kSubLen;
static_assert(kSubs == 64, "kJumpPoly has one entry per sub-stream");

__constant__ uint64_t kJumpPoly[kSubs][4] = {
    {0x0000000000000001ULL, 0x0000000000000000ULL, 0x0000000000000000ULL, 0x0000000000000000ULL},
    {0x0000000000000000ULL, 0x0000000000000000ULL, 0x0000000000000001ULL, 0x0000000000000000ULL},
    {0x9d116f2bb0f0f001ULL, 0x0280002bcefd1a5eULL, 0x04b4edcf26259f85ULL, 0x0003c03c3f3ecb19ULL},
    {0xd44069b0585199e1ULL, 0xdb7832822522d514ULL, 0x233bd40637479c68ULL, 0xaa13164889370dd1ULL},
    {0xc7327d130e34b489ULL, 0x81f675e7a4ef7d84ULL, 0x6dd49b656055c9daULL, 0xbe7976372e930435ULL},
    {0xe58b4caebc23ca68ULL, 0x8e02265ba4030bcaULL, 0x429441976eedaf54ULL, 0x1e0f6d28d65b46a7ULL},
    {0x1546163553a8bf4eULL, 0xdf8408bef0866758ULL, 0x7eca03f4f6b1e60bULL, 0x8cff57fe55c5f06dULL},
    {0x2fcd51848f552bebULL, 0x6afba5cb5903bc51ULL, 0x2dac6b013273e86dULL, 0x802347578e817300ULL},
    {0x060106bbbe4ff028ULL, 0x1be1d76854ddda93ULL, 0x8456faeb6230d984ULL, 0x65507439cf43f0e2ULL},
    {0x013795bd7de40cfcULL, 0xedf285970fc515bcULL, 0x1788ac14ccb8ef2dULL, 0x45b69f8e57efcb7bULL},
    {0x9d5a8918f488052aULL, 0xbf212ebaceea061aULL, 0xde401c7651ed7ea9ULL, 0x705bd66c3b2b58deULL},
    {0xe0d5b0c3e733ea9bULL, 0x1d27bc5eb31ac73bULL, 0x1021caac1555de45ULL, 0x5c807dfb36e7a1b0ULL},
    {0x2f121b2b79c58914ULL, 0xdca1a0f9e89ab189ULL, 0x0dd3ee7079a6dd3fULL, 0xbaaf47861466c19fULL},
    {0x6fbd08f96d6b5e0eULL, 0xd43f3ad72650730cULL, 0xccac98e35d1c3e0dULL, 0x679b2a5664c400bdULL},
    {0xd1d35253d56559ffULL, 0x9e6507a719b531ebULL, 0x3abacfbce94448feULL, 0xdc997ccb62e3d354ULL},
    {0x37889e34cd629398ULL, 0x9c063c3d5d869784ULL, 0xa782e3e0fb8108cbULL, 0x21cf0e0d14d79512ULL},
    {0x876c2301125a85c0ULL, 0x15fe822628b16f04ULL, 0x3c8ca36ec9a74fa7ULL, 0x51edef31819e01ffULL},
    {0x78e0234ef7d71136ULL, 0x5c924b457786b3c3ULL, 0x7b09dec902a5278cULL, 0x8f661db9c1ada71dULL},
    {0xf3f6d08dbec2f0b5ULL, 0xa7e71d8a120470feULL, 0x3c4478b7ec545bc7ULL, 0x3a49176ee90676c1ULL},
    {0x4be679f7ba2b8726ULL, 0xf8a9afff15cdb8abULL, 0xec44442b5aea3770ULL, 0x911624f15531abd8ULL},
    {0x1ec5f22cf9282570ULL, 0x7a35edaef9692623ULL, 0x73a4cf99b14b622bULL, 0x93b8c505f25cb0beULL},
    {0x6161fd81a70b38f0ULL, 0x5fa57fede971b18bULL, 0x4c61c820d61b0f31ULL, 0x188d149df7df0639ULL},
    {0x0573f5e43baf0c0aULL, 0x25dd6ea130acaa3eULL, 0x7fa2d54e9872d80dULL, 0x04153a2acc6b090fULL},
    {0x76efaebc365ac043ULL, 0x9798454f9b3634f1ULL, 0xd9baa0d4eac13672ULL, 0xd0a7403d6cb90a79ULL},
    {0x195f824bdd4cd00aULL, 0xb162081eba5f7a35ULL, 0x9fead7e44eafdb96ULL, 0x3611b9c8607b74a9ULL},
    {0x6f0f597a39a6a3e1ULL, 0x00e2b08f15a05fc3ULL, 0x058a869875a07170ULL, 0x520adffc0e521277ULL},
    {0xb8763f5d93c0d709ULL, 0x1becba890be71139ULL, 0x22dad55ac2252366ULL, 0xa356f53e02c2c991ULL},
    {0x234ffa517c578e90ULL, 0xa4c2c80b0eb35e2fULL, 0x0fec844f600d88bcULL, 0x8bbf8dbebaeb425cULL},
    {0xc1c3da7f588e1172ULL, 0xb0478674c36c9e18ULL, 0xac2c9fc00bd5bcaaULL, 0xb33bbb70d42480d0ULL},
    {0x686ea7c179f8f390ULL, 0x450605cf801e2cacULL, 0xf75b8005c29c779dULL, 0xc048f06be2361690ULL},
    {0x0357b77957de437fULL, 0xa502f2cb45e45865ULL, 0x97b8f9bdbc62f61cULL, 0xdabfebe24293e393ULL},
    {0xf4b8dffb2e139476ULL, 0x5924d983a4a70affULL, 0x245354db81a9fbd5ULL, 0x5617663166e23f53ULL},
    {0xd7f4e8da7e228b85ULL, 0xd638d47ec5bcf595ULL, 0xaa6eb691cbf9ce10ULL, 0x0f41cce3698fad39ULL},
    {0xe5c94efd78613fe1ULL, 0xb04adffa5d7fce08ULL, 0x039617e9caa4924cULL, 0x13e9fb628716de34ULL},
    {0x3c07937f3896a086ULL, 0x2779f2793d5e0421ULL, 0x813a072f65fc3e9bULL, 0x8d7575d606822f53ULL},
    {0xefa90c2b41fbd2e9ULL, 0x2a608a380e531cb5ULL, 0x732e63dd0adba1a9ULL, 0xe23602e984711cd1ULL},
    {0x3d15ed410790c557ULL, 0xe0e1879f8696e349ULL, 0x0ea7ffba4df42f39ULL, 0x69f71727c4f86832ULL},
    {0x91ba8b340f38ecb4ULL, 0x0d57ec3d96fde860ULL, 0xd2ecfbe406aa126bULL, 0xfe072f241cc37971ULL},
    {0xefdb3f40e71ee4f3ULL, 0x36dbd2554f30e45eULL, 0xb126c3b381b83a42ULL, 0x819b1d3455275f7eULL},
    {0xf819f7b95ec02523ULL, 0x6cb9eb0252e42728ULL, 0x39c5ec21f137a8baULL, 0x2b17fa405484479eULL},
    {0xaf056e9f5d528839ULL, 0x86e35ae447b22aaaULL, 0x4713afd93b637af0ULL, 0xb7b79be926c70e9cULL},
    {0x0fd49563cfb5b6b3ULL, 0xe226fc1e52b7f5efULL, 0x0fad8a21ee440e38ULL, 0xa0f13650b48835aaULL},
    {0x56a444547a838fc1ULL, 0x6fc47060f5525186ULL, 0x7f2e18e3e86a6e54ULL, 0x1022d1f61421c28aULL},
    {0x29e5f4ffc46f5544ULL, 0xe48a47343108fb03ULL, 0xee5478235d6a02e7ULL, 0x10c18b3f36f0aa06ULL},
    {0x52c5d1508aef2c7eULL, 0x5c9ba70f2cd3f92eULL, 0x6a2cd3f2f2494b51ULL, 0x0e9420642c021775ULL},
    {0x8a1910f792100e52ULL, 0x53c964f1e6d4ec31ULL, 0x817deb9fcfb229a8ULL, 0x8151369b1577923dULL},
    {0xfbe1815e603d450cULL, 0xa880d9c2f558987bULL, 0x40ae8e720f68d2caULL, 0x86bbb9d017aaf539ULL},
    {0x3bb0af77bde71fe7ULL, 0x23dc037868c42ed4ULL, 0xcf2720b07a700ce6ULL, 0xfcae79c0be055f8aULL},
    {0xa82bd707a5c0bbcdULL, 0x557d6bd4a66701d2ULL, 0x27e81077d42d6234ULL, 0x70b2bd03010451a7ULL},
    {0xcf633b490348d1fbULL, 0x4890be9db125470dULL, 0x567811e0fdd80e39ULL, 0x6b9df8a07500da5fULL},
    {0x96001ec856ecad1eULL, 0x02a2b752ef9b18efULL, 0xe1a18545ee2463eeULL, 0xffa54b37520d6ef3ULL},
    {0x0601f257939573c0ULL, 0x51c2334230d93b75ULL, 0x4d8fc220a7892987ULL, 0xae91e41f540df398ULL},
    {0x8f66f19f35a6f5c7ULL, 0x07374ac3e72a26d0ULL, 0x9f496a85c61485ffULL, 0xcfd30a2e551a56beULL},
    {0xfbbde93ee44ede1bULL, 0xd90510dac06f4d0cULL, 0x0fcbc4431b8caa67ULL, 0x4e1aed52f7ae1eccULL},
    {0xb4ee202b89c858d1ULL, 0xf0cbf71586da6e65ULL, 0xaa98651848063422ULL, 0x2e67669a24b37880ULL},
    {0xa3865410b4d4ba3eULL, 0x650b8d50e52a896cULL, 0xf6c889fd27918cdaULL, 0xcdf1cb8626150eeeULL},
    {0x65d0b5d6d3a4d7d0ULL, 0x1d1d60bcd2d09eb4ULL, 0xc9337102457d65f7ULL, 0xff41296d258343e3ULL},
    {0x018a52cdeb57b661ULL, 0xf390f2cc099d9d25ULL, 0xead024ec19ef7d05ULL, 0x8386c7635992da62ULL},
    {0xd3eea4a28c496a02ULL, 0xfa2172b4ada58cb8ULL, 0x26ba5c2581486c35ULL, 0x3e56dddb50694038ULL},
    {0x6be85009e37ad998ULL, 0xed7cd0ed4a1fd2d5ULL, 0x4dcecaf20a3f2853ULL, 0xc8646de45895f98aULL},
    {0xf9e1520a24777a2aULL, 0x105ab923b1acbf10ULL, 0x15a948a05722fa9fULL, 0x54799b7c19c8de2eULL},
    {0xeef4f2282ee35316ULL, 0x4826db8ec27c5052ULL, 0x5dbc41bdb7564373ULL, 0xb28e002faf8a035dULL},
    {0x8a7ad878d7f15ec3ULL, 0xdf24d1a351ed9b58ULL, 0x9e99e0af7e21922cULL, 0x143fbcd91cb71dedULL},
    {0x02ba02075e13c1afULL, 0xd7ee3debdd40aa14ULL, 0x94fdea9aa6f17315ULL, 0xa08f437f54edb7a9ULL},
};

__host__ __device__ inline uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

// duet::Generator (include/duet/random.h): splitmix64 seeding, xoshiro256** outputs.
struct Xoshiro {
  uint64_t s[4];

  __host__ __device__ void seed_with(uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; ++i) {
      uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      s[i] = z ^ (z >> 31);
    }
  }
  __host__ __device__ uint64_t next() {
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
  // Advances by J outputs, given x^J mod P (see the file comment).
  __host__ __device__ void jump(const uint64_t poly[4]) {
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (int w = 0; w < 4; ++w) {
      for (int b = 0; b < 64; ++b) {
        if ((poly[w] >> b) & 1) {
          a0 ^= s[0];
          a1 ^= s[1];
          a2 ^= s[2];
          a3 ^= s[3];
        }
        next();
      }
    }
    s[0] = a0;
    s[1] = a1;
    s[2] = a2;
    s[3] = a3;
  }
};

// The CPU's chunk_seed: a well-mixed seed for chunk c (splitmix64 finaliser).
__host__ __device__ inline uint64_t chunk_seed(uint64_t seed, uint64_t c) {
  uint64_t z = seed ^ (c * 0xd1b54a32d192ed03ULL + 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// One thread per (chunk, sub-stream). y may alias x (dropout's inplace_input).
// The seed is `seed`, or *seed_at when seed_at is set (graph mode: written before each replay).
template <class T>
__global__ void dropout_kernel(const T* x, T* y, T* mask, int64_t n, uint64_t seed,
                               const uint64_t* seed_at, uint32_t threshold, T scale) {
  const int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int64_t c = g / kSubs, k = g - c * kSubs;
  const int64_t i0 = c * kDropoutChunk + k * kSubLen;
  if (i0 >= n) return;
  const int64_t i1 = n < i0 + kSubLen ? n : i0 + kSubLen;
  if (seed_at) seed = *seed_at;
  Xoshiro gen;
  gen.seed_with(chunk_seed(seed, static_cast<uint64_t>(c)));
  if (k > 0) {
    const uint64_t poly[4] = {kJumpPoly[k][0], kJumpPoly[k][1], kJumpPoly[k][2], kJumpPoly[k][3]};
    gen.jump(poly);
  }
  for (int64_t i = i0; i < i1; i += 2) {
    const uint64_t r = gen.next();
    const T m0 = static_cast<uint32_t>(r) >= threshold ? scale : T(0);
    mask[i] = m0;
    y[i] = x[i] * m0;
    if (i + 1 < i1) {
      const T m1 = static_cast<uint32_t>(r >> 32) >= threshold ? scale : T(0);
      mask[i + 1] = m1;
      y[i + 1] = x[i + 1] * m1;
    }
  }
}

}  // namespace

void dropout(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const double p = k.attrs.f("p");
  const uint64_t seed = k.device_seed ? 0 : static_cast<uint64_t>(k.attrs.i("seed"));
  const int64_t n = x.numel();
  if (n == 0) return;
  const cudaStream_t stream = cuda_backend::stream_for(x);
  // As on the CPU: kept iff the 32 random bits are >= ceil(p * 2^32); p == 1 keeps nothing.
  const bool keep_none = p >= 1.0;
  const uint32_t threshold =
      keep_none ? 0 : static_cast<uint32_t>(std::min(std::ceil(p * 4294967296.0), 4294967295.0));
  const double scale_d = keep_none ? 0.0 : 1.0 / (1.0 - p);
  if (keep_none) {
    const size_t bytes = n * dtype_size(x.dtype());
    DUET_CUDA_CHECK(cudaMemsetAsync(k.outputs[0].data_ptr(), 0, bytes, stream));
    DUET_CUDA_CHECK(cudaMemsetAsync(k.outputs[1].data_ptr(), 0, bytes, stream));
    return;
  }
  const int64_t chunks = (n + kDropoutChunk - 1) / kDropoutChunk;
  const int64_t threads = chunks * kSubs;
  const int64_t blocks = (threads + cuda_backend::kThreads - 1) / cuda_backend::kThreads;
  DUET_CHECK(blocks <= 0x7fffffff, "dropout: ", n, " elements exceed the CUDA grid limit");
  detail::dispatch_floating(x.dtype(), "dropout", [&](auto tag) {
    using T = decltype(tag);
    dropout_kernel<T><<<static_cast<unsigned>(blocks), cuda_backend::kThreads, 0, stream>>>(
        static_cast<const T*>(x.data_ptr()), static_cast<T*>(k.outputs[0].data_ptr()),
        static_cast<T*>(k.outputs[1].data_ptr()), n, seed, k.device_seed, threshold,
        static_cast<T>(scale_d));
    DUET_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace duet::cuda_kernels

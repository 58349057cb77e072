// duet/simd.h: the instruction set of the CPU kernels, detected once with cpuid/xgetbv, and the
// path of the bfloat16 matrix products (AMX tiles, AVX-512 BF16, plain C++).
#include "duet/simd.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "duet/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace duet::simd {
namespace {

bool detect_avx512() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  const bool osxsave = (c >> 27) & 1u;
  if (!osxsave) return false;
  // XCR0: the OS saves SSE (bit 1), AVX (2), opmask (5), ZMM0-15 upper halves (6), ZMM16-31 (7).
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & 0xE6u) != 0xE6u) return false;
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid_count(7, 0, a, b, c, d);
  const bool f = (b >> 16) & 1u, dq = (b >> 17) & 1u, bw = (b >> 30) & 1u, vl = (b >> 31) & 1u;
  return f && dq && bw && vl;
#else
  return false;
#endif
}

// AVX512_BF16 (cpuid leaf 7 subleaf 1, EAX bit 5) on top of the AVX-512 above.
bool detect_avx512_bf16() {
#if defined(__x86_64__) || defined(__i386__)
  if (!detect_avx512()) return false;
  unsigned a = 0, b = 0, c = 0, d = 0;
  __cpuid_count(7, 0, a, b, c, d);
  if (a < 1) return false;  // no subleaf 1
  __cpuid_count(7, 1, a, b, c, d);
  return (a >> 5) & 1u;
#else
  return false;
#endif
}

// AMX-BF16 and AMX-TILE (cpuid leaf 7, EDX bits 22 and 24), the tile state enabled by the OS
// (XCR0 bits 17 XTILECFG and 18 XTILEDATA) and Linux's permission for this process to use it
// (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA): without it the first tile instruction
// faults). Asked once; a refusal leaves AVX-512 BF16 the best path.
bool detect_amx() {
#if defined(__linux__) && defined(__x86_64__)
  if (!detect_avx512_bf16()) return false;
  unsigned a = 0, b = 0, c = 0, d = 0;
  __cpuid_count(7, 0, a, b, c, d);
  const bool amx_bf16 = (d >> 22) & 1u, amx_tile = (d >> 24) & 1u;
  if (!amx_bf16 || !amx_tile) return false;
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & 0x60000u) != 0x60000u) return false;
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

Isa default_isa() {
  Isa isa = best_isa();
  if (const char* e = std::getenv("DUET_CPU_ISA"); e && std::strcmp(e, "generic") == 0)
    isa = Isa::generic;
  return isa;
}

// -1: no override; else the Isa's value.
std::atomic<int> g_override{-1};
std::atomic<int> g_bf16_override{-1};

// An Intel core runs VDPBF16PS at half its fp32 FMA rate (measured on Sapphire Rapids: 85 against
// 175 GFLOP/s per core), so there the plain path (bfloat16 widened exactly, then the fp32 FMA
// kernel) beats avx512_bf16; AMD's Zen 4 runs it at the FMA rate, twice the multiply-adds.
bool vendor_is_amd() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return false;
  return b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u;  // "AuthenticAMD"
#else
  return false;
#endif
}

// The fastest path available: amx, else (avx512_bf16 on AMD, plain elsewhere). DUET_CPU_ISA=
// generic caps it at plain (no AVX-512 kernels at all); DUET_BF16_PATH=plain|avx512_bf16|amx
// picks any path up to the cap (a higher or unknown name is ignored).
Bf16Path default_bf16_path() {
  Bf16Path cap = best_bf16_path();
  if (const char* e = std::getenv("DUET_CPU_ISA"); e && std::strcmp(e, "generic") == 0)
    cap = Bf16Path::plain;
  Bf16Path p = cap == Bf16Path::avx512_bf16 && !vendor_is_amd() ? Bf16Path::plain : cap;
  if (const char* e = std::getenv("DUET_BF16_PATH")) {
    for (Bf16Path q : {Bf16Path::plain, Bf16Path::avx512_bf16, Bf16Path::amx})
      if (std::strcmp(e, bf16_path_name(q)) == 0 && q <= cap) p = q;
  }
  return p;
}

}  // namespace

const char* isa_name(Isa isa) {
  return isa == Isa::avx512 ? "avx512" : "generic";
}

Isa best_isa() {
  static const Isa isa = detect_avx512() ? Isa::avx512 : Isa::generic;
  return isa;
}

Isa kernel_isa() {
  const int o = g_override.load(std::memory_order_relaxed);
  if (o >= 0) return static_cast<Isa>(o);
  static const Isa isa = default_isa();
  return isa;
}

void set_kernel_isa(Isa isa) {
  DUET_CHECK(isa == Isa::generic || best_isa() == Isa::avx512,
             "simd::set_kernel_isa: ", isa_name(isa), " asked for, but this CPU supports only ",
             isa_name(best_isa()));
  g_override.store(static_cast<int>(isa), std::memory_order_relaxed);
}

void reset_kernel_isa() {
  g_override.store(-1, std::memory_order_relaxed);
}

const char* bf16_path_name(Bf16Path path) {
  switch (path) {
    case Bf16Path::amx:
      return "amx";
    case Bf16Path::avx512_bf16:
      return "avx512_bf16";
    case Bf16Path::plain:
      break;
  }
  return "plain";
}

Bf16Path best_bf16_path() {
  static const Bf16Path path = detect_amx()           ? Bf16Path::amx
                               : detect_avx512_bf16() ? Bf16Path::avx512_bf16
                                                      : Bf16Path::plain;
  return path;
}

Bf16Path bf16_path() {
  const int o = g_bf16_override.load(std::memory_order_relaxed);
  if (o >= 0) return static_cast<Bf16Path>(o);
  static const Bf16Path path = default_bf16_path();
  return path;
}

void set_bf16_path(Bf16Path path) {
  DUET_CHECK(path <= best_bf16_path(), "simd::set_bf16_path: ", bf16_path_name(path),
             " asked for, but this CPU (and OS) supports at most ",
             bf16_path_name(best_bf16_path()));
  g_bf16_override.store(static_cast<int>(path), std::memory_order_relaxed);
}

void reset_bf16_path() {
  g_bf16_override.store(-1, std::memory_order_relaxed);
}

}  // namespace duet::simd

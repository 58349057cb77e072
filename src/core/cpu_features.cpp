// duet/simd.h: the instruction set of the CPU kernels, detected once with cpuid/xgetbv.
#include "duet/simd.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "duet/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
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

Isa default_isa() {
  Isa isa = best_isa();
  if (const char* e = std::getenv("DUET_CPU_ISA"); e && std::strcmp(e, "generic") == 0)
    isa = Isa::generic;
  return isa;
}

// -1: no override; else the Isa's value.
std::atomic<int> g_override{-1};

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

}  // namespace duet::simd

// The first include of every kernels/cpu/nchwc_*_avx512.cpp: the AVX-512 intrinsics and the
// fixed-width integers, nothing with inline functions of its own (nchwc_common.h's rules for
// these files).
//
// GCC 12 warns "'__Y' may be used uninitialized" inside its own AVX-512 intrinsics
// (_mm512_max_ps, _mm512_unpacklo_ps, _mm512_cvtps_pd, ...: their _mm512_undefined_ps()
// operand is a self-initialised variable), at the intrinsics header's location, so the
// pragmas come before <immintrin.h>. Fixed in GCC 13 (GCC bug 105593).
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

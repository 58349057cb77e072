// Which instruction set duet's CPU kernels use, chosen at run time.
//
//   if (duet::simd::kernel_isa() == duet::simd::Isa::avx512) { ... }  // the AVX-512 kernels run
//   duet::simd::set_kernel_isa(duet::simd::Isa::generic);  // force the plain C++ kernels
//   duet::simd::reset_kernel_isa();                        // back to the default
//
// The kernels that have an AVX-512 path (the blocked-layout convolutions and pooling of graph
// inference, kernels/nchwc_kernels.h) run it when the CPU and the OS support AVX-512F, BW, DQ
// and VL (cpuid and xgetbv, read once) and nothing lowered the choice; otherwise they run
// their generic path, the same arithmetic in plain C++. So one binary runs correctly on a CPU
// without AVX-512. The default is the best the CPU supports, lowered by the environment
// variable DUET_CPU_ISA=generic (read once, at the first query); set_kernel_isa overrides both
// for the whole process (tests force each path and compare them).
#pragma once

namespace duet::simd {

enum class Isa { generic, avx512 };

// "generic" / "avx512".
const char* isa_name(Isa isa);
// The best instruction set this CPU (and its OS) supports.
Isa best_isa();
// What the kernels use now: set_kernel_isa's choice, else the default above.
Isa kernel_isa();
// Forces `isa` for every kernel from the next call on; asking for more than best_isa() throws
// duet::Error naming both.
void set_kernel_isa(Isa isa);
// Drops set_kernel_isa's choice.
void reset_kernel_isa();

// The bfloat16 matrix products (kernels/cpu/gemm_lowp.h: linear, matmul and the convolutions
// in bfloat16) have three paths: AMX tiles (TDPBF16PS), AVX-512 BF16 (VDPBF16PS) and plain
// C++, the same float32-accumulated products (the order of the additions differs, so the bits
// may). amx needs AMX-BF16 and the tile state, which Linux grants a process on request
// (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA), asked once at the first query);
// avx512_bf16 needs AVX512_BF16 besides AVX-512. The default is the fastest available: amx;
// else plain on Intel, whose cores run VDPBF16PS at half their fp32 FMA rate (the plain path
// widens bfloat16 exactly and runs the fp32 FMA kernel), avx512_bf16 on AMD. DUET_CPU_ISA=generic
// caps it at plain; DUET_BF16_PATH=plain|avx512_bf16|amx picks any path up to the cap (read
// once). docs/mixed_precision.md has the measured speeds.
enum class Bf16Path { plain, avx512_bf16, amx };
// "plain" / "avx512_bf16" / "amx".
const char* bf16_path_name(Bf16Path path);
Bf16Path best_bf16_path();
Bf16Path bf16_path();
// Forces `path` from the next call on; above best_bf16_path() throws duet::Error naming both.
void set_bf16_path(Bf16Path path);
void reset_bf16_path();

}  // namespace duet::simd

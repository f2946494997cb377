// Run-time choice of the CPU kernels. The binary is built for baseline x86-64 so it runs everywhere; hot
// kernels have variants compiled one function at a time for a newer instruction set (avx2_target.h,
// avx512_target.h) and pick one here, once per call, by the tier native/core/cpu_isa.h decided at load
// (GPUFORMER_CPU_ISA / GPUFORMER_CPU_BASELINE=1 cap it for testing).
#pragma once

#include "core/cpu_isa.h"

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace gf {
namespace cpu {

inline CpuTier cpu_tier() { return cpu_isa().active.tier; }

// AVX2 + FMA + F16C: the level most kernels have a variant for.
inline bool use_avx2() { return cpu_tier() == CpuTier::Avx2 || cpu_tier() == CpuTier::Avx512; }

// AVX-512 F/BW/VL/DQ.
inline bool use_avx512() { return cpu_tier() == CpuTier::Avx512; }

// AArch64 Advanced SIMD.
inline bool use_neon() { return cpu_tier() == CpuTier::Neon; }

// Arm int8 dot products (SDOT).
inline bool use_dotprod() { return cpu_isa().active.dotprod; }

// int8 dot products (vpdpbusd): AVX512-VNNI at the avx512 tier, AVX-VNNI (VEX) at the avx2 tier.
inline bool use_vnni() { return cpu_isa().active.vnni; }

// AVX512-BF16 dot products (vdpbf16ps).
inline bool use_avx512_bf16() { return cpu_isa().active.bf16; }

// While alive, this thread's SSE/AVX arithmetic flushes denormal inputs and results to zeros of their sign
// (MXCSR's DAZ and FTZ), as AVX512-BF16's dot product always does; the previous mode comes back after. The
// bf16 matmul tiles run under it (linear_kernels.h). Elsewhere (portable builds) it does nothing: code that
// needs the flush there does it explicitly.
class FlushDenormals {
 public:
#if defined(__x86_64__)
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kDaz | kFtz); }
  ~FlushDenormals() { _mm_setcsr(saved_); }

 private:
  static constexpr unsigned kDaz = 1u << 6, kFtz = 1u << 15;
  unsigned saved_;
#else
  FlushDenormals() = default;
#endif
 public:
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;
};

}  // namespace cpu
}  // namespace gf

// The AVX-512 code paths (the avx512 tier of native/core/cpu_isa.h): F + BW + VL + DQ, with the AVX2 + FMA +
// F16C set they include. Like avx2_target.h, kernels marked with these attributes are compiled for the newer
// instruction set one function at a time and are only called when simd.h says the tier is active:
//   GF_AVX512        use_avx512()
//   GF_AVX512_VNNI   use_avx512() && use_vnni()        (vpdpbusd on zmm)
//   GF_AVX512_BF16   use_avx512() && use_avx512_bf16() (vdpbf16ps)
//   GF_AVX2_VNNI     use_avx2() && use_vnni() at the avx2 tier (AVX-VNNI: vpdpbusd on ymm, VEX encoded)
// Off x86-64 none of this exists (GF_HAVE_AVX512_PATH undefined).
#pragma once

#include "cpu/avx2_target.h"

#if defined(GF_HAVE_AVX2_PATH)
// GCC 12 warns "__Y (may be) used uninitialized" inside its own AVX-512 intrinsics (their _mm512_undefined_*
// pass-through operands): a false positive, silenced for the files that use them.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#define GF_HAVE_AVX512_PATH 1
#define GF_AVX512_ISA "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq"
#define GF_AVX512 __attribute__((target(GF_AVX512_ISA)))
#define GF_AVX512_VNNI __attribute__((target(GF_AVX512_ISA ",avx512vnni")))
#define GF_AVX512_BF16 __attribute__((target(GF_AVX512_ISA ",avx512bf16")))
#define GF_AVX2_VNNI __attribute__((target("avx2,fma,f16c,avxvnni")))

namespace gf {
namespace cpu {

// Sum of the sixteen lanes, in a fixed order: the two 256-bit halves added, then hsum(__m256).
GF_AVX512 inline float hsum(__m512 v) {
  return hsum(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
}

}  // namespace cpu
}  // namespace gf
#endif

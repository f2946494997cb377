// The AVX2 + FMA + F16C code paths. The binary is built for baseline x86-64 so that it loads everywhere;
// kernels marked GF_AVX2 are compiled for the newer instruction set one function at a time and chosen at
// run time by use_avx2() (simd.h). Off x86-64, GF_HAVE_AVX2_PATH is undefined and only the portable
// paths exist.
#pragma once

#if defined(__x86_64__)
#include <immintrin.h>
#define GF_HAVE_AVX2_PATH 1
#define GF_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace gf {
namespace cpu {

// Sum of the four lanes.
GF_AVX2 inline float hsum(__m128 s) {
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Sum of the eight lanes.
GF_AVX2 inline float hsum(__m256 v) {
  return hsum(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)));
}

}  // namespace cpu
}  // namespace gf
#endif

// GEMM micro-kernels (gemm_kernel.h): templates over the tile height MR, instantiated for 1..6 rows, in a
// portable and an AVX2/FMA flavor.
#include "cpu/gemm_kernel.h"

#include <utility>

#include "cpu/simd.h"

#include "cpu/avx2_target.h"

namespace gf {
namespace cpu {
namespace {

// Writes a finished MR × 16 tile held in memory to c (only nr columns exist there).
template <int MR>
inline void store_tile(const float (&acc)[MR][kGemmNR], float* c, int64_t ldc, int nr, bool accumulate,
                       const float* bias) {
  for (int i = 0; i < MR; i++) {
    float* ci = c + i * ldc;
    for (int j = 0; j < nr; j++) ci[j] = acc[i][j] + (accumulate ? ci[j] : bias ? bias[j] : 0.0f);
  }
}

// ------------------------------------------------------------------------------------------------ portable
template <int MR>
void tile_portable(int64_t kc, const float* a, int64_t lda, const float* bp, float* c, int64_t ldc, int nr,
                   bool accumulate, const float* bias) {
  float acc[MR][kGemmNR] = {};
  for (int64_t k = 0; k < kc; k++) {
    const float* b = bp + k * kGemmNR;
    for (int i = 0; i < MR; i++) {
      const float ai = a[i * lda + k];
      for (int j = 0; j < kGemmNR; j++) acc[i][j] += ai * b[j];
    }
  }
  store_tile<MR>(acc, c, ldc, nr, accumulate, bias);
}

// ---------------------------------------------------------------------------------------------------- AVX2
#ifdef GF_HAVE_AVX2_PATH
template <int MR>
GF_AVX2 void tile_avx2(int64_t kc, const float* a, int64_t lda, const float* bp, float* c, int64_t ldc, int nr,
                       bool accumulate, const float* bias) {
  __m256 lo[MR], hi[MR];  // columns 0..7 and 8..15 of each row
#pragma GCC unroll 6
  for (int i = 0; i < MR; i++) lo[i] = hi[i] = _mm256_setzero_ps();
  const float* rows[MR];
#pragma GCC unroll 6
  for (int i = 0; i < MR; i++) rows[i] = a + i * lda;
  for (int64_t k = 0; k < kc; k++) {
    const __m256 b0 = _mm256_load_ps(bp + k * kGemmNR);
    const __m256 b1 = _mm256_load_ps(bp + k * kGemmNR + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
      const __m256 ai = _mm256_broadcast_ss(rows[i] + k);
      lo[i] = _mm256_fmadd_ps(ai, b0, lo[i]);
      hi[i] = _mm256_fmadd_ps(ai, b1, hi[i]);
    }
  }
  if (nr == kGemmNR) {
    __m256 base_lo = _mm256_setzero_ps(), base_hi = _mm256_setzero_ps();
    if (!accumulate && bias) {
      base_lo = _mm256_loadu_ps(bias);
      base_hi = _mm256_loadu_ps(bias + 8);
    }
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
      float* ci = c + i * ldc;
      if (accumulate) {
        _mm256_storeu_ps(ci, _mm256_add_ps(lo[i], _mm256_loadu_ps(ci)));
        _mm256_storeu_ps(ci + 8, _mm256_add_ps(hi[i], _mm256_loadu_ps(ci + 8)));
      } else {
        _mm256_storeu_ps(ci, _mm256_add_ps(lo[i], base_lo));
        _mm256_storeu_ps(ci + 8, _mm256_add_ps(hi[i], base_hi));
      }
    }
    return;
  }
  // Every loop over lo/hi is unrolled: a variable index would make the compiler keep them in memory.
  float acc[MR][kGemmNR];
#pragma GCC unroll 6
  for (int i = 0; i < MR; i++) {
    _mm256_storeu_ps(acc[i], lo[i]);
    _mm256_storeu_ps(acc[i] + 8, hi[i]);
  }
  store_tile<MR>(acc, c, ldc, nr, accumulate, bias);
}
#endif

template <template <int> class Kernel, int... MR>
GemmKernels make_kernels(std::integer_sequence<int, MR...>) {
  GemmKernels k{};
  ((k.tile[MR + 1] = Kernel<MR + 1>::fn), ...);
  return k;
}

template <int MR>
struct Portable {
  static constexpr GemmMicroKernel fn = tile_portable<MR>;
};
#ifdef GF_HAVE_AVX2_PATH
template <int MR>
struct Avx2 {
  static constexpr GemmMicroKernel fn = tile_avx2<MR>;
};
#endif

}  // namespace

const GemmKernels& gemm_kernels() {
  static const GemmKernels portable = make_kernels<Portable>(std::make_integer_sequence<int, kGemmMR>());
#ifdef GF_HAVE_AVX2_PATH
  static const GemmKernels avx2 = make_kernels<Avx2>(std::make_integer_sequence<int, kGemmMR>());
  if (use_avx2()) return avx2;
#endif
  return portable;
}

}  // namespace cpu
}  // namespace gf

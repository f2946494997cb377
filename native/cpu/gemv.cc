// Matmul for a few rows of x (decode, short prompts, small embedding batches): every weight row is read in
// place, with no packing, and meets all M rows of x while it is in L1. Parallel over weight rows.
//   f32/f16/bf16 weights (AVX2): register tiles of 3 x rows × 4 weight rows, f16 converted with F16C and bf16
//     with a shift, in registers; elsewhere plain dot products on a converted row.
//   Q8_0/Q4_0/Q4_1 weights: x quantized once to 8-bit blocks, then integer block dot products (quant.h).
#include <algorithm>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/convert.h"
#include "cpu/gemm.h"
#include "cpu/quant.h"
#include "cpu/simd.h"

#include "cpu/avx2_target.h"

namespace gf {
namespace cpu {
namespace {

constexpr int kRowGroup = 4;  // x rows per pass over a weight row

// Rows of w per parallel chunk: enough work (~16k weights) that a chunk outweighs handing it out.
int64_t row_grain(int64_t K) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(K, 1)); }

// ------------------------------------------------------------------------------------------------ portable
// res[r] = w_row · x_r for r < rows (the row group's x rows are x + r * K): the weight row is converted to
// f32 first (a thread-local row buffer), then plain dot products.
void dot_portable(const void* w, DType w_dtype, const float* x, int64_t K, int rows, float* res) {
  thread_local std::vector<float> row;
  if (static_cast<int64_t>(row.size()) < K) row.resize(K);
  to_f32(w, w_dtype, row.data(), K);
  for (int r = 0; r < rows; r++) {
    const float* xr = x + r * K;
    float acc = 0;
    for (int64_t k = 0; k < K; k++) acc += row[k] * xr[k];
    res[r] = acc;
  }
}

// ---------------------------------------------------------------------------------------------------- AVX2
#ifdef GF_HAVE_AVX2_PATH
namespace avx2 {

template <DType WT>
GF_AVX2 inline __m256 load8(const void* w, int64_t k) {
  if constexpr (WT == DType::F32) {
    return _mm256_loadu_ps(static_cast<const float*>(w) + k);
  } else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + k));
    if constexpr (WT == DType::F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));  // bf16
  }
}

template <DType WT>
inline float load1(const void* w, int64_t k) {
  if constexpr (WT == DType::F32) return static_cast<const float*>(w)[k];
  if constexpr (WT == DType::F16) return f16_to_f32(static_cast<const uint16_t*>(w)[k]);
  return bf16_to_f32(static_cast<const uint16_t*>(w)[k]);
}

// One tile of out: R rows of x against C weight rows, R·C accumulators over K (12 of the 16 ymm registers
// at 3 × 4, plus the R x vectors and one weight vector). Each weight vector is converted once and meets R
// rows; each x vector meets C rows: 3 + 4 loads per 12 FMAs keeps the FMA units, not the loads, the limit,
// and no packing is needed. out[r * ldo + c] = x_r · w_c (+ bias[c]).
//
// `next` (may be null) is the next tile's first weight row: its C rows are prefetched alongside, so that
// the weights stream from DRAM while this tile computes (the hardware prefetcher alone falls behind on
// four interleaved row streams). Into L2: in L1 they would evict the x rows this tile reads.
template <DType WT, int R, int C>
GF_AVX2 void dot_tile(const void* w, const float* x, int64_t K, const float* bias, float* out, int64_t ldo,
                      const void* next) {
  const void* wr[C];
#pragma GCC unroll 4
  for (int c = 0; c < C; c++) wr[c] = element_ptr(w, WT, c * K);
  constexpr int64_t kBytes = WT == DType::F32 ? 4 : 2;  // per weight element
  const char* pf[4] = {};
  if (next) {
    for (int c = 0; c < 4; c++) pf[c] = static_cast<const char*>(element_ptr(next, WT, c * K));
  }
  __m256 acc[R][C];
#pragma GCC unroll 12
  for (int i = 0; i < R * C; i++) acc[i / C][i % C] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    if (next && (k & 15) == 0) {  // one cache line of each next row per 16 elements (≥ 32 bytes)
#pragma GCC unroll 4
      for (int c = 0; c < 4; c++) _mm_prefetch(pf[c] + k * kBytes, _MM_HINT_T1);
    }
    __m256 xv[R];
#pragma GCC unroll 3
    for (int r = 0; r < R; r++) xv[r] = _mm256_loadu_ps(x + r * K + k);
#pragma GCC unroll 4
    for (int c = 0; c < C; c++) {
      const __m256 wv = load8<WT>(wr[c], k);
#pragma GCC unroll 3
      for (int r = 0; r < R; r++) acc[r][c] = _mm256_fmadd_ps(xv[r], wv, acc[r][c]);
    }
  }
#pragma GCC unroll 3
  for (int r = 0; r < R; r++) {
    float res[4];
    if constexpr (C == 4) {  // four horizontal sums at once: lane c of the result is row c's sum
      const __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(acc[r][0], acc[r][1]), _mm256_hadd_ps(acc[r][2], acc[r][3]));
      _mm_storeu_ps(res, _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1)));
    } else {
#pragma GCC unroll 4
      for (int c = 0; c < C; c++) res[c] = hsum(acc[r][c]);
    }
    for (int c = 0; c < C; c++) {
      for (int64_t j = k; j < K; j++) res[c] += load1<WT>(wr[c], j) * x[r * K + j];
      out[r * ldo + c] = res[c] + (bias ? bias[c] : 0.0f);
    }
  }
}

using DotTileFn = void (*)(const void* w, const float* x, int64_t K, const float* bias, float* out, int64_t ldo,
                          const void* next);

// tiles[R - 1][C - 1] for the ragged edges of M and N.
template <DType WT>
struct DotTiles {
  static constexpr int kRows = 3, kCols = 4;
  DotTileFn fn[kRows][kCols] = {
      {dot_tile<WT, 1, 1>, dot_tile<WT, 1, 2>, dot_tile<WT, 1, 3>, dot_tile<WT, 1, 4>},
      {dot_tile<WT, 2, 1>, dot_tile<WT, 2, 2>, dot_tile<WT, 2, 3>, dot_tile<WT, 2, 4>},
      {dot_tile<WT, 3, 1>, dot_tile<WT, 3, 2>, dot_tile<WT, 3, 3>, dot_tile<WT, 3, 4>},
  };
};

// Parallel over blocks of 4 weight rows; each block stays in L1 while every row group of x passes by it.
template <DType WT>
void float_tiles(const MatmulArgs& a) {
  static const DotTiles<WT> tiles;
  constexpr int RM = DotTiles<WT>::kRows, CN = DotTiles<WT>::kCols;
  const int64_t blocks = (a.N + CN - 1) / CN;
  const int64_t grain = std::max<int64_t>(1, row_grain(a.K) / CN);
  const bool prefetch = a.M >= 4;  // with fewer rows the loads keep pace and the hardware prefetcher suffices
  parallel_for(blocks, grain, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; b++) {
      const int64_t n = b * CN;
      const int cols = static_cast<int>(std::min<int64_t>(CN, a.N - n));
      const void* w = element_ptr(a.w, WT, n * a.K);
      // the next block is prefetched during the first row group (where a whole next block exists)
      const void* next = prefetch && n + 2 * CN <= a.N ? element_ptr(a.w, WT, (n + CN) * a.K) : nullptr;
      for (int64_t m = 0; m < a.M; m += RM) {
        const int rows = static_cast<int>(std::min<int64_t>(RM, a.M - m));
        tiles.fn[rows - 1][cols - 1](w, a.x + m * a.K, a.K, a.bias ? a.bias + n : nullptr, a.out + m * a.N + n, a.N,
                                     m == 0 ? next : nullptr);
      }
    }
  });
}

}  // namespace avx2
#endif

// Runs `dot_group(w_row, m, rows, res)` for every weight row and row group of x, and writes out + bias.
template <typename DotGroup>
void for_each_row(const MatmulArgs& a, const DotGroup& dot_group) {
  parallel_for(a.N, row_grain(a.K), [&](int64_t n0, int64_t n1) {
    float res[kRowGroup];
    for (int64_t n = n0; n < n1; n++) {
      const void* w_row = element_ptr(a.w, a.w_dtype, n * a.K);
      const float b = a.bias ? a.bias[n] : 0.0f;
      for (int64_t m = 0; m < a.M; m += kRowGroup) {
        const int rows = static_cast<int>(std::min<int64_t>(kRowGroup, a.M - m));
        dot_group(w_row, m, rows, res);
        for (int r = 0; r < rows; r++) a.out[(m + r) * a.N + n] = res[r] + b;
      }
    }
  });
}

}  // namespace

void gemv(const MatmulArgs& a) {
  // out [M,N] = x [M,K] · w [N,K]ᵀ + bias, M small
  if (is_quantized(a.w_dtype)) {
    const int64_t blocks = a.K / kQuantBlock;
    std::vector<BlockQ8Act> xq(static_cast<size_t>(a.M * blocks));
    for (int64_t m = 0; m < a.M; m++) quantize_activations(a.x + m * a.K, xq.data() + m * blocks, a.K);
    const QuantDotFn dot = quant_dot(a.w_dtype);
    for_each_row(a, [&](const void* w_row, int64_t m, int rows, float* res) {
      dot(w_row, xq.data() + m * blocks, blocks, blocks, rows, res);
    });
    return;
  }
#ifdef GF_HAVE_AVX2_PATH
  if (use_avx2()) {
    switch (a.w_dtype) {
      case DType::F16: return avx2::float_tiles<DType::F16>(a);
      case DType::BF16: return avx2::float_tiles<DType::BF16>(a);
      default: return avx2::float_tiles<DType::F32>(a);
    }
  }
#endif
  for_each_row(a, [&](const void* w_row, int64_t m, int rows, float* res) {
    dot_portable(w_row, a.w_dtype, a.x + m * a.K, a.K, rows, res);
  });
}

}  // namespace cpu
}  // namespace gf

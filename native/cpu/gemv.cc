// Matmul for a few rows of x (decode): memory-bound, so every weight row is read once and meets all M rows
// of x (in groups of 4) while it is in L1. Parallel over weight rows.
//   f32/f16/bf16 weights: 8-wide FMAs, f16 converted with F16C and bf16 with a shift, in registers.
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

// res[r] = w_row · x_r for r < rows; the row group's x rows are x + r * K.
using FloatDotFn = void (*)(const void* w, const float* x, int64_t K, int rows, float* res);

// ------------------------------------------------------------------------------------------------ portable
// Converts the weight row to f32 first (a thread-local row buffer), then plain dot products.
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

template <DType WT>
void dot_portable_t(const void* w, const float* x, int64_t K, int rows, float* res) {
  dot_portable(w, WT, x, K, rows, res);
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

// A independent accumulators per row so that at least four FMA chains are in flight (FMA latency is 4–5
// cycles): 4 for one row, 2 per row otherwise.
template <DType WT, int R>
GF_AVX2 void dot_rows(const void* w, const float* x, int64_t K, float* res) {
  constexpr int A = R == 1 ? 4 : 2;
  __m256 acc[R][A];
#pragma GCC unroll 16
  for (int i = 0; i < R * A; i++) acc[i / A][i % A] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 * A <= K; k += 8 * A) {
#pragma GCC unroll 4
    for (int a = 0; a < A; a++) {
      const __m256 wv = load8<WT>(w, k + 8 * a);
#pragma GCC unroll 4
      for (int r = 0; r < R; r++) acc[r][a] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + r * K + k + 8 * a), acc[r][a]);
    }
  }
  for (; k + 8 <= K; k += 8) {
    const __m256 wv = load8<WT>(w, k);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) acc[r][0] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + r * K + k), acc[r][0]);
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; r++) {
    __m256 sum = acc[r][0];
#pragma GCC unroll 4
    for (int a = 1; a < A; a++) sum = _mm256_add_ps(sum, acc[r][a]);
    float s = hsum(sum);
    for (int64_t j = k; j < K; j++) s += load1<WT>(w, j) * x[r * K + j];
    res[r] = s;
  }
}

template <DType WT>
void dot(const void* w, const float* x, int64_t K, int rows, float* res) {
  switch (rows) {
    case 1: return dot_rows<WT, 1>(w, x, K, res);
    case 2: return dot_rows<WT, 2>(w, x, K, res);
    case 3: return dot_rows<WT, 3>(w, x, K, res);
    default: return dot_rows<WT, 4>(w, x, K, res);
  }
}

}  // namespace avx2
#endif

FloatDotFn float_dot(DType w_dtype) {
#ifdef GF_HAVE_AVX2_PATH
  if (use_avx2()) {
    switch (w_dtype) {
      case DType::F16: return avx2::dot<DType::F16>;
      case DType::BF16: return avx2::dot<DType::BF16>;
      default: return avx2::dot<DType::F32>;
    }
  }
#endif
  switch (w_dtype) {
    case DType::F16: return dot_portable_t<DType::F16>;
    case DType::BF16: return dot_portable_t<DType::BF16>;
    default: return dot_portable_t<DType::F32>;
  }
}

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
  } else {
    const FloatDotFn dot = float_dot(a.w_dtype);
    for_each_row(a, [&](const void* w_row, int64_t m, int rows, float* res) {
      dot(w_row, a.x + m * a.K, a.K, rows, res);
    });
  }
}

}  // namespace cpu
}  // namespace gf

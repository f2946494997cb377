// Activation quantization and the quantized-weight dot products of quant.h, portable and AVX2.
// AVX2 per 32-element block and activation row: one _mm256_maddubs_epi16 (u8 × s8 pairs → i16; Q8_0 weights
// go through the sign trick, |w| × sign(w)·x, since maddubs needs one unsigned side), one _mm256_madd_epi16
// (→ 8 × i32), a conversion and one FMA with d_w · d_x. Sums never saturate: |pair| ≤ 2 · 128 · 127 < 2^15.
#include "cpu/quant.h"

#include <cmath>
#include <cstring>
#include <type_traits>

#include "cpu/simd.h"
#include "gpuformer/error.h"

#include "cpu/avx2_target.h"

namespace gf {
namespace cpu {
namespace {

template <DType WT> struct WeightBlock;
template <> struct WeightBlock<DType::Q8_0> { using type = BlockQ8_0; };
template <> struct WeightBlock<DType::Q4_0> { using type = BlockQ4_0; };
template <> struct WeightBlock<DType::Q4_1> { using type = BlockQ4_1; };

// ------------------------------------------------------------------------------------------------ portable
namespace portable {

void quantize(const float* x, BlockQ8Act* out, int64_t K) {
  for (int64_t b = 0; b < K / kQuantBlock; b++, x += kQuantBlock) {
    float amax = 0;
    for (int j = 0; j < kQuantBlock; j++) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < kQuantBlock; j++) {
      const int q = static_cast<int>(std::nearbyint(x[j] * id));
      out[b].qs[j] = static_cast<int8_t>(q);
      sum += q;
    }
    out[b].d = d;
    out[b].s = d * static_cast<float>(sum);
  }
}

// The block's 32 weights as small integers in element order (Q4: the unsigned nibble, offset applied later).
template <DType WT>
void block_ints(const typename WeightBlock<WT>::type& b, int (&q)[32]) {
  if constexpr (WT == DType::Q8_0) {
    for (int j = 0; j < 32; j++) q[j] = b.qs[j];
  } else {
    for (int j = 0; j < 16; j++) {
      q[j] = b.qs[j] & 0x0f;
      q[j + 16] = b.qs[j] >> 4;
    }
  }
}

template <DType WT>
void dot(const void* w, const BlockQ8Act* xq, int64_t ldx, int64_t blocks, int rows, float* res) {
  using Block = typename WeightBlock<WT>::type;
  const Block* wb = static_cast<const Block*>(w);
  float acc[kQuantDotRows] = {};
  for (int64_t b = 0; b < blocks; b++) {
    int q[32];
    block_ints<WT>(wb[b], q);
    const float dw = f16_to_f32(wb[b].d);
    float offset = 0;  // what each activation-sum unit adds: −8·d (Q4_0), m (Q4_1)
    if constexpr (WT == DType::Q4_0) offset = -8.0f * dw;
    if constexpr (WT == DType::Q4_1) offset = f16_to_f32(wb[b].m);
    for (int r = 0; r < rows; r++) {
      const BlockQ8Act& xb = xq[r * ldx + b];
      int32_t sum = 0;
      for (int j = 0; j < 32; j++) sum += q[j] * xb.qs[j];
      acc[r] += dw * xb.d * static_cast<float>(sum) + offset * xb.s;
    }
  }
  for (int r = 0; r < rows; r++) res[r] = acc[r];
}

}  // namespace portable

// ---------------------------------------------------------------------------------------------------- AVX2
#ifdef GF_HAVE_AVX2_PATH
namespace avx2 {

GF_AVX2 void quantize(const float* x, BlockQ8Act* out, int64_t K) {
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < K / kQuantBlock; b++, x += kQuantBlock) {
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int i = 0; i < 4; i++) {
      v[i] = _mm256_loadu_ps(x + 8 * i);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_bit, v[i]));
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float d = _mm_cvtss_f32(m) / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
    const __m256 scale = _mm256_set1_ps(id);
    __m256i q[4];
    for (int i = 0; i < 4; i++) {
      q[i] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[i], scale), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    // 4 × 8 i32 → 32 i8 in order: packs work within 128-bit lanes, so restore the order with a permute
    const __m256i q16a = _mm256_packs_epi32(q[0], q[1]), q16b = _mm256_packs_epi32(q[2], q[3]);
    const __m256i q8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q16a, q16b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[b].qs), q8);
    const __m256i sum32 = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    out[b].d = d;
    out[b].s = d * hsum(_mm256_cvtepi32_ps(sum32));
  }
}

// Blocks are processed as two 128-bit halves (elements 0..15 and 16..31, which is also how Q4 nibbles
// unpack): Q4's two half products add as 16-bit sums (≤ 2 · 2 · 15 · 127) before one widening, conversion
// and FMA; Q8_0's pair sums reach 2 · 128 · 127, so its halves are widened first. (256-bit integer
// multiplies cost two 128-bit ones on Zen 1, so nothing is lost there; elsewhere this is still ~1 µop/elem.)
template <DType WT>
using QuantAcc = __m128;

// Weight block `blk` against activation block b of each of the R rows, into accumulator set h.
template <DType WT, int R>
GF_AVX2 inline void block_step(const typename WeightBlock<WT>::type& blk, const BlockQ8Act* xq, int64_t ldx, int64_t b,
                               QuantAcc<WT> (&acc)[R][2], float (&offset_sum)[R][2], int h) {
  if constexpr (WT == DType::Q8_0) {
    const __m128i w_lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.qs));
    const __m128i w_hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.qs + 16));
    // maddubs needs an unsigned side: |w|, with w's sign moved onto x
    const __m128i abs_lo = _mm_sign_epi8(w_lo, w_lo), abs_hi = _mm_sign_epi8(w_hi, w_hi);
    const float dw = _cvtsh_ss(blk.d);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      const BlockQ8Act& xb = xq[r * ldx + b];
      const __m128i x_lo = _mm_sign_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xb.qs)), w_lo);
      const __m128i x_hi = _mm_sign_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xb.qs + 16)), w_hi);
      // 16-bit pair sums reach 2 · 128 · 127: widen each half before adding
      const __m128i ones = _mm_set1_epi16(1);
      const __m128i prod = _mm_add_epi32(_mm_madd_epi16(_mm_maddubs_epi16(abs_lo, x_lo), ones),
                                         _mm_madd_epi16(_mm_maddubs_epi16(abs_hi, x_hi), ones));
      acc[r][h] = _mm_fmadd_ps(_mm_set1_ps(dw * xb.d), _mm_cvtepi32_ps(prod), acc[r][h]);
    }
  } else {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.qs));
    const __m128i mask = _mm_set1_epi8(0x0f);
    const __m128i lo = _mm_and_si128(raw, mask), hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
    // d (and m) in one conversion
    uint32_t dm_bits;
    std::memcpy(&dm_bits, &blk.d, WT == DType::Q4_1 ? 4 : 2);
    if constexpr (WT == DType::Q4_0) dm_bits &= 0xffff;
    const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(dm_bits)));
    const float dw = _mm_cvtss_f32(dm);
    // what each unit of the activation block sum adds: −8·d (Q4_0), m (Q4_1)
    const float offset = WT == DType::Q4_0 ? -8.0f * dw : _mm_cvtss_f32(_mm_movehdup_ps(dm));
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      const BlockQ8Act& xb = xq[r * ldx + b];
      const __m128i x_lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(xb.qs));
      const __m128i x_hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(xb.qs + 16));
      const __m128i sum16 = _mm_add_epi16(_mm_maddubs_epi16(lo, x_lo), _mm_maddubs_epi16(hi, x_hi));
      const __m128i prod = _mm_madd_epi16(sum16, _mm_set1_epi16(1));
      acc[r][h] = _mm_fmadd_ps(_mm_set1_ps(dw * xb.d), _mm_cvtepi32_ps(prod), acc[r][h]);
      offset_sum[r][h] += offset * xb.s;
    }
  }
}

// Blocks go in pairs into two accumulator sets: a single chain of dependent FMAs per row would bound the
// loop by the FMA latency instead of the multiply throughput.
template <DType WT, int R>
GF_AVX2 void dot_rows(const void* w, const BlockQ8Act* xq, int64_t ldx, int64_t blocks, float* res) {
  using Block = typename WeightBlock<WT>::type;
  const Block* wb = static_cast<const Block*>(w);
  QuantAcc<WT> acc[R][2];
  float offset_sum[R][2];
#pragma GCC unroll 4
  for (int r = 0; r < R; r++) {
    acc[r][0] = acc[r][1] = _mm_setzero_ps();
    offset_sum[r][0] = offset_sum[r][1] = 0;
  }
  int64_t b = 0;
  for (; b + 2 <= blocks; b += 2) {
    block_step<WT, R>(wb[b], xq, ldx, b, acc, offset_sum, 0);
    block_step<WT, R>(wb[b + 1], xq, ldx, b + 1, acc, offset_sum, 1);
  }
  if (b < blocks) block_step<WT, R>(wb[b], xq, ldx, b, acc, offset_sum, 0);
#pragma GCC unroll 4
  for (int r = 0; r < R; r++) {
    res[r] = hsum(_mm_add_ps(acc[r][0], acc[r][1])) + offset_sum[r][0] + offset_sum[r][1];
  }
}

template <DType WT>
void dot(const void* w, const BlockQ8Act* xq, int64_t ldx, int64_t blocks, int rows, float* res) {
  switch (rows) {
    case 1: return dot_rows<WT, 1>(w, xq, ldx, blocks, res);
    case 2: return dot_rows<WT, 2>(w, xq, ldx, blocks, res);
    case 3: return dot_rows<WT, 3>(w, xq, ldx, blocks, res);
    default: return dot_rows<WT, 4>(w, xq, ldx, blocks, res);
  }
}

}  // namespace avx2
#endif

}  // namespace

void quantize_activations(const float* x, BlockQ8Act* out, int64_t K) {
#ifdef GF_HAVE_AVX2_PATH
  if (use_avx2()) return avx2::quantize(x, out, K);
#endif
  portable::quantize(x, out, K);
}

QuantDotFn quant_dot(DType w_dtype) {
#ifdef GF_HAVE_AVX2_PATH
  if (use_avx2()) {
    switch (w_dtype) {
      case DType::Q8_0: return avx2::dot<DType::Q8_0>;
      case DType::Q4_0: return avx2::dot<DType::Q4_0>;
      case DType::Q4_1: return avx2::dot<DType::Q4_1>;
      default: break;
    }
  }
#endif
  switch (w_dtype) {
    case DType::Q8_0: return portable::dot<DType::Q8_0>;
    case DType::Q4_0: return portable::dot<DType::Q4_0>;
    case DType::Q4_1: return portable::dot<DType::Q4_1>;
    default: fail(ErrorCode::Unsupported, "quant_dot: ", dtype_name(w_dtype), " is not a quantized type");
  }
}

}  // namespace cpu
}  // namespace gf

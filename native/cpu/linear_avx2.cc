// The AVX2 kernels of linear_kernels.h: activation quantization (identical to the portable one: IEEE
// multiply by 1 / d, round to nearest even) and the tiles of linear_tile.inc on ymm vectors, the quantized
// ones in two flavors, maddubs + madd (AVX2) and vpdpbusd (AVX-VNNI), each compiled for its own target.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "cpu/avx2_target.h"
#include "cpu/linear_kernels.h"

#ifdef GF_HAVE_AVX2_PATH
namespace gf {
namespace cpu {
namespace avx2 {

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

void quantize_activations(const float* x, BlockQ8Act* out, int64_t K, DType wt) {
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
    out[b].d = d;
    // Σ qs of the bytes as stored: sad against zero sums each 8 bytes of qs + 128 (biased to unsigned)
    const __m256i sums = _mm256_sad_epu8(_mm256_xor_si256(q8, _mm256_set1_epi8(static_cast<char>(0x80))), _mm256_setzero_si256());
    const __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1));
    const int biased = static_cast<int>(_mm_cvtsi128_si64(_mm_add_epi64(s2, _mm_unpackhi_epi64(s2, s2))));
    finish_activation_block(out[b], wt, biased - 128 * kQuantBlock);
  }
}

// The portable rounding on eight floats at a time, in integer form: below FLT_MIN (zeros too) → a zero of the
// sign; NaN → its top half with the quiet bit; otherwise + 0x7fff + the kept half's lowest bit, top half.
void round_activations_bf16(const float* x, uint16_t* out, int64_t K) {
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), sign = _mm256_set1_epi32(static_cast<int>(0x80000000u));
  const __m256i min_normal = _mm256_set1_epi32(0x00800000), inf = _mm256_set1_epi32(0x7f800000);
  const __m256i bias = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1), quiet = _mm256_set1_epi32(0x00400000);
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    __m256i v = _mm256_castps_si256(_mm256_loadu_ps(x + k));
    const __m256i a = _mm256_and_si256(v, abs_mask);
    v = _mm256_blendv_epi8(v, _mm256_and_si256(v, sign), _mm256_cmpgt_epi32(min_normal, a));
    __m256i r = _mm256_add_epi32(v, _mm256_add_epi32(bias, _mm256_and_si256(_mm256_srli_epi32(v, 16), one)));
    r = _mm256_srli_epi32(_mm256_blendv_epi8(r, _mm256_or_si256(v, quiet), _mm256_cmpgt_epi32(a, inf)), 16);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + k),
                     _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1)));
  }
  portable::round_activations_bf16(x + k, out + k, K - k);
}

namespace madd {
namespace {
constexpr bool kVnni = false;
#include "cpu/linear_ymm.inc"
}  // namespace
// Float tiles of 3 activation rows × 4 weight rows: 12 ymm accumulators, 3 activation vectors and one weight
// vector, so per 8 columns 7 loads meet 12 FMAs. Quantized tiles of 4 activation rows × 8 weight rows (one
// ymm of outputs): a block's transpose (or, on weights packed in groups of 8 rows, its vector loads) and nibble
// split serve 4 rows.
const FloatTiles& float_tiles(DType wt) { return float_table<3, 4>(wt); }
// Bf16 tiles split each activation vector in two (odd and even elements): 2 × 4 keeps 8 accumulators,
// 4 activation halves and 2 weight halves in the 16 registers.
const Bf16Tiles& bf16_tiles() { return bf16_table<2, 4>(); }
const QuantTiles& quant_tiles(DType wt) { return quant_table_with_packed<4>(wt); }
}  // namespace madd
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avxvnni")
namespace vnni {
namespace {
constexpr bool kVnni = true;
#include "cpu/linear_ymm.inc"
}  // namespace
const QuantTiles& quant_tiles(DType wt) { return quant_table_with_packed<4>(wt); }
}  // namespace vnni
#pragma GCC pop_options

const FloatTiles& float_tiles(DType wt) { return madd::float_tiles(wt); }
const Bf16Tiles& bf16_tiles() { return madd::bf16_tiles(); }
const QuantTiles& quant_tiles(DType wt, bool vnni) { return vnni ? vnni::quant_tiles(wt) : madd::quant_tiles(wt); }

}  // namespace avx2
}  // namespace cpu
}  // namespace gf
#endif

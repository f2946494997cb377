// The AVX-512 kernels of linear_kernels.h: the tiles of linear_tile.inc on zmm vectors (linear_zmm.inc),
// each holding two outputs' eight lanes, so a weight pair's 256-bit halves meet one activation vector
// broadcast to both. The quantized tiles come in two flavors, maddubs + madd (AVX512-BW) and vpdpbusd
// (AVX512-VNNI), each compiled for its own target. Activations are quantized by the AVX2 code (the same on
// every tier, and cheap next to the matmul).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "cpu/avx512_target.h"
#include "cpu/linear_kernels.h"

#ifdef GF_HAVE_AVX512_PATH

namespace gf {
namespace cpu {
namespace avx512 {

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq")
namespace bw {
namespace {
constexpr bool kVnni = false, kBf16Dot = false;
#include "cpu/linear_zmm.inc"
}  // namespace
// Float tiles of 4 activation rows × 12 weight rows: 24 zmm accumulators (6 weight pairs), 4 activation
// vectors and one weight pair, so per 8 columns 10 loads (on weights read in place, 6 of them with an insert)
// meet 24 FMAs. Bf16 tiles without vdpbf16ps split each vector in two: 4 × 8 keeps the 16 accumulators and 8
// halves in registers. Quantized tiles of 8 activation rows × 16 weight rows: a block's transpose and nibble
// split (in place: 16 loads, 20 shuffles, 16 scalar loads of the scales; packed: 4 or 8 vector loads and one
// conversion per scale vector) serve 8 rows, each of which costs 8 integer dots and 3 float ops.
const FloatTiles& float_tiles(DType wt) {
  return wt == DType::F32 ? table_with_pairs<FloatStep<DType::F32>, 4, 12>() : float_table<4, 12>(wt);
}
const Bf16Tiles& bf16_tiles() { return table_with_pairs<Bf16Step, 4, 8>(); }
const QuantTiles& quant_tiles(DType wt) { return quant_table_with_packed<8>(wt); }
}  // namespace bw
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")
namespace vnni {
namespace {
constexpr bool kVnni = true, kBf16Dot = false;
#include "cpu/linear_zmm.inc"
}  // namespace
const QuantTiles& quant_tiles(DType wt) { return quant_table_with_packed<8>(wt); }
}  // namespace vnni
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")
namespace bf16dot {
namespace {
constexpr bool kVnni = false, kBf16Dot = true;
#include "cpu/linear_zmm.inc"
}  // namespace
// 4 × 12 as the float tiles: one vdpbf16ps per 16 columns of a weight pair and row.
const Bf16Tiles& bf16_tiles() { return table_with_pairs<Bf16Step, 4, 12>(); }
}  // namespace bf16dot

// The contract's rounding by vcvtneps2bf16, sixteen floats at a time: nearest even, inputs below FLT_MIN as
// zeros of their sign (it treats denormals as zero whatever MXCSR says), NaN as its top half with the quiet
// bit (the AVX2 code spells out the same rules in integer form: 4 % of a bf16 MiniLM embedding of 168 tokens)
void round_activations_bf16(const float* x, uint16_t* out, int64_t K) {
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    const __m256bh r = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + k));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + k), reinterpret_cast<const __m256i&>(r));
  }
  avx2::round_activations_bf16(x + k, out + k, K - k);
}
#pragma GCC pop_options

const FloatTiles& float_tiles(DType wt) { return bw::float_tiles(wt); }
const Bf16Tiles& bf16_tiles(bool dot) { return dot ? bf16dot::bf16_tiles() : bw::bf16_tiles(); }
const QuantTiles& quant_tiles(DType wt, bool vnni) { return vnni ? vnni::quant_tiles(wt) : bw::quant_tiles(wt); }

}  // namespace avx512
}  // namespace cpu
}  // namespace gf
#endif

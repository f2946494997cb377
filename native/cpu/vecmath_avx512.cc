// The AVX-512 VecOps (vecmath_kernels.h): the attention tiles, the online-softmax row steps and the activations
// (GELU, SiLU, SwiGLU: AVX2's arithmetic on sixteen lanes) on 512-bit vectors; the norms' sums keep the AVX2
// versions (memory-bound).
//
// Arithmetic, against vecmath.h's invariance contract and the AVX2 tier:
// - exp is AVX2's polynomial lane for lane, so exp_shift_sum's outputs are AVX2's bits; its sum runs in 16
//   lanes (a row's tail masked in as −inf, i.e. exact zeros) and hsum(__m512)'s fixed order;
// - a score is sixteen partial sums over d (lane = d mod 16, one FMA per 16 dims in order; a head dim that is
//   an odd multiple of 8 ends in a zero-masked half vector), the lanes l and l + 8 added, then AVX2's tree;
// - pv adds p·v one key at a time with one FMA per element, as AVX2 does, so its outputs are AVX2's bits.
#include <limits>

#include "cpu/avx512_target.h"
#include "cpu/vecmath_kernels.h"

#ifdef GF_HAVE_AVX512_PATH
// GCC 12 also says "__Y is used uninitialized" inside _mm512_castps512_ps256 (the same false positive as the
// one avx512_target.h silences).
#pragma GCC diagnostic ignored "-Wuninitialized"
// Fixed-trip loops over register tiles must unroll early, or GCC keeps the accumulator arrays in memory.
#define GF_UNROLL _Pragma("GCC unroll 16")

namespace gf {
namespace cpu {
namespace {
namespace avx512 {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Lanes [0, n) of a vector, n < 16.
GF_AVX512 inline __mmask16 first(int64_t n) { return static_cast<__mmask16>((1u << n) - 1); }

// avx2::exp on sixteen lanes (ExpConstants): the same operations on every element.
GF_AVX512 inline __m512 exp(__m512 x) {
  using C = ExpConstants;
  const __m512 lo = _mm512_set1_ps(C::lo);
  const __mmask16 keep = _mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ);
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(C::hi)), lo);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(C::log2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(C::ln2_hi), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(C::ln2_lo), r);
  __m512 y = _mm512_set1_ps(C::poly[0]);
  for (int i = 1; i < 6; i++) y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(C::poly[i]));
  y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  const __m512i pow2n = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_maskz_mul_ps(keep, y, _mm512_castsi512_ps(pow2n));
}

// gelu, silu and swiglu: activation_lanes.inc on sixteen lanes (the AVX2 tier's bits).
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq")  // GF_AVX512_ISA (a pragma does not expand macros)
struct A {
  using F = __m512;
  static constexpr int64_t kLanes = 16;
  static F set(float v) { return _mm512_set1_ps(v); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F div(F a, F b) { return _mm512_div_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F fnma(F a, F b, F c) { return _mm512_fnmadd_ps(a, b, c); }
  static F abs(F a) { return _mm512_abs_ps(a); }
  static F sign_of(F a, F b) { return _mm512_or_ps(a, _mm512_and_ps(b, _mm512_set1_ps(-0.0f))); }
  static F exp(F x) { return avx512::exp(x); }
  static F load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, F v) { _mm512_storeu_ps(p, v); }
  static F load_tail(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(first(n), p); }
  static void store_tail(float* p, F v, int64_t n) { _mm512_mask_storeu_ps(p, first(n), v); }
};
#include "cpu/activation_lanes.inc"
#pragma GCC pop_options

GF_AVX512 float max(const float* x, int64_t n) {
  __m512 m = _mm512_set1_ps(kNegInf);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(x + i));
  if (i < n) m = _mm512_max_ps(m, _mm512_mask_loadu_ps(_mm512_set1_ps(kNegInf), first(n - i), x + i));
  __m256 h = _mm256_max_ps(_mm512_castps512_ps256(m), _mm512_extractf32x8_ps(m, 1));
  __m128 v = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  v = _mm_max_ps(v, _mm_movehl_ps(v, v));
  return _mm_cvtss_f32(_mm_max_ss(v, _mm_movehdup_ps(v)));
}

GF_AVX512 float exp_shift_sum(const float* x, float shift, float* out, int64_t n) {
  const __m512 sh = _mm512_set1_ps(shift);
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 e = exp(_mm512_sub_ps(_mm512_loadu_ps(x + i), sh));
    _mm512_storeu_ps(out + i, e);
    acc = _mm512_add_ps(acc, e);
  }
  if (i < n) {  // the tail padded with −inf, whose exp is exactly 0
    const __mmask16 m = first(n - i);
    const __m512 e = exp(_mm512_sub_ps(_mm512_mask_loadu_ps(_mm512_set1_ps(kNegInf), m, x + i), sh));
    _mm512_mask_storeu_ps(out + i, m, e);
    acc = _mm512_add_ps(acc, e);
  }
  return hsum(acc);
}

GF_AVX512 void scale(float* x, float a, int64_t n) {
  const __m512 va = _mm512_set1_ps(a);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), va));
  if (i < n) _mm512_mask_storeu_ps(x + i, first(n - i), _mm512_mul_ps(_mm512_maskz_loadu_ps(first(n - i), x + i), va));
}

// Folds a key's sixteen-lane accumulator to eight lanes: lane l + lane l + 8.
GF_AVX512 inline __m256 fold(__m512 a) { return _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1)); }

// Four keys' folded accumulators → their four scores by AVX2's tree: two rounds of hadd (lanes (0+1)+(2+3) and
// (4+5)+(6+7)), then the 128-bit halves added. (avx2's dot8 is this tree on keys 0–3 and 4–7.)
GF_AVX512 inline __m128 reduce4(__m256 h0, __m256 h1, __m256 h2, __m256 h3) {
  const __m256 u = _mm256_hadd_ps(_mm256_hadd_ps(h0, h1), _mm256_hadd_ps(h2, h3));
  return _mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1));
}

// Scores of NQ query rows against NK (4 or 8) keys read in place; NQ and NK only decide how many loads each
// multiply shares, never a score's arithmetic. (A transposed key tile with broadcast queries, sequential sums
// over d, measured 10 % faster for 30-row prefill blocks but 20 % slower for decode's 3 rows.)
template <int NQ, int NK>
GF_AVX512 inline void dot_block(const float* q, int D, const float* const* k, float* s, int s_stride) {
  __m512 acc[NQ][NK];
  GF_UNROLL for (int a = 0; a < NQ; a++)
    GF_UNROLL for (int c = 0; c < NK; c++) acc[a][c] = _mm512_setzero_ps();
  auto step = [&](int d, __mmask16 m) GF_AVX512 {
    __m512 kv[NK];
    GF_UNROLL for (int c = 0; c < NK; c++) kv[c] = _mm512_maskz_loadu_ps(m, k[c] + d);
    GF_UNROLL for (int a = 0; a < NQ; a++) {
      const __m512 qa = _mm512_maskz_loadu_ps(m, q + a * D + d);
      GF_UNROLL for (int c = 0; c < NK; c++) acc[a][c] = _mm512_fmadd_ps(qa, kv[c], acc[a][c]);
    }
  };
  int d = 0;
  for (; d + 16 <= D; d += 16) step(d, 0xffff);
  if (d < D) step(d, 0x00ff);  // D is a multiple of 8
  GF_UNROLL for (int a = 0; a < NQ; a++) {
    GF_UNROLL for (int c = 0; c < NK; c += 4) {
      _mm_storeu_ps(s + a * s_stride + c, reduce4(fold(acc[a][c]), fold(acc[a][c + 1]), fold(acc[a][c + 2]), fold(acc[a][c + 3])));
    }
  }
}

// Rows [i, i + NQ) against all keys, NK at a time.
template <int NQ, int NK>
GF_AVX512 inline void dot_rows(const float* q, const float* const* rows, int nk4, int D, float* s, int s_stride) {
  int j = 0;
  for (; j + NK <= nk4; j += NK) dot_block<NQ, NK>(q, D, rows + j, s + j, s_stride);
  for (; j < nk4; j += 4) dot_block<NQ, 4>(q, D, rows + j, s + j, s_stride);
}

// s may be written up to nk rounded up to 4 columns (the caller's rows are kKeyTile wide).
GF_AVX512 void qk_tile(const float* q, int nq, const float* const* k, int nk, int D, float* s, int s_stride) {
  static const float zeros[kMaxHeadDim] = {};
  const int nk4 = (nk + 3) & ~3;
  const float* rows[kMaxTileKeys];
  for (int j = 0; j < nk4; j++) rows[j] = j < nk ? k[j] : zeros;
  int i = 0;
  for (; i + 2 <= nq; i += 2) dot_rows<2, 8>(q + i * D, rows, nk4, D, s + i * s_stride, s_stride);
  for (; i < nq; i++) dot_rows<1, 8>(q + i * D, rows, nk4, D, s + i * s_stride, s_stride);
}

// NQ output rows × NV vectors of 16 columns (the last one masked to m) held in registers while the nk value rows
// stream through: o[a][d] = fma(p[a][j], v[j][d], o[a][d]) for j in order.
template <int NQ, int NV>
GF_AVX512 inline void pv_block(const float* p, int p_stride, const float* const* v, int nk, int D, int d0, __mmask16 m,
                               float* o) {
  auto mask = [&](int c) { return c + 1 < NV ? static_cast<__mmask16>(0xffff) : m; };
  __m512 acc[NQ][NV];
  GF_UNROLL for (int a = 0; a < NQ; a++)
    GF_UNROLL for (int c = 0; c < NV; c++) acc[a][c] = _mm512_maskz_loadu_ps(mask(c), o + a * D + d0 + c * 16);
  for (int j = 0; j < nk; j++) {
    __m512 vv[NV];
    GF_UNROLL for (int c = 0; c < NV; c++) vv[c] = _mm512_maskz_loadu_ps(mask(c), v[j] + d0 + c * 16);
    GF_UNROLL for (int a = 0; a < NQ; a++) {
      const __m512 pa = _mm512_set1_ps(p[a * p_stride + j]);
      GF_UNROLL for (int c = 0; c < NV; c++) acc[a][c] = _mm512_fmadd_ps(pa, vv[c], acc[a][c]);
    }
  }
  GF_UNROLL for (int a = 0; a < NQ; a++)
    GF_UNROLL for (int c = 0; c < NV; c++) _mm512_mask_storeu_ps(o + a * D + d0 + c * 16, mask(c), acc[a][c]);
}

template <int NQ>
GF_AVX512 inline void pv_rows(const float* p, int p_stride, const float* const* v, int nk, int D, float* o) {
  int d = 0;
  for (; d + 64 <= D; d += 64) pv_block<NQ, 4>(p, p_stride, v, nk, D, d, 0xffff, o);
  for (; d + 32 <= D; d += 32) pv_block<NQ, 2>(p, p_stride, v, nk, D, d, 0xffff, o);
  for (; d < D; d += 16) pv_block<NQ, 1>(p, p_stride, v, nk, D, d, d + 16 <= D ? 0xffff : 0x00ff, o);
}

GF_AVX512 void pv_tile(const float* p, int p_stride, int nq, const float* const* v, int nk, int D, float* o) {
  int i = 0;
  for (; i + 4 <= nq; i += 4) pv_rows<4>(p + i * p_stride, p_stride, v, nk, D, o + static_cast<int64_t>(i) * D);
  if (i + 3 == nq) {  // decode with 3 query heads per kv head (SmolLM2): each value row loaded once
    pv_rows<3>(p + i * p_stride, p_stride, v, nk, D, o + static_cast<int64_t>(i) * D);
    return;
  }
  for (; i + 2 <= nq; i += 2) pv_rows<2>(p + i * p_stride, p_stride, v, nk, D, o + static_cast<int64_t>(i) * D);
  for (; i < nq; i++) pv_rows<1>(p + i * p_stride, p_stride, v, nk, D, o + static_cast<int64_t>(i) * D);
}

}  // namespace avx512
}  // namespace

const VecOps& vec_ops_avx512() {
  static const VecOps ops = [] {
    VecOps t = vec_ops_avx2();
    t.max = avx512::max;
    t.exp_shift_sum = avx512::exp_shift_sum;
    t.scale = avx512::scale;
    t.gelu = avx512::gelu;
    t.silu = avx512::silu;
    t.swiglu = avx512::swiglu;
    t.qk_tile = avx512::qk_tile;
    t.pv_tile = avx512::pv_tile;
    return t;
  }();
  return ops;
}

}  // namespace cpu
}  // namespace gf
#else
namespace gf {
namespace cpu {
const VecOps& vec_ops_avx512() { return vec_ops_portable(); }  // never chosen: there is no AVX-512 off x86-64
}  // namespace cpu
}  // namespace gf
#endif

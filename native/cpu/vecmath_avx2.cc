// The AVX2 + FMA VecOps (vecmath_kernels.h), compiled one function at a time for that instruction set.
#include <cmath>
#include <limits>

#include "cpu/avx2_target.h"
#include "cpu/vecmath_kernels.h"

#ifdef GF_HAVE_AVX2_PATH
// Fixed-trip loops over register tiles must unroll early, or GCC keeps the accumulator arrays in memory.
#define GF_UNROLL _Pragma("GCC unroll 16")

namespace gf {
namespace cpu {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

namespace avx2 {

GF_AVX2 inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The last n < 8 elements of a row as one more vector, padded with `pad`, and back: tails get the arithmetic of
// the body, so an element's result never depends on where its row, or its chunk of a flat buffer, ends.
GF_AVX2 inline __m256 load_tail(const float* x, int64_t n, float pad) {
  float buf[8];
  for (int i = 0; i < 8; i++) buf[i] = i < n ? x[i] : pad;
  return _mm256_loadu_ps(buf);
}

GF_AVX2 inline void store_tail(float* out, __m256 v, int64_t n) {
  float buf[8];
  _mm256_storeu_ps(buf, v);
  for (int64_t i = 0; i < n; i++) out[i] = buf[i];
}

// exp(x) by ExpConstants (vecmath_kernels.h). Inputs below −87.3 (incl. −inf, the masked scores) give
// exactly 0; inputs above 88 saturate at exp(88).
GF_AVX2 inline __m256 exp(__m256 x) {
  using C = ExpConstants;
  const __m256 lo = _mm256_set1_ps(C::lo);
  const __m256 keep = _mm256_cmp_ps(x, lo, _CMP_GE_OQ);
  x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(C::hi)), lo);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(C::log2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(C::ln2_hi), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(C::ln2_lo), r);
  __m256 y = _mm256_set1_ps(C::poly[0]);
  for (int i = 1; i < 6; i++) y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(C::poly[i]));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i pow2n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_and_ps(_mm256_mul_ps(y, _mm256_castsi256_ps(pow2n)), keep);
}

GF_AVX2 float max(const float* x, int64_t n) {
  __m256 m = _mm256_set1_ps(kNegInf);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
  float r = hmax(m);
  for (; i < n; i++) r = x[i] > r ? x[i] : r;
  return r;
}

GF_AVX2 float sum(const float* x, int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
  }
  float s = hsum(_mm256_add_ps(a0, a1));
  for (; i < n; i++) s += x[i];
  return s;
}

GF_AVX2 float sum_sq(const float* x, float center, int64_t n) {
  const __m256 c = _mm256_set1_ps(center);
  __m256 a0 = _mm256_setzero_ps(), a1 = a0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), c), d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), c);
    a0 = _mm256_fmadd_ps(d0, d0, a0);
    a1 = _mm256_fmadd_ps(d1, d1, a1);
  }
  float s = hsum(_mm256_add_ps(a0, a1));
  for (; i < n; i++) s += (x[i] - center) * (x[i] - center);
  return s;
}

GF_AVX2 float exp_shift_sum(const float* x, float shift, float* out, int64_t n) {
  const __m256 sh = _mm256_set1_ps(shift);
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), sh));
    _mm256_storeu_ps(out + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  if (i < n) {  // padded with −inf, whose exp is exactly 0: the sum is that of the row padded to 8 columns
    const __m256 e = exp(_mm256_sub_ps(load_tail(x + i, n - i, kNegInf), sh));
    store_tail(out + i, e, n - i);
    acc = _mm256_add_ps(acc, e);
  }
  return hsum(acc);
}

GF_AVX2 void scale(float* x, float a, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), va));
  for (; i < n; i++) x[i] *= a;
}

// gelu, silu and swiglu: activation_lanes.inc on eight lanes.
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
struct A {
  using F = __m256;
  static constexpr int64_t kLanes = 8;
  static F set(float v) { return _mm256_set1_ps(v); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F div(F a, F b) { return _mm256_div_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F fnma(F a, F b, F c) { return _mm256_fnmadd_ps(a, b, c); }
  static F abs(F a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static F sign_of(F a, F b) { return _mm256_or_ps(a, _mm256_and_ps(b, _mm256_set1_ps(-0.0f))); }
  static F exp(F x) { return avx2::exp(x); }
  static F load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, F v) { _mm256_storeu_ps(p, v); }
  static F load_tail(const float* p, int64_t n) { return avx2::load_tail(p, n, 0.0f); }
  static void store_tail(float* p, F v, int64_t n) { avx2::store_tail(p, v, n); }
};
#include "cpu/activation_lanes.inc"
#pragma GCC pop_options

// One query row against 8 keys read in place. Every score of every tile is formed this way, whatever the tile's
// numbers of rows and keys: eight partial sums over d per key (lane = d mod 8, one FMA per 8 dims, in order),
// then one fixed tree (two rounds of hadd, then the 128-bit halves added). Per key this streams the key row
// once per query row; a transposed tile with broadcast queries (sequential sums over d) measured no faster
// even at 30 rows, and would need a second arithmetic for decode's few rows.
GF_AVX2 inline __m256 dot8(const float* q, const float* const* k, int D) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (int d = 0; d < D; d += 8) {
    const __m256 qv = _mm256_loadu_ps(q + d);
    a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k[0] + d), a0);
    a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k[1] + d), a1);
    a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k[2] + d), a2);
    a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k[3] + d), a3);
    a4 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k[4] + d), a4);
    a5 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k[5] + d), a5);
    a6 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k[6] + d), a6);
    a7 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k[7] + d), a7);
  }
  const __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));  // [0..3 low | 0..3 high]
  const __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// s may be written up to nk rounded up to 8 columns (the caller's rows are kKeyTile wide); D is a multiple of 8.
GF_AVX2 void qk_tile(const float* q, int nq, const float* const* k, int nk, int D, float* s, int s_stride) {
  static const float zeros[kMaxHeadDim] = {};
  const int nk8 = (nk + 7) & ~7;
  const float* rows[kMaxTileKeys];
  for (int j = 0; j < nk8; j++) rows[j] = j < nk ? k[j] : zeros;
  for (int i = 0; i < nq; i++) {
    for (int j = 0; j < nk8; j += 8) _mm256_storeu_ps(s + i * s_stride + j, dot8(q + i * D, rows + j, D));
  }
}

// NQ output rows × NV·8 columns held in registers while all nk value rows stream through.
template <int NQ, int NV>
GF_AVX2 inline void pv_block(const float* p, int p_stride, const float* const* v, int nk, int D, int d0, float* o) {
  __m256 acc[NQ][NV];
  GF_UNROLL for (int a = 0; a < NQ; a++)
    GF_UNROLL for (int c = 0; c < NV; c++) acc[a][c] = _mm256_loadu_ps(o + a * D + d0 + c * 8);
  for (int j = 0; j < nk; j++) {
    __m256 vv[NV];
    GF_UNROLL for (int c = 0; c < NV; c++) vv[c] = _mm256_loadu_ps(v[j] + d0 + c * 8);
    GF_UNROLL for (int a = 0; a < NQ; a++) {
      const __m256 pa = _mm256_broadcast_ss(p + a * p_stride + j);
      GF_UNROLL for (int c = 0; c < NV; c++) acc[a][c] = _mm256_fmadd_ps(pa, vv[c], acc[a][c]);
    }
  }
  GF_UNROLL for (int a = 0; a < NQ; a++)
    GF_UNROLL for (int c = 0; c < NV; c++) _mm256_storeu_ps(o + a * D + d0 + c * 8, acc[a][c]);
}

template <int NQ>
GF_AVX2 inline void pv_rows(const float* p, int p_stride, const float* const* v, int nk, int D, float* o) {
  int d = 0;
  for (; d + 32 <= D; d += 32) pv_block<NQ, 4>(p, p_stride, v, nk, D, d, o);
  for (; d + 16 <= D; d += 16) pv_block<NQ, 2>(p, p_stride, v, nk, D, d, o);
  for (; d < D; d += 8) pv_block<NQ, 1>(p, p_stride, v, nk, D, d, o);  // D is a multiple of 8
}

GF_AVX2 void pv_tile(const float* p, int p_stride, int nq, const float* const* v, int nk, int D, float* o) {
  int i = 0;
  for (; i + 2 <= nq; i += 2) pv_rows<2>(p + i * p_stride, p_stride, v, nk, D, o + static_cast<int64_t>(i) * D);
  for (; i < nq; i++) pv_rows<1>(p + i * p_stride, p_stride, v, nk, D, o + static_cast<int64_t>(i) * D);
}

}  // namespace avx2
}  // namespace

const VecOps& vec_ops_avx2() {
  using namespace avx2;
  static const VecOps ops = {max, sum_sq, sum, exp_shift_sum, scale, gelu, silu, swiglu, qk_tile, pv_tile};
  return ops;
}

}  // namespace cpu
}  // namespace gf
#else
namespace gf {
namespace cpu {
const VecOps& vec_ops_avx2() { return vec_ops_portable(); }  // never chosen: there is no AVX2 off x86-64
}  // namespace cpu
}  // namespace gf
#endif

// The portable VecOps (plain loops the compiler vectorizes for the baseline ISA: the reference the other tiers
// are tested against) and vec_ops(), which picks one tier's table once (vecmath_kernels.h).
#include <cmath>
#include <limits>

#include "cpu/simd.h"
#include "cpu/vecmath_kernels.h"

namespace gf {
namespace cpu {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// ------------------------------------------------------------------------------------------------ portable
namespace portable {

float max(const float* x, int64_t n) {
  float m = kNegInf;
  for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}

// Eight independent partial sums: the additions pipeline (and vectorize) instead of waiting on each other.
float sum(const float* x, int64_t n) {
  float part[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) part[j] += x[i + j];
  float s = 0;
  for (; i < n; i++) s += x[i];
  for (int j = 0; j < 8; j++) s += part[j];
  return s;
}

float sum_sq(const float* x, float center, int64_t n) {
  float part[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) part[j] += (x[i + j] - center) * (x[i + j] - center);
  float s = 0;
  for (; i < n; i++) s += (x[i] - center) * (x[i] - center);
  for (int j = 0; j < 8; j++) s += part[j];
  return s;
}

float exp_shift_sum(const float* x, float shift, float* out, int64_t n) {
  float sum = 0;
  for (int64_t i = 0; i < n; i++) {
    out[i] = std::exp(x[i] - shift);
    sum += out[i];
  }
  return sum;
}

void scale(float* x, float a, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] *= a;
}

void gelu(const float* x, float* out, int64_t n, bool tanh_approx) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f, kInvSqrt2 = 0.7071067811865476f;
  if (tanh_approx) {
    for (int64_t i = 0; i < n; i++) {
      const float v = x[i];
      out[i] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
    }
  } else {
    for (int64_t i = 0; i < n; i++) out[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * kInvSqrt2));
  }
}

void silu(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void qk_tile(const float* q, int nq, const float* const* k, int nk, int D, float* s, int s_stride) {
  for (int i = 0; i < nq; i++) {
    for (int j = 0; j < nk; j++) {
      float acc = 0;
      for (int d = 0; d < D; d++) acc += q[i * D + d] * k[j][d];
      s[i * s_stride + j] = acc;
    }
  }
}

void pv_tile(const float* p, int p_stride, int nq, const float* const* v, int nk, int D, float* o) {
  for (int i = 0; i < nq; i++) {
    float* oi = o + static_cast<int64_t>(i) * D;
    for (int j = 0; j < nk; j++) {
      const float pij = p[i * p_stride + j];
      if (pij == 0.0f) continue;  // masked keys
      for (int d = 0; d < D; d++) oi[d] += pij * v[j][d];
    }
  }
}

}  // namespace portable

}  // namespace

const VecOps& vec_ops_portable() {
  static const VecOps ops = {portable::max, portable::sum_sq, portable::sum, portable::exp_shift_sum, portable::scale,
                             portable::gelu, portable::silu, portable::swiglu, portable::qk_tile, portable::pv_tile};
  return ops;
}

const VecOps& vec_ops() {
  static const VecOps& chosen = use_avx512() ? vec_ops_avx512() : use_avx2() ? vec_ops_avx2() : vec_ops_portable();
  return chosen;
}

}  // namespace cpu
}  // namespace gf

// Row primitives for the CPU ops, chosen once at run time: an AVX2/FMA version where the machine has it
// (native/cpu/simd.h), a portable one otherwise. Each call works on a whole row or a whole attention tile so
// the indirect call costs nothing next to the work. All pointers are f32; n is an element count.
//
// Invariance (what batch-invariant attention and activations rest on; within one implementation):
// - maps (exp_shift_sum's outputs, scale, gelu, silu, swiglu) give each element the same bits wherever it sits
//   in the row and however long the row is: a row's tail runs the body's arithmetic on a padded vector;
// - max and exp_shift_sum's sum reduce as if the row were padded with −inf (exact zeros after exp) to the
//   vector width, so −inf entries at the end of a row change nothing;
// - qk_tile forms each score s[i][j] from q[i] and k[j] alone, by operations that do not depend on nq, nk or
//   i, j; pv_tile adds p[i][j]·v[j] to o[i] for j in order, one FMA (or multiply-add) per element, so a zero
//   p leaves o exactly as it was.
#pragma once
#include <cstdint>

namespace gf {
namespace cpu {

struct VecOps {
  // ---- reductions and maps over one row
  float (*max)(const float* x, int64_t n);                              // max of x (−inf when n == 0)
  float (*sum_sq)(const float* x, float center, int64_t n);             // Σ (x − center)²
  float (*sum)(const float* x, int64_t n);                              // Σ x
  float (*exp_shift_sum)(const float* x, float shift, float* out, int64_t n);  // out = exp(x − shift); Σ out
  void (*scale)(float* x, float a, int64_t n);                          // x *= a
  void (*gelu)(const float* x, float* out, int64_t n, bool tanh_approx);
  void (*silu)(const float* x, float* out, int64_t n);
  void (*swiglu)(const float* gate, const float* up, float* out, int64_t n);

  // ---- attention tiles (the flash loop in attention_flash.h); D is the head dim, a multiple of 8, ≤ 256
  // s[i * s_stride + j] = q[i] · k[j] for nq query rows (q contiguous [nq, D]) and nk ≤ 64 key rows.
  // Columns up to nk rounded up to 16 may be written (s_stride must allow it).
  void (*qk_tile)(const float* q, int nq, const float* const* k, int nk, int D, float* s, int s_stride);
  // o[i] += Σ_j p[i * p_stride + j] · v[j] for nq rows of o ([nq, D] contiguous).
  void (*pv_tile)(const float* p, int p_stride, int nq, const float* const* v, int nk, int D, float* o);
};

// The implementation for this machine (portable when GPUFORMER_CPU_BASELINE=1).
const VecOps& vec_ops();

}  // namespace cpu
}  // namespace gf

// The VecOps tables of each CPU tier (vecmath.h states what every one must compute). vec_ops() picks one once,
// by the tier native/cpu/simd.h reports; the tier-capped op tests run each against the float64 references.
#pragma once
#include "cpu/vecmath.h"

namespace gf {
namespace cpu {

// Largest attention tile the kernels take: keys per tile and head dim (attention_flash.cc stays within them).
constexpr int kMaxTileKeys = 64, kMaxHeadDim = 256;

// exp(x) to about 2 ulp as both SIMD tiers compute it, lane for lane (so their outputs agree bit for bit):
// x clamped to [lo, hi], n = round(x · log2e), r = x − n·ln2 (Cody–Waite: ln2_hi then ln2_lo), p(r) by Horner
// over poly (degree 6, the last step y·r² + (r + 1)), times 2^n; inputs below lo (incl. −inf) give exactly 0.
struct ExpConstants {
  static constexpr float lo = -87.33654f, hi = 88.0f, log2e = 1.44269504088896341f;
  static constexpr float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
  static constexpr float poly[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                    4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};
};

const VecOps& vec_ops_portable();  // vecmath.cc
const VecOps& vec_ops_avx2();      // vecmath_avx2.cc (x86-64 only)
const VecOps& vec_ops_avx512();    // vecmath_avx512.cc (x86-64 only)

}  // namespace cpu
}  // namespace gf

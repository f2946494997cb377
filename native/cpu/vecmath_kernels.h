// The VecOps tables of each CPU tier (vecmath.h states what every one must compute). vec_ops() picks one once,
// by the tier native/cpu/simd.h reports; the tier-capped op tests run each against the float64 references.
#pragma once
#include "cpu/vecmath.h"

namespace gf {
namespace cpu {

// Largest attention tile the kernels take: keys per tile and head dim (attention_flash.cc stays within them).
constexpr int kMaxTileKeys = 64, kMaxHeadDim = 256;

const VecOps& vec_ops_portable();  // vecmath.cc
const VecOps& vec_ops_avx2();      // vecmath_avx2.cc (x86-64 only)
const VecOps& vec_ops_avx512();    // vecmath_avx512.cc (x86-64 only)

}  // namespace cpu
}  // namespace gf

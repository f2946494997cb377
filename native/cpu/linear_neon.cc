// The NEON kernels of linear_kernels.h (AArch64, where Advanced SIMD is baseline): the tiles of
// linear_tile.inc on pairs of q registers, the quantized ones in two flavors, widening multiplies (any
// ARMv8-A) and SDOT (FEAT_DotProd, compiled for armv8.2-a+dotprod and chosen at run time, cpu_isa.h). The
// activations are quantized by the portable code: one pass over x per row, next to N passes of the matmul.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <utility>

#include "cpu/linear_kernels.h"

#if defined(__aarch64__)
#include <arm_neon.h>

namespace gf {
namespace cpu {
namespace neon {

namespace widening {
namespace {
constexpr bool kDot = false;
#include "cpu/linear_neon.inc"
}  // namespace
// No timing on Arm here (only emulation), so the tiles are those with the most outputs whose inner loops
// GCC 12 compiles without spilling q registers to the stack (checked in the disassembly). Float tiles of 3
// activation rows × 3 weight rows: 18 q accumulators, 6 for the activations and 2 for a weight vector of the
// 32 (2 × 4 fits too, 3 × 4 and 4 × 3 spill). Quantized tiles of 2 activation rows × 4 weight rows (one q
// register of outputs): the four rows' decoded blocks take 8 q registers and each row's activations 2.
// Bf16 tiles of 2 × 2: each row's sixteen activations take four q registers, and so does a weight step.
const FloatTiles& float_tiles(DType wt) { return float_table<3, 3>(wt); }
const Bf16Tiles& bf16_tiles() { return bf16_table<2, 2>(); }
const QuantTiles& quant_tiles(DType wt) { return quant_table<2>(wt); }
}  // namespace widening

// SDOT: GCC compiles this region for armv8.2-a+dotprod whatever the build's -march. Clang has no such pragma,
// so there the region exists only when the whole build targets dotprod (Apple silicon's default does); a
// clang build for plain ARMv8-A uses the widening kernels even where the CPU has SDOT.
#if !defined(__clang__) || defined(__ARM_FEATURE_DOTPROD)
#define GF_NEON_SDOT 1
#if !defined(__clang__)
#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod")
#endif
namespace sdot {
namespace {
constexpr bool kDot = true;
#include "cpu/linear_neon.inc"
}  // namespace
const QuantTiles& quant_tiles(DType wt) { return quant_table<2>(wt); }
}  // namespace sdot
#if !defined(__clang__)
#pragma GCC pop_options
#endif
#endif

const FloatTiles& float_tiles(DType wt) { return widening::float_tiles(wt); }
const Bf16Tiles& bf16_tiles() { return widening::bf16_tiles(); }

const QuantTiles& quant_tiles(DType wt, bool dotprod) {
#if defined(GF_NEON_SDOT)
  if (dotprod) return sdot::quant_tiles(wt);
#endif
  return widening::quant_tiles(wt);
}

}  // namespace neon
}  // namespace cpu
}  // namespace gf
#endif

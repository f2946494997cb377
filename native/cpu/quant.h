// Integer dot products of quantized weight rows (Q8_0, Q4_0, Q4_1) with activation rows quantized once to
// 8-bit blocks of 32 — the scheme llama.cpp uses for decode: per block one int8 dot product, scaled by
// d_w · d_x, plus the weight offset (Q4_0's −8, Q4_1's minimum m) times the block's activation sum.
// Quantizing x rounds each element to a multiple of d_x = max|x_block| / 127, a relative error of at most
// 1/254 of the block's largest magnitude per element.
#pragma once
#include <cstdint>

#include "gpuformer/dtype.h"

namespace gf {
namespace cpu {

// 32 activations as x ≈ d · qs (qs in [-127, 127]); s = d · Σ qs, the block sum the weight offsets need.
struct BlockQ8Act {
  float d;
  float s;
  int8_t qs[32];
};

// x [K] (K a multiple of 32) → K / 32 blocks. Rounding is to nearest even on every path, so the AVX2 and
// portable versions produce identical blocks.
void quantize_activations(const float* x, BlockQ8Act* out, int64_t K);

// res[r] = Σ_k w[k] · x_r[k] for r < rows (1..4): one weight row of `blocks` blocks of dtype w_dtype and the
// quantized activation rows xq + r * ldx.
using QuantDotFn = void (*)(const void* w, const BlockQ8Act* xq, int64_t ldx, int64_t blocks, int rows, float* res);

constexpr int kQuantDotRows = 4;  // the most activation rows one call takes

// The dot product for a weight dtype on this machine (AVX2 or portable).
QuantDotFn quant_dot(DType w_dtype);

}  // namespace cpu
}  // namespace gf

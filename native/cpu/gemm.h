// The matmul driver behind cpu::linear: tiles of R activation rows × C weight rows (linear_kernels.h) over
// the output, the same kernels for every number of rows M, so that a row's result never depends on M.
// Float weights (f32, f16) are read in place by eight-lane dot products, bf16 ones meet the activations
// rounded to bf16 (AVX512-BF16's dot product where the CPU has it); quantized weights (Q8_0,
// Q4_0, Q4_1) meet the activations quantized once to 8-bit blocks in integer block dot products.
#pragma once
#include <cstdint>

#include "gpuformer/dtype.h"
#include "gpuformer/tensor.h"

namespace gf {
namespace cpu {

// out [M,N] = x [M,K] · w [N,K]ᵀ (+ bias [N] when not null). x, out, bias f32; w any float or quantized
// dtype (K a multiple of 32 when quantized). All arrays contiguous.
struct MatmulArgs {
  const float* x;
  const void* w;
  DType w_dtype;
  const float* bias;
  float* out;
  int64_t M, N, K;
  bool w_row_pairs = false;  // w packed in row pairs (pack_linear_row_pairs); every part of a group alike
};

// Packs an f32 or bf16 CPU weight [N, K] (N even, contiguous, its storage held by nothing else) in row pairs,
// in place, when the active tier's
// tiles read that layout (AVX-512: one 512-bit load per weight pair instead of two halves and an insert, a
// tenth of the GEMM); returns whether it did. Same bits from linear either way. Views of whole row pairs keep the
// layout (Tensor::view).
bool pack_linear_row_pairs(Tensor& w);

void gemm(const MatmulArgs& a);
// Several matmuls of one x (the same x, M and K, one weight dtype; their own w, bias, out and N): x converted
// once, every output tile of all of them in one parallel region. Each out is what gemm() gives for its part.
void gemm_group(const MatmulArgs* parts, int count);

}  // namespace cpu
}  // namespace gf

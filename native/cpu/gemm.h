// The matmul driver behind cpu::linear: tiles of R activation rows × C weight rows (linear_kernels.h) over
// the output, the same kernels for every number of rows M, so that a row's result never depends on M.
// Float weights (f32, f16) are read in place by eight-lane dot products, bf16 ones meet the activations
// rounded to bf16 (AVX512-BF16's dot product where the CPU has it); quantized weights (Q8_0,
// Q4_0, Q4_1) meet the activations quantized once to 8-bit blocks in integer block dot products.
#pragma once
#include <cstdint>

#include "gpuformer/dtype.h"

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
};

void gemm(const MatmulArgs& a);
// Several matmuls of one x (the same x, M and K, one weight dtype; their own w, bias, out and N): x converted
// once, every output tile of all of them in one parallel region. Each out is what gemm() gives for its part.
void gemm_group(const MatmulArgs* parts, int count);

}  // namespace cpu
}  // namespace gf

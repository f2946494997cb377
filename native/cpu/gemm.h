// The two matmul strategies behind cpu::linear (linear.cc picks one by the number of rows M):
//   gemm  — blocked GEMM for many rows: weight panels converted to f32 and packed per K block, micro-kernel
//           tiles (gemm_kernel.h), parallel over (M, N) blocks. Any weight dtype.
//   gemv  — for fewer rows (decode, short inputs): weight rows read in place, no packing, in register tiles
//           against all M rows; f16/bf16 convert in registers, quantized weights meet activations quantized
//           to 8 bits (quant.h) in integer dot products.
#pragma once
#include <cstdint>

#include "gpuformer/dtype.h"

namespace gf {
namespace cpu {

// out [M,N] = x [M,K] · w [N,K]ᵀ (+ bias [N] when not null). x, out, bias f32; w any weight dtype
// (K a multiple of 32 when quantized). All arrays contiguous.
struct MatmulArgs {
  const float* x;
  const void* w;
  DType w_dtype;
  const float* bias;
  float* out;
  int64_t M, N, K;
};

void gemm(const MatmulArgs& a);
void gemv(const MatmulArgs& a);

}  // namespace cpu
}  // namespace gf

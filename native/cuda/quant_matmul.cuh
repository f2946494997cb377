// Quantized matmul family (GGUF Q8_0 / Q4_0 / Q4_1 weights, read in their blocks, never expanded in memory):
// for few rows of activations, a GEMV in the style of llama.cpp's mmvq: the activations are quantized to
// 8 bits per 32-element block, and each weight block is unpacked in registers and multiplied with dp4a
// (four int8 products per instruction). For many rows, linear.cu dequantizes slices of the weight into a
// scratch buffer of the activation dtype and runs a GEMM on them.
#pragma once
#include "cuda/common.cuh"
#include "cuda/norm.cuh"

namespace gf {
namespace cuda {

// 32 activations as int8 with their scale: x ≈ d · q; s = d · Σq (the term the Q4 offsets need).
struct Q8Activations {
  float d;
  float s;
  int32_t qs[8];  // 32 int8 values, four per word, in element order
};

// The most activation rows the GEMV serves; more go through dequantize + GEMM.
constexpr int64_t kQuantGemvMaxRows = 8;

// x [M,K] (float dtype) → blocks [M, K/32]
void launch_quantize_activations(const void* x, DType x_type, int64_t M, int64_t K, Q8Activations* blocks,
                                 cudaStream_t stream);

// out[m, n] = Σ_k w[n,k] · x[m,k] (+ bias[n]) for M ≤ kQuantGemvMaxRows: w [N,K] in blocks of w_type,
// x as quantized blocks [M, K/32], out [M,N] of out_type with row stride ldc.
void launch_quantized_gemv(const void* w, DType w_type, int64_t N, int64_t K, const Q8Activations* x, int64_t M,
                           WeightRef bias, void* out, DType out_type, int64_t ldc, cudaStream_t stream);

}  // namespace cuda
}  // namespace gf

// The row kernels: out[m, n] = x[m, :] · w[n, :] (+ bias[n]) for a few activation rows at a time, built to stream
// the weights at the memory's speed — a decode step multiplies every weight matrix by one row per sequence,
// so it is bound by reading the weights once (DESIGN section 4). Three kernels by weight type, each taking the
// activation rows in chunks of 16 (grid x, the fastest, so a weight tile's chunks run together and share it
// through the L2):
//   f16 / bf16 weights with activations of the same type   tensor cores, m16n8k16, f32 accumulation (gemv.cu)
//   GGUF Q8_0 / Q4_0 / Q4_1 weights                         activations quantized to 8-bit blocks as the CPU
//                                                           does, int8 tensor cores m16n8k32 (quant_matmul.cu)
//   any other float pair (f32, mixed)                       CUDA cores, one warp per weight row (gemv.cu)
// A row's arithmetic never depends on how many rows come with it or where it sits among them: the split of
// K over warps and blocks is fixed by N, K and the device alone, partial sums are added in a fixed order, and
// the tensor cores compute each output element from its own row and column only. So the same kernels over
// any M are linear()'s batch-invariant mode (linear_batch_invariant), and by default they serve M ≤ 16.
#pragma once
#include <string>

#include "cuda/common.cuh"
#include "cuda/norm.cuh"

namespace gf {
namespace cuda {

// Activation rows one launch chunk holds (the M of one m16n8 tensor-core tile).
constexpr int64_t kRowChunk = 16;
// The most rows linear() sends to the row kernels by default; more go to cuBLASLt / dequantize + GEMM.
constexpr int64_t kDecodeMaxRows = 16;

struct RowsMatmul {
  const void* x = nullptr;  // [M, K] row-major, x_dtype (f32, f16 or bf16)
  const void* w = nullptr;  // [N, K] row-major, w_dtype (float or a GGUF block type)
  WeightRef bias;           // [N] or absent
  void* out = nullptr;      // [M, N] with row stride ldc, of x_dtype
  DType x_dtype = DType::F32, w_dtype = DType::F32;
  int64_t M = 0, N = 0, K = 0, ldc = 0;
};

// Runs the product on the row kernels; false (nothing enqueued, the reason in *why) when none takes it: a GGUF
// weight whose data does not start 16-byte aligned, or a grid past CUDA's limits.
bool launch_rows_matmul(const RowsMatmul& p, int device, cudaStream_t stream, std::string* why);

// Warps per block the row kernels split K over: enough blocks × warps to fill the device whatever N is, and a
// function of N and the device only (never of M: batch invariance).
int row_kernel_warps(int64_t N, int device);

// The f16 / bf16 and generic float kernels (gemv.cu) and the GGUF block kernels (quant_matmul.cu).
bool launch_rows_float(const RowsMatmul& p, int device, cudaStream_t stream, std::string* why);
bool launch_rows_quantized(const RowsMatmul& p, int device, cudaStream_t stream, std::string* why);

}  // namespace cuda
}  // namespace gf

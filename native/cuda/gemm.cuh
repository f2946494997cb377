// Linear/GEMM family: C[M,N] = A[M,K] · B[N,K]ᵀ (+ bias[N]), the layout of nn.Linear (x · wᵀ), f32
// accumulation. linear.cu picks cuBLASLt when it loads and these built-in kernels otherwise: a tiled
// tensor-core kernel for f16/bf16 and a tiled CUDA-core kernel for f32 (and for shapes the tensor-core
// kernel's 16-byte loads cannot take).
#pragma once
#include "cuda/common.cuh"
#include "cuda/norm.cuh"

namespace gf {
namespace cuda {

struct GemmArgs {
  const void* a = nullptr;  // [M,K] row-major
  const void* b = nullptr;  // [N,K] row-major (a weight matrix)
  void* c = nullptr;        // [M,N] with row stride ldc
  WeightRef bias;           // [N] or absent
  int64_t M = 0, N = 0, K = 0, ldc = 0;
  DType dtype = DType::F32;  // of a, b and c
};

void launch_gemm_builtin(const GemmArgs& g, cudaStream_t stream);

// c[m, n] += bias[n] for an [M,N] matrix with row stride ldc (when a GEMM could not fuse it).
void launch_add_bias(void* c, DType dtype, WeightRef bias, int64_t M, int64_t N, int64_t ldc, cudaStream_t stream);

}  // namespace cuda
}  // namespace gf

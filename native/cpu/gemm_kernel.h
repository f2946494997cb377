// The register-blocked micro-kernels of the CPU GEMM (gemm.cc): one MR × 16 tile of out per call, from MR
// rows of x (read in place, row stride lda) and one packed panel of 16 weight rows (bp[k * 16 + j] = w[j][k],
// already f32). On AVX2 the tile lives in 12 ymm registers (6 × 2) and each k is 2 loads, 6 broadcasts and
// 12 FMAs; the portable version is the same loop nest for the compiler to vectorize at the baseline ISA.
#pragma once
#include <cstdint>

namespace gf {
namespace cpu {

constexpr int kGemmMR = 6;   // x rows per tile
constexpr int kGemmNR = 16;  // weight rows (output columns) per tile and per packed panel

// c[i * ldc + j] (i < MR, j < nr ≤ 16) = (accumulate ? c : bias[j] or 0) + Σ_k a[i * lda + k] · bp[k * 16 + j].
// bias may be null; it is only read when !accumulate (the first K block adds it).
using GemmMicroKernel = void (*)(int64_t kc, const float* a, int64_t lda, const float* bp, float* c, int64_t ldc,
                                 int nr, bool accumulate, const float* bias);

struct GemmKernels {
  GemmMicroKernel tile[kGemmMR + 1];  // tile[mr] for mr = 1..6 rows
};

// The kernels for this machine (portable when GPUFORMER_CPU_BASELINE=1 or without AVX2/FMA).
const GemmKernels& gemm_kernels();

}  // namespace cpu
}  // namespace gf

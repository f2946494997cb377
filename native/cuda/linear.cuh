// linear(): out = x · wᵀ + bias. Which path serves a call:
//   M ≤ 16 rows (decode), f16 / bf16 / GGUF-block weights → the row kernels (gemv.cuh), which stream the
//                                   weights; GPUFORMER_CUDA_DECODE_KERNELS=0 or set_decode_kernels(false)
//                                   sends these to the paths below instead
//   w quantized, or w's dtype differs from x's → the weight converted / dequantized slice by slice into a
//                                   scratch buffer of x's dtype, then the GEMM below on each slice
//   otherwise                      → GEMM: cuBLASLt (f32 accumulation, bias epilogue) when it loads,
//                                   else the built-in kernels (gemm.cu)
// cuBLASLt chooses its algorithm (tile shape, split-K) by M, and the row kernels and the GEMMs add in different
// orders, so by default a row's result depends on how many rows share the call. linear_batch_invariant() runs
// every M on the row kernels, whose per-row arithmetic is fixed.
#pragma once
#include "cuda/gemm.cuh"
#include "cuda/quant.cuh"

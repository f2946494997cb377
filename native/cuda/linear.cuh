// linear(): out = x · wᵀ + bias. Which path serves a call:
//   w quantized and M ≤ 8 rows   → quantized GEMV with dp4a (quant_matmul.cu)
//   w quantized, or w's dtype differs from x's → the weight converted / dequantized slice by slice into a
//                                   scratch buffer of x's dtype, then the GEMM below on each slice
//   otherwise                      → GEMM: cuBLASLt (f32 accumulation, bias epilogue) when it loads,
//                                   else the built-in kernels (gemm.cu)
#pragma once
#include "cuda/gemm.cuh"

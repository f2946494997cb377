// Float rows → the GGUF block formats (Q8_0, Q4_0, Q4_1), bit for bit as ggml's reference quantizers write
// them (quantize_row_q8_0_ref / q4_0_ref / q4_1_ref in ggml-quants.c): the same f32 operations in the same
// order, each rounded on its own (no fused multiply-add), f16 scales rounded to nearest even. This is the one
// quantizer of the project: weights quantized while loading (dtype 'q8_0' | 'q4_0' | 'q4_1'), the cast op,
// and the GGUF writers of the tests and benchmarks all come here, so their blocks cannot differ.
//
// Per 32-element block x (layouts in gpuformer/dtype.h):
//   Q8_0  amax = max |x|;  d = amax / 127;  id = d ? 1 / d : 0;  q = roundf(x · id)        (half away from 0)
//   Q4_0  max = the first x of largest |x|;  d = max / −8;  id = d ? 1 / d : 0;
//         q = min(15, (int8) (x · id + 8.5))                                               (truncation)
//   Q4_1  min, max of x;  d = (max − min) / 15;  id = d ? 1 / d : 0;  m = min;
//         q = min(15, (int8) ((x − min) · id + 0.5))
// d (and m) are stored as f16; the quants are computed from the f32 d, as the reference does. Where the
// reference is undefined (1 / d overflows for a block of f32 subnormals, so x · id is ±inf or NaN) the quant
// saturates: NaN → 0 (Q8_0) or the lowest level (Q4), ±inf → the extreme level; such a block's f16 scale is 0.
#pragma once
#include <cstdint>

#include "gpuformer/dtype.h"

namespace gf {
namespace cpu {

// n f32 values (a multiple of 32) → n / 32 blocks of dst_dtype (Q8_0, Q4_0 or Q4_1), exactly the reference.
void quantize_row(const float* x, void* dst, DType dst_dtype, int64_t n);

// n elements of a float dtype (f32, f16, bf16; a multiple of 32) → blocks of dst_dtype, across the thread
// pool. Refuses (ERR_GPUFORMER_INPUT, naming the element) what blocks cannot hold: a value that is not finite,
// or a block whose f16 scale or minimum would overflow (|x| past 65504 · 127 for Q8_0, 65504 · 8 for Q4_0,
// (max − min) past 65504 · 15 or |min| past 65504 for Q4_1), since such a block dequantizes to inf or NaN.
void quantize(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t n);

}  // namespace cpu
}  // namespace gf

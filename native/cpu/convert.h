// Element conversion between dtypes on the host: float ↔ float, quantized → float, and same-type copies.
// Used by the cast op and by weight loading (conversion happens while streaming from the file).
#pragma once
#include <cstdint>

#include "gpuformer/dtype.h"

namespace gf {
namespace cpu {

// Converts n elements (n a multiple of 32 when src is quantized). Throws ERR_GPUFORMER_UNSUPPORTED for
// pairs that have no meaning (float → quantized, integer ↔ float).
void convert(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t n);

// Dequantizes n elements (a multiple of 32) of a Q8_0 / Q4_0 / Q4_1 row into f32.
void dequantize_row(const void* src, DType src_dtype, float* dst, int64_t n);

}  // namespace cpu
}  // namespace gf

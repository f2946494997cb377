// Element conversion between dtypes on the host: float ↔ float, quantized ↔ float, and same-type copies.
// Used by the cast op, by weight loading (conversion happens while streaming from the file) and by the
// matmul, which converts weight tiles to f32 as it packs them. AVX2/F16C variants are picked at run time.
#pragma once
#include <cstdint>

#include "gpuformer/dtype.h"

namespace gf {
namespace cpu {

// Converts n elements (n a multiple of 32 when either side is quantized). Float → quantized is the reference
// quantizer of quantize.h (which refuses non-finite values and scales past f16). Throws
// ERR_GPUFORMER_UNSUPPORTED for pairs that have no meaning (quantized → another block format, integer ↔ float).
void convert(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t n);

// n elements of a float or quantized array (src at a block boundary, n a multiple of 32 when quantized) → f32.
void to_f32(const void* src, DType src_dtype, float* dst, int64_t n);

// n f32 → a float dtype (f32, f16 or bf16), rounding to nearest even.
void from_f32(const float* src, void* dst, DType dst_dtype, int64_t n);

// Dequantizes n elements (a multiple of 32) of a Q8_0 / Q4_0 / Q4_1 row into f32.
void dequantize_row(const void* src, DType src_dtype, float* dst, int64_t n);

// The address of element `elem` of a row-major array of `dtype` (elem at a block boundary when quantized).
inline const void* element_ptr(const void* base, DType dtype, int64_t elem) {
  return static_cast<const char*>(base) + dtype_bytes(dtype, elem);
}

}  // namespace cpu
}  // namespace gf

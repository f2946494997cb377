#include "cpu/convert.h"

#include <cstring>

#include "gpuformer/error.h"

namespace gf {
namespace cpu {
namespace {

template <typename Load>
void to_float_types(int64_t n, void* dst, DType dst_dtype, Load load) {
  switch (dst_dtype) {
    case DType::F32: {
      float* d = static_cast<float*>(dst);
      for (int64_t i = 0; i < n; i++) d[i] = load(i);
      return;
    }
    case DType::F16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; i++) d[i] = f32_to_f16(load(i));
      return;
    }
    case DType::BF16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; i++) d[i] = f32_to_bf16(load(i));
      return;
    }
    default:
      fail(ErrorCode::Unsupported, "cannot convert to ", dtype_name(dst_dtype));
  }
}

}  // namespace

void dequantize_row(const void* src, DType src_dtype, float* dst, int64_t n) {
  const int64_t blocks = n / kQuantBlock;
  switch (src_dtype) {
    case DType::Q8_0: {
      const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
      for (int64_t i = 0; i < blocks; i++) {
        const float d = f16_to_f32(b[i].d);
        for (int j = 0; j < 32; j++) dst[i * 32 + j] = d * b[i].qs[j];
      }
      return;
    }
    case DType::Q4_0: {
      const BlockQ4_0* b = static_cast<const BlockQ4_0*>(src);
      for (int64_t i = 0; i < blocks; i++) {
        const float d = f16_to_f32(b[i].d);
        for (int j = 0; j < 16; j++) {
          dst[i * 32 + j] = d * (static_cast<int>(b[i].qs[j] & 0x0f) - 8);
          dst[i * 32 + j + 16] = d * (static_cast<int>(b[i].qs[j] >> 4) - 8);
        }
      }
      return;
    }
    case DType::Q4_1: {
      const BlockQ4_1* b = static_cast<const BlockQ4_1*>(src);
      for (int64_t i = 0; i < blocks; i++) {
        const float d = f16_to_f32(b[i].d), m = f16_to_f32(b[i].m);
        for (int j = 0; j < 16; j++) {
          dst[i * 32 + j] = d * (b[i].qs[j] & 0x0f) + m;
          dst[i * 32 + j + 16] = d * (b[i].qs[j] >> 4) + m;
        }
      }
      return;
    }
    default:
      fail(ErrorCode::Unsupported, "dequantize_row: ", dtype_name(src_dtype), " is not a quantized type");
  }
}

void convert(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t n) {
  if (src_dtype == dst_dtype) {
    std::memcpy(dst, src, dtype_bytes(src_dtype, n));
    return;
  }
  GF_CHECK(is_float(dst_dtype), Unsupported, "cannot convert ", dtype_name(src_dtype), " to ", dtype_name(dst_dtype));
  switch (src_dtype) {
    case DType::F32: {
      const float* s = static_cast<const float*>(src);
      to_float_types(n, dst, dst_dtype, [s](int64_t i) { return s[i]; });
      return;
    }
    case DType::F16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      to_float_types(n, dst, dst_dtype, [s](int64_t i) { return f16_to_f32(s[i]); });
      return;
    }
    case DType::BF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      to_float_types(n, dst, dst_dtype, [s](int64_t i) { return bf16_to_f32(s[i]); });
      return;
    }
    case DType::Q8_0: case DType::Q4_0: case DType::Q4_1: {
      // Dequantize a few blocks at a time through a small f32 buffer.
      constexpr int64_t kChunk = 1024;
      float tmp[kChunk];
      const size_t block_bytes = dtype_unit_bytes(src_dtype);
      for (int64_t i = 0; i < n; i += kChunk) {
        const int64_t m = n - i < kChunk ? n - i : kChunk;
        dequantize_row(static_cast<const char*>(src) + (i / kQuantBlock) * block_bytes, src_dtype, tmp, m);
        to_float_types(m, static_cast<char*>(dst) + dtype_bytes(dst_dtype, i), dst_dtype, [&tmp](int64_t j) { return tmp[j]; });
      }
      return;
    }
    default:
      fail(ErrorCode::Unsupported, "cannot convert ", dtype_name(src_dtype), " to ", dtype_name(dst_dtype));
  }
}

}  // namespace cpu
}  // namespace gf

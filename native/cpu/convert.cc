// Conversions through f32: every float or quantized source converts to f32, f32 converts to every float
// type, float → quantized goes to the reference quantizer (quantize.cc), and other pairs go through a small f32
// buffer. Portable loops plus AVX2/F16C versions of the hot
// ones (f16/bf16 ↔ f32 and block dequantization), chosen once per call by use_avx2().
#include "cpu/convert.h"

#include <cstring>

#include "cpu/quantize.h"
#include "cpu/simd.h"
#include "gpuformer/error.h"

#include "cpu/avx2_target.h"

namespace gf {
namespace cpu {
namespace {

// ------------------------------------------------------------------------------------------------ portable
namespace portable {

void dequantize(const void* src, DType src_dtype, float* dst, int64_t n) {
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

void to_f32(const void* src, DType src_dtype, float* dst, int64_t n) {
  switch (src_dtype) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case DType::F16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; i++) dst[i] = f16_to_f32(s[i]);
      return;
    }
    case DType::BF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    default:
      dequantize(src, src_dtype, dst, n);
  }
}

void from_f32(const float* src, void* dst, DType dst_dtype, int64_t n) {
  switch (dst_dtype) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case DType::F16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; i++) d[i] = f32_to_f16(src[i]);
      return;
    }
    case DType::BF16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; i++) d[i] = f32_to_bf16(src[i]);
      return;
    }
    default:
      fail(ErrorCode::Unsupported, "cannot convert to ", dtype_name(dst_dtype));
  }
}

}  // namespace portable

// ---------------------------------------------------------------------------------------------------- AVX2
#ifdef GF_HAVE_AVX2_PATH
namespace avx2 {

GF_AVX2 inline __m256 load_f16x8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
GF_AVX2 inline __m256 load_bf16x8(const uint16_t* p) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}
// 8 bytes → 8 f32 (signed or unsigned bytes)
GF_AVX2 inline __m256 i8x8_to_f32(const void* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(static_cast<const __m128i*>(p))));
}
GF_AVX2 inline __m256 u8x8_to_f32(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)); }

// A Q4 block's 16 bytes as 32 nibble values in element order: lo nibbles (elements 0..15), hi (16..31).
GF_AVX2 inline void unpack_nibbles(const uint8_t* qs, __m128i* lo, __m128i* hi) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i mask = _mm_set1_epi8(0x0f);
  *lo = _mm_and_si128(raw, mask);
  *hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
}

// Writes d * q + m for 16 nibble values (Q4_1), or d * (q − 8) with m null (Q4_0: the product as the
// format defines it, so a zero keeps the sign of d exactly as the portable path gives it).
GF_AVX2 inline void store_nibbles(__m128i q, __m256 d, const __m256* m, float* dst) {
  if (!m) q = _mm_sub_epi8(q, _mm_set1_epi8(8));
  for (int half = 0; half < 2; half++, q = _mm_srli_si128(q, 8)) {
    const __m256 v = m ? u8x8_to_f32(q) : _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
    _mm256_storeu_ps(dst + 8 * half, m ? _mm256_fmadd_ps(d, v, *m) : _mm256_mul_ps(d, v));
  }
}

GF_AVX2 void dequantize(const void* src, DType src_dtype, float* dst, int64_t n) {
  const int64_t blocks = n / kQuantBlock;
  switch (src_dtype) {
    case DType::Q8_0: {
      const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
      for (int64_t i = 0; i < blocks; i++, dst += 32) {
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(b[i].d));
        for (int j = 0; j < 32; j += 8) _mm256_storeu_ps(dst + j, _mm256_mul_ps(d, i8x8_to_f32(b[i].qs + j)));
      }
      return;
    }
    case DType::Q4_0: {
      const BlockQ4_0* b = static_cast<const BlockQ4_0*>(src);
      for (int64_t i = 0; i < blocks; i++, dst += 32) {
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(b[i].d));
        __m128i lo, hi;
        unpack_nibbles(b[i].qs, &lo, &hi);
        store_nibbles(lo, d, nullptr, dst);
        store_nibbles(hi, d, nullptr, dst + 16);
      }
      return;
    }
    case DType::Q4_1: {
      const BlockQ4_1* b = static_cast<const BlockQ4_1*>(src);
      for (int64_t i = 0; i < blocks; i++, dst += 32) {
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(b[i].d)), m = _mm256_set1_ps(_cvtsh_ss(b[i].m));
        __m128i lo, hi;
        unpack_nibbles(b[i].qs, &lo, &hi);
        store_nibbles(lo, d, &m, dst);
        store_nibbles(hi, d, &m, dst + 16);
      }
      return;
    }
    default:
      portable::dequantize(src, src_dtype, dst, n);
  }
}

GF_AVX2 void to_f32(const void* src, DType src_dtype, float* dst, int64_t n) {
  const uint16_t* s = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  switch (src_dtype) {
    case DType::F16:
      for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_f16x8(s + i));
      for (; i < n; i++) dst[i] = _cvtsh_ss(s[i]);
      return;
    case DType::BF16:
      for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_bf16x8(s + i));
      for (; i < n; i++) dst[i] = bf16_to_f32(s[i]);
      return;
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    default:
      dequantize(src, src_dtype, dst, n);
  }
}

// Round-to-nearest-even f32 → bf16 on 8 lanes; NaN stays a (quiet) NaN as in f32_to_bf16.
GF_AVX2 inline __m128i f32x8_to_bf16(__m256 v) {
  const __m256i x = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
  __m256i r = _mm256_srli_epi32(_mm256_add_epi32(x, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
  const __m256i nan_bits = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(0x40));
  const __m256 is_nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
  r = _mm256_blendv_epi8(r, nan_bits, _mm256_castps_si256(is_nan));
  r = _mm256_and_si256(r, _mm256_set1_epi32(0xffff));
  // pack 8 × u32 (each < 65536) to 8 × u16: packus works per 128-bit lane, then fix the lane order
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
  return _mm256_castsi256_si128(packed);
}

GF_AVX2 void from_f32(const float* src, void* dst, DType dst_dtype, int64_t n) {
  uint16_t* d = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  switch (dst_dtype) {
    case DType::F16:
      for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), h);
      }
      for (; i < n; i++) d[i] = f32_to_f16(src[i]);
      return;
    case DType::BF16:
      for (; i + 8 <= n; i += 8) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), f32x8_to_bf16(_mm256_loadu_ps(src + i)));
      }
      for (; i < n; i++) d[i] = f32_to_bf16(src[i]);
      return;
    default:
      portable::from_f32(src, dst, dst_dtype, n);
  }
}

}  // namespace avx2
#endif

}  // namespace

void dequantize_row(const void* src, DType src_dtype, float* dst, int64_t n) {
  GF_CHECK(is_quantized(src_dtype), Unsupported, "dequantize_row: ", dtype_name(src_dtype), " is not a quantized type");
#ifdef GF_HAVE_AVX2_PATH
  if (use_avx2()) return avx2::dequantize(src, src_dtype, dst, n);
#endif
  portable::dequantize(src, src_dtype, dst, n);
}

void to_f32(const void* src, DType src_dtype, float* dst, int64_t n) {
  GF_CHECK(is_float(src_dtype) || is_quantized(src_dtype), Unsupported, "cannot convert ", dtype_name(src_dtype),
           " to f32");
#ifdef GF_HAVE_AVX2_PATH
  if (use_avx2()) return avx2::to_f32(src, src_dtype, dst, n);
#endif
  portable::to_f32(src, src_dtype, dst, n);
}

void from_f32(const float* src, void* dst, DType dst_dtype, int64_t n) {
  GF_CHECK(is_float(dst_dtype), Unsupported, "cannot convert f32 to ", dtype_name(dst_dtype));
#ifdef GF_HAVE_AVX2_PATH
  if (use_avx2()) return avx2::from_f32(src, dst, dst_dtype, n);
#endif
  portable::from_f32(src, dst, dst_dtype, n);
}

void convert(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t n) {
  if (src_dtype == dst_dtype) {
    std::memcpy(dst, src, dtype_bytes(src_dtype, n));
    return;
  }
  if (is_quantized(dst_dtype) && is_float(src_dtype)) return quantize(src, src_dtype, dst, dst_dtype, n);
  GF_CHECK(is_float(dst_dtype) && (is_float(src_dtype) || is_quantized(src_dtype)), Unsupported, "cannot convert ",
           dtype_name(src_dtype), " to ", dtype_name(dst_dtype));
  if (dst_dtype == DType::F32) return to_f32(src, src_dtype, static_cast<float*>(dst), n);
  if (src_dtype == DType::F32) return from_f32(static_cast<const float*>(src), dst, dst_dtype, n);
  // Other pairs go through a small f32 buffer (a multiple of the block size, so quantized chunks stay whole).
  constexpr int64_t kChunk = 1024;
  float tmp[kChunk];
  for (int64_t i = 0; i < n; i += kChunk) {
    const int64_t m = n - i < kChunk ? n - i : kChunk;
    to_f32(element_ptr(src, src_dtype, i), src_dtype, tmp, m);
    from_f32(tmp, static_cast<char*>(dst) + dtype_bytes(dst_dtype, i), dst_dtype, m);
  }
}

}  // namespace cpu
}  // namespace gf

// Element types. Float and integer types are plain arrays; Q8_0 / Q4_0 / Q4_1 are GGUF block formats of 32
// elements along the last dimension (the layout llama.cpp uses, so GGUF bytes are used as they are).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace gf {

enum class DType : int { F32 = 0, F16, BF16, I32, I64, I8, Q8_0, Q4_0, Q4_1 };

constexpr int kQuantBlock = 32;  // elements per quantized block

// Q8_0: w = d * q
struct BlockQ8_0 { uint16_t d; int8_t qs[32]; };
// Q4_0: w = d * (q - 8), q = 4-bit; byte j holds element j (low nibble) and j + 16 (high nibble)
struct BlockQ4_0 { uint16_t d; uint8_t qs[16]; };
// Q4_1: w = d * q + m
struct BlockQ4_1 { uint16_t d; uint16_t m; uint8_t qs[16]; };
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block is 34 bytes");
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block is 18 bytes");
static_assert(sizeof(BlockQ4_1) == 20, "Q4_1 block is 20 bytes");

inline bool is_quantized(DType t) { return t == DType::Q8_0 || t == DType::Q4_0 || t == DType::Q4_1; }
inline bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }
inline bool is_integer(DType t) { return t == DType::I32 || t == DType::I64 || t == DType::I8; }

// Bytes of one element (plain types) or of one 32-element block (quantized types).
inline size_t dtype_unit_bytes(DType t) {
  switch (t) {
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: return 2;
    case DType::I64: return 8;
    case DType::I8: return 1;
    case DType::Q8_0: return sizeof(BlockQ8_0);
    case DType::Q4_0: return sizeof(BlockQ4_0);
    case DType::Q4_1: return sizeof(BlockQ4_1);
  }
  return 0;
}

// Bytes of `numel` elements (numel must be a multiple of 32 for quantized types).
inline size_t dtype_bytes(DType t, int64_t numel) {
  if (is_quantized(t)) return static_cast<size_t>(numel / kQuantBlock) * dtype_unit_bytes(t);
  return static_cast<size_t>(numel) * dtype_unit_bytes(t);
}

const char* dtype_name(DType t);
bool dtype_from_name(const std::string& name, DType* out);

// ---- scalar conversions (portable; the kernels use vector versions where they matter)
inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      exp = 127 - 15 + 1;
      while ((mant & 0x400) == 0) { mant <<= 1; exp--; }
      mant &= 0x3ff;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t f32_to_f16(float f) {  // round to nearest even
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000;
  const uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00);  // overflow -> inf
  if (absx < 0x38800000u) {  // subnormal or zero in f16
    if (absx < 0x33000000u) return static_cast<uint16_t>(sign);
    // value = m * 2^(e - 150); in units of the f16 subnormal step 2^-24 that is m >> (126 - e)
    const uint32_t e = absx >> 23;
    const uint32_t m = (absx & 0x7fffff) | 0x800000;
    const uint32_t shift = 126 - e;  // 14..24
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    return static_cast<uint16_t>(sign | q);
  }
  uint32_t h = ((absx - 0x38000000u) >> 13);
  const uint32_t rem = absx & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
  return static_cast<uint16_t>(sign | h);
}

inline float bf16_to_f32(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t f32_to_bf16(float f) {  // round to nearest even, NaN stays NaN
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40);
  x += 0x7fff + ((x >> 16) & 1);
  return static_cast<uint16_t>(x >> 16);
}

}  // namespace gf

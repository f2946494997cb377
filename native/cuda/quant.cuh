// GGUF block formats on the device (layouts in gpuformer/dtype.h): dequantizing one element or a run of
// elements, shared by cast (dequantize), embedding (quantized token tables) and the quantized matmuls.
#pragma once
#include "cuda/common.cuh"

namespace gf {
namespace cuda {

__device__ __forceinline__ float half_bits_to_f32(uint16_t h) { return __half2float(__ushort_as_half(h)); }

// Block types as template parameters: the struct, and how to read element j (0..31) of a block.
struct Q8_0 {
  using Block = BlockQ8_0;
  static __device__ __forceinline__ float get(const Block& b, int j) {
    return half_bits_to_f32(b.d) * static_cast<float>(b.qs[j]);
  }
};

struct Q4_0 {
  using Block = BlockQ4_0;
  static __device__ __forceinline__ float get(const Block& b, int j) {
    const int byte = b.qs[j & 15];
    const int q = j < 16 ? (byte & 0xf) : (byte >> 4);
    return half_bits_to_f32(b.d) * static_cast<float>(q - 8);
  }
};

struct Q4_1 {
  using Block = BlockQ4_1;
  static __device__ __forceinline__ float get(const Block& b, int j) {
    const int byte = b.qs[j & 15];
    const int q = j < 16 ? (byte & 0xf) : (byte >> 4);
    return half_bits_to_f32(b.d) * static_cast<float>(q) + half_bits_to_f32(b.m);
  }
};

// Element i of a row-major matrix stored in quantized blocks along its rows (i counts elements).
template <typename Q>
__device__ __forceinline__ float dequant_at(const void* base, int64_t i) {
  const auto* blocks = static_cast<const typename Q::Block*>(base);
  return Q::get(blocks[i / kQuantBlock], static_cast<int>(i % kQuantBlock));
}

// Calls f(Q{}) for a quantized DType.
template <typename F>
void with_quant_type(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Q8_0: f(Q8_0{}); return;
    case DType::Q4_0: f(Q4_0{}); return;
    case DType::Q4_1: f(Q4_1{}); return;
    default: fail(ErrorCode::Input, op, ": expected q8_0, q4_0 or q4_1, got ", dtype_name(t));
  }
}

}  // namespace cuda
}  // namespace gf

// Reading rows of weight-like tensors (f32, f16, bf16, and the Q8_0/Q4_0/Q4_1 blocks) as f32, for ops whose
// activations are f32 but whose tables or weights may be stored in half precision or quantized.
#pragma once
#include <cstdint>
#include <vector>

#include "cpu/convert.h"
#include "gpuformer/tensor.h"

namespace gf {
namespace cpu {

// the rows of a tensor packed for the CPU linear as written (gemm.cc, beside the packing)
void load_packed_f32(const Tensor& t, int64_t first, int64_t n, float* dst);

// dst[0..n) = t's elements [first, first + n) as f32 (first and n multiples of 32 for quantized tensors; whole
// rows of a tensor packed for the CPU's linear, such as a token embedding that is also the LM head).
inline void load_f32(const Tensor& t, int64_t first, int64_t n, float* dst) {
  if (t.packed_rows != 0) return load_packed_f32(t, first, n, dst);
  const char* src = static_cast<const char*>(t.raw()) + dtype_bytes(t.dtype, first);
  switch (t.dtype) {
    case DType::F32: {
      const float* s = reinterpret_cast<const float*>(src);
      for (int64_t i = 0; i < n; i++) dst[i] = s[i];
      return;
    }
    case DType::F16: {
      const uint16_t* s = reinterpret_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; i++) dst[i] = f16_to_f32(s[i]);
      return;
    }
    case DType::BF16: {
      const uint16_t* s = reinterpret_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    default:
      dequantize_row(src, t.dtype, dst, n);
  }
}

// A whole 1-D weight (norm gains, biases) as f32; small, converted once per call.
inline std::vector<float> weight_f32(const Tensor& t) {
  std::vector<float> w(static_cast<size_t>(t.numel()));
  load_f32(t, 0, t.numel(), w.data());
  return w;
}

}  // namespace cpu
}  // namespace gf

// Embedding family: out[t] = scale · tok[ids[t]] + pos[posIds[t]] + type[typeIds[t]] in one pass. Token
// tables may be quantized (GGUF); ids are checked on the device and clamped (device_faults.h).
#pragma once
#include "cuda/common.cuh"
#include "cuda/quant.cuh"

namespace gf {
namespace cuda {

// Reads N consecutive elements of a row-major table as f32. Float tables use 16-byte loads when N > 1
// (the launcher only picks N > 1 when rows and pointers are aligned); GGUF tables decode their blocks.
template <typename Src>
struct TableReader {
  template <int N>
  static __device__ __forceinline__ void read(const void* base, int64_t row, int64_t C, int64_t c, float* v) {
    const Src* p = static_cast<const Src*>(base) + row * C + c;
    if constexpr (N > 1) {
#pragma unroll
      for (int j = 0; j < N; j += kVecElems<Src>) {
        const Vec<Src> w = load_vec(p + j);
#pragma unroll
        for (int k = 0; k < kVecElems<Src>; k++) v[j + k] = to_f32(w.v[k]);
      }
    } else {
      v[0] = to_f32(p[0]);
    }
  }
};

template <typename Q>
struct QuantTableReader {
  template <int N>
  static __device__ __forceinline__ void read(const void* base, int64_t row, int64_t C, int64_t c, float* v) {
#pragma unroll
    for (int j = 0; j < N; j++) v[j] = dequant_at<Q>(base, row * C + c + j);
  }
};

}  // namespace cuda
}  // namespace gf

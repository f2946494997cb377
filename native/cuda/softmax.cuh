// Softmax family: softmax over the last dim of [R,C], one block per row, f32 accumulation.
#pragma once
#include "cuda/common.cuh"

namespace gf {
namespace cuda {

// Running (max, sum of exp(x - max)) pair, merged across threads: the one-pass softmax statistics.
struct MaxSum {
  float m = -INFINITY;
  float s = 0.0f;
  __device__ __forceinline__ void add(float x) {
    if (x == -INFINITY) return;  // a masked entry adds nothing (and -inf - -inf would be NaN)
    if (x > m) {
      s = s * __expf(m - x) + 1.0f;
      m = x;
    } else {
      s += __expf(x - m);
    }
  }
  __device__ __forceinline__ void merge(MaxSum o) {
    const float mm = fmaxf(m, o.m);
    if (mm == -INFINITY) return;
    s = s * __expf(m - mm) + o.s * __expf(o.m - mm);
    m = mm;
  }
};

__device__ __forceinline__ MaxSum warp_merge(MaxSum v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    MaxSum other;
    other.m = __shfl_xor_sync(0xffffffffu, v.m, o);
    other.s = __shfl_xor_sync(0xffffffffu, v.s, o);
    v.merge(other);
  }
  return v;
}

}  // namespace cuda
}  // namespace gf

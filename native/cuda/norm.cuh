// Norm family: LayerNorm and RMSNorm, each optionally fused with the residual add that precedes it
// (residual += x, then normalize the sum), one block per row, f32 statistics.
#pragma once
#include "cuda/common.cuh"

namespace gf {
namespace cuda {

// A weight vector of any float dtype, read as f32 (norm weights are small and stored as the model has them).
struct WeightRef {
  const void* p = nullptr;
  DType dtype = DType::F32;
};

__device__ __forceinline__ float load_weight(WeightRef w, int64_t i) {
  switch (w.dtype) {
    case DType::F16: return to_f32(static_cast<const half*>(w.p)[i]);
    case DType::BF16: return to_f32(static_cast<const bf16*>(w.p)[i]);
    default: return static_cast<const float*>(w.p)[i];
  }
}

inline WeightRef weight_ref(const Tensor* t) { return t ? WeightRef{t->raw(), t->dtype} : WeightRef{}; }

}  // namespace cuda
}  // namespace gf

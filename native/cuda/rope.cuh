// RoPE family: rotary position embedding applied in place to [T,H,D] queries or keys, in the Hugging Face
// rotate-half layout (pairs i, i + R/2) or the interleaved GGUF / GPT-J layout (pairs 2i, 2i+1).
#pragma once
#include "cuda/common.cuh"

namespace gf {
namespace cuda {

// Index of the two elements rotated together by frequency i, for rotary dim R.
__device__ __forceinline__ void rope_pair(bool interleaved, int i, int R, int* a, int* b) {
  if (interleaved) {
    *a = 2 * i;
    *b = 2 * i + 1;
  } else {
    *a = i;
    *b = i + R / 2;
  }
}

}  // namespace cuda
}  // namespace gf

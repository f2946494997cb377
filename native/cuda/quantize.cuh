// Float → GGUF blocks on the device: the cast op's quantizing direction, the same reference formulas as the
// CPU's (native/cpu/quantize.h), with every f32 step an IEEE-rounded intrinsic so that fast math can neither
// fuse nor approximate it.
#pragma once
#include "cuda/common.cuh"

namespace gf {
namespace cuda {

// n elements of float x (x_type f32, f16 or bf16; n a multiple of 32) → n / 32 blocks of out_type at out.
void launch_quantize(const void* x, DType x_type, void* out, DType out_type, int64_t n, cudaStream_t stream);

}  // namespace cuda
}  // namespace gf

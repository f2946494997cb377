// Elementwise family: cast (incl. dequantize), add, copy. The converter is shared with linear, which turns
// weights into the activation dtype before a GEMM.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "gpuformer/dtype.h"

namespace gf {
namespace cuda {

// out[i] = x[i] for n elements: x is a float or quantized dtype, out a float dtype.
void launch_convert(const void* x, DType x_type, void* out, DType out_type, int64_t n, cudaStream_t stream);

}  // namespace cuda
}  // namespace gf

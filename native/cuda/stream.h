// CUDA plumbing shared by every kernel file: the per-device op stream, the device's size and error checks.
#pragma once
#include <cuda_runtime_api.h>

#include "gpuformer/error.h"

namespace gf {
namespace cuda {

// The stream every op of `device` is enqueued on (created on first use; ops are ordered on it).
cudaStream_t op_stream(int device);

// Makes `device` current for this thread.
void use_device(int device);

// The device's streaming multiprocessors (read once per device): launch sizes that fill the GPU.
int multiprocessor_count(int device);

}  // namespace cuda
}  // namespace gf

#define GF_CUDA_CHECK(expr)                                                                        \
  do {                                                                                             \
    cudaError_t gf_err_ = (expr);                                                                  \
    if (gf_err_ != cudaSuccess) {                                                                  \
      ::gf::fail(::gf::ErrorCode::Cuda, #expr, " failed: ", cudaGetErrorString(gf_err_), " (", __FILE__, ":", \
                 __LINE__, ")");                                                                  \
    }                                                                                              \
  } while (0)

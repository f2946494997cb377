// The CUDA backend: the ops of native/include/gpuformer/op_decls.inc, enqueued on the device's op stream
// without synchronizing. Arguments arrive checked (native/core/dispatch.cc).
#pragma once
#include "gpuformer/ops.h"

namespace gf {
namespace cuda {
#include "gpuformer/op_decls.inc"
}  // namespace cuda
}  // namespace gf

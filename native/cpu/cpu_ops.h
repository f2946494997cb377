// The CPU backend: the ops of native/include/gpuformer/op_decls.inc, computed in f32 (weights may be
// f16/bf16/quantized), multithreaded over the pool in native/core/thread_pool.h. Arguments arrive checked.
#pragma once
#include "gpuformer/ops.h"

namespace gf {
namespace cpu {
#include "gpuformer/op_decls.inc"
}  // namespace cpu
}  // namespace gf

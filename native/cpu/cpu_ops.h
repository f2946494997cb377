// The CPU backend: the ops of native/include/gpuformer/op_decls.inc, computed in f32 (weights may be
// f16/bf16/quantized), multithreaded over the pool in native/core/thread_pool.h. Arguments arrive checked.
#pragma once
#include <initializer_list>

#include "gpuformer/ops.h"

namespace gf {
namespace cpu {
#include "gpuformer/op_decls.inc"

// rope() of several tensors of one token count with each token's angles computed once (rope.cc).
void rope_rows(std::initializer_list<Tensor*> xs, const Tensor& positions, const Tensor& inv_freq, bool interleaved);
}  // namespace cpu
}  // namespace gf

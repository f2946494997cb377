// The backend-neutral op contract. Each op here has one CPU implementation (native/cpu, namespace gf::cpu)
// and one CUDA implementation (native/cuda, namespace gf::cuda) with exactly this signature; the functions in
// namespace gf check arguments once and dispatch on the device of the output (native/core/dispatch.cc).
//
// Conventions (shapes in the comment that opens each op, llm.c style):
//   T = packed tokens of all sequences in a step, B = sequences, H = heads, D = head dim, V = vocab.
//   Activations are f32 on the CPU and f16/bf16 (or f32) on CUDA; weights may be stored f32/f16/bf16 and,
//   for linear() and embedding(), in the Q8_0/Q4_0/Q4_1 block formats. Accumulation is always f32.
//   All tensors of one call live on one device. Outputs are written completely (tests poison them first).
//   Unless an op says otherwise every tensor must be contiguous.
#pragma once
#include <cstdint>

#include "gpuformer/tensor.h"

namespace gf {

// Types shared by the op signatures.
struct AttentionParams {
  float scale = 1.0f;                    // softmax scale, usually 1/sqrt(D)
  bool causal = true;                    // query i of a sequence sees keys ≤ its position
  int window_left = -1;                  // sliding window: keys with pos ≥ qpos - window_left; -1 = none
  const Tensor* alibi_slopes = nullptr;  // f32 [Hq]: adds -slope * (qpos - kpos) to scores
};

enum class Pooling : int { Mean = 0, Cls = 1, Last = 2 };

// The neutral entry points: check arguments, then dispatch on the output's device.
#include "gpuformer/op_decls.inc"

}  // namespace gf

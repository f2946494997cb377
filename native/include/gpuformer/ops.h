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

#include "gpuformer/copy_queue.h"
#include "gpuformer/tensor.h"

namespace gf {

// Types shared by the op signatures.
struct AttentionParams {
  float scale = 1.0f;                    // softmax scale, usually 1/sqrt(D)
  bool causal = true;                    // query i of a sequence sees keys ≤ its position
  int window_left = -1;                  // sliding window: keys with pos ≥ qpos - window_left; -1 = none
  const Tensor* alibi_slopes = nullptr;  // f32 [Hq]: adds -slope * (qpos - kpos) to scores
  // paged_attention: a query's result must not depend on the batch (the kernel choice, the split points).
  // CUDA then runs every query on its per-query kernels with fixed split points; the CPU's attention always
  // computes a query that way. attention() refuses it (its callers run whole sequences, nothing to vary).
  bool batch_invariant = false;
};

// The logits processors of process_logits(), S rows of V logits. Each group is optional: all of its tensors
// or none of them.
struct LogitsProcessors {
  // token mask (allowed_token_ids, structured output): mask_words i32 [M, ceil(V/32)], mask_rows i32 [S].
  // Row b keeps token t when bit t % 32 of word t / 32 of mask_words[mask_rows[b]] is set; mask_rows[b] < 0
  // keeps every token.
  const Tensor* mask_words = nullptr;
  const Tensor* mask_rows = nullptr;
  // logit bias: bias_offsets i32 [S+1] (0 = off[0] ≤ … ≤ off[S] ≤ N), bias_tokens i32 [N], bias_values f32 [N]:
  // row b adds bias_values[j] to the logit of bias_tokens[j] for j in [off[b], off[b+1]) (tokens distinct
  // within a row).
  const Tensor* bias_offsets = nullptr;
  const Tensor* bias_tokens = nullptr;
  const Tensor* bias_values = nullptr;
  // penalties: counts i32 [C, V] (count_tokens), penalty_slots i32 [S] (the row of counts for row b; < 0:
  // no penalties), repetition f32 [S] (> 0, 1 = off), frequency f32 [S], presence f32 [S] (0 = off).
  const Tensor* counts = nullptr;
  const Tensor* penalty_slots = nullptr;
  const Tensor* repetition = nullptr;
  const Tensor* frequency = nullptr;
  const Tensor* presence = nullptr;
};

// count_tokens' encoding of a counts entry: the output count in the low 31 bits, bit 31 for "in the prompt".
constexpr uint32_t kPromptTokenBit = 0x80000000u;
constexpr uint32_t kOutputCountMask = 0x7fffffffu;

// The most top log-probabilities logprobs() returns per row (OpenAI's top_logprobs bound, vLLM's default
// max_logprobs).
constexpr int64_t kMaxTopLogprobs = 20;

enum class Pooling : int { Mean = 0, Cls = 1, Last = 2 };

// The neutral entry points: check arguments, then dispatch on the output's device.
#include "gpuformer/op_decls.inc"

}  // namespace gf

// The logits processors (token mask, logit bias, repetition / frequency / presence penalties) and the token
// counts the penalties read. One row per task; the order of the transforms is vLLM's (op_decls.inc).
#include <algorithm>
#include <cmath>

#include "core/thread_pool.h"
#include "cpu/convert.h"
#include "cpu/cpu_ops.h"
#include "cpu/parallel_rows.h"

namespace gf {
namespace cpu {

// logits [S,V] (any float) → out f32 [S,V] through the processors of `p` (each group optional)
void process_logits(const Tensor& logits, const LogitsProcessors& p, Tensor& out) {
  const int64_t S = logits.dim(0), V = logits.dim(1);
  const int64_t words = (V + 31) / 32;
  float* o = out.data<float>();
  parallel_for(S, rows_grain(V), [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; b++) {
      float* x = o + b * V;
      to_f32(element_ptr(logits.raw(), logits.dtype, b * V), logits.dtype, x, V);

      // 1. the token mask: tokens whose bit is clear can never be chosen
      const int32_t mask_row = p.mask_rows ? p.mask_rows->data<int32_t>()[b] : -1;
      if (mask_row >= 0) {
        const uint32_t* w = reinterpret_cast<const uint32_t*>(p.mask_words->data<int32_t>()) + mask_row * words;
        for (int64_t t = 0; t < V; t++) {
          if (!((w[t >> 5] >> (t & 31)) & 1u)) x[t] = -INFINITY;
        }
      }

      // 2. the logit bias
      if (p.bias_offsets) {
        const int32_t* off = p.bias_offsets->data<int32_t>();
        const int32_t* tok = p.bias_tokens->data<int32_t>();
        const float* val = p.bias_values->data<float>();
        for (int32_t j = off[b]; j < off[b + 1]; j++) x[tok[j]] += val[j];
      }

      // 3. the penalties over the row's token counts
      const int32_t slot = p.penalty_slots ? p.penalty_slots->data<int32_t>()[b] : -1;
      if (slot >= 0) {
        const uint32_t* c = reinterpret_cast<const uint32_t*>(p.counts->data<int32_t>()) + slot * V;
        const float rep = p.repetition->data<float>()[b];
        const float freq = p.frequency->data<float>()[b];
        const float pres = p.presence->data<float>()[b];
        for (int64_t t = 0; t < V; t++) {
          if (c[t] == 0) continue;
          const uint32_t n = c[t] & kOutputCountMask;
          float v = x[t];
          v = v > 0 ? v / rep : v * rep;
          v -= freq * static_cast<float>(n);
          if (n > 0) v -= pres;
          x[t] = v;
        }
      }
    }
  });
}

// counts i32 [C,V]: for each entry r with slots[r] ≥ 0, clear the slot's row when reset[r], then count
// tokens[offsets[r] .. offsets[r+1]) into it (t ≥ 0: one more output occurrence; ~t: t is a prompt token)
void count_tokens(Tensor& counts, const Tensor& slots, const Tensor* reset, const Tensor& offsets, const Tensor& tokens) {
  const int64_t R = slots.dim(0), V = counts.dim(1);
  uint32_t* c = reinterpret_cast<uint32_t*>(counts.data<int32_t>());
  const int32_t* s = slots.data<int32_t>();
  const int32_t* off = offsets.data<int32_t>();
  const int32_t* tok = tokens.data<int32_t>();
  // each slot appears at most once (checked), so the entries write disjoint rows
  parallel_for(R, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) {
      if (s[r] < 0) continue;
      uint32_t* row = c + s[r] * V;
      if (reset && reset->data<int32_t>()[r]) std::fill(row, row + V, 0u);
      for (int32_t j = off[r]; j < off[r + 1]; j++) {
        // (31 bits of count: no sequence is 2^31 tokens long)
        if (tok[j] < 0) row[~tok[j]] |= kPromptTokenBit;
        else row[tok[j]]++;
      }
    }
  });
}

}  // namespace cpu
}  // namespace gf

// Prefill attention over packed variable-length sequences, through the flash loop of attention_flash.h.
#include "cpu/attention_flash.h"
#include "cpu/cpu_ops.h"

namespace gf {
namespace cpu {

// q [T,Hq,D], k/v [T,Hkv,D], cu_seqlens i32 [B+1], out [T,Hq,D]: query i of sequence b attends to keys
// j of b with j ≤ i (causal), j ≥ i − window_left (window), scores scale·q·k − slope·(i − j) (ALiBi)
void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cu_seqlens, int max_seqlen,
               const AttentionParams& p, Tensor& out) {
  const int64_t Hkv = k.dim(1), D = q.dim(2);
  const FlashParams fp{q.dim(1), Hkv, D, p.scale, p.causal, p.window_left,
                       p.alibi_slopes ? p.alibi_slopes->data<float>() : nullptr};
  const int32_t* cu = cu_seqlens.data<int32_t>();
  std::vector<FlashSeq> seqs;
  for (int64_t b = 0; b + 1 < cu_seqlens.dim(0); b++) {
    const int64_t n = cu[b + 1] - cu[b];
    seqs.push_back({cu[b], n, 0, n});
  }
  const float* pk = k.data<float>();
  const float* pv = v.data<float>();
  // Keys of a sequence are the same packed tokens as its queries.
  auto key_rows = [=](const FlashSeq& sq, int64_t, int64_t g, int64_t k0, int nk, const float** kr, const float** vr) {
    for (int j = 0; j < nk; j++) {
      const int64_t off = ((sq.q_start + k0 + j) * Hkv + g) * D;
      kr[j] = pk + off;
      vr[j] = pv + off;
    }
  };
  flash_attention(fp, seqs, q.data<float>(), out.data<float>(), KeyRows<decltype(key_rows)>(key_rows));
}

}  // namespace cpu
}  // namespace gf

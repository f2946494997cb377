// Attention of new query tokens over a paged KV cache (decode, chunked prefill, prefix caching), through the
// flash loop of attention_flash.h with keys read through each sequence's block table.
#include "cpu/attention_flash.h"
#include "cpu/cpu_ops.h"

namespace gf {
namespace cpu {

// q [T,Hq,D] packed by cu_seqlens_q i32 [B+1]; k_cache/v_cache [num_blocks, block_size, Hkv, D];
// context_lens i32 [B]; block_tables i32 [B, max_blocks]; out [T,Hq,D]. Query j of sequence b (n_b new
// tokens) sits at position context_lens[b] − n_b + j; key position i lives in block
// block_tables[b][i / block_size] at offset i % block_size.
void paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& cu_seqlens_q,
                     const Tensor& context_lens, const Tensor& block_tables, int max_context_len,
                     const AttentionParams& p, Tensor& out) {
  const int64_t block_size = k_cache.dim(1), Hkv = k_cache.dim(2), D = q.dim(2), max_blocks = block_tables.dim(1);
  const FlashParams fp{q.dim(1), Hkv, D, p.scale, p.causal, p.window_left,
                       p.alibi_slopes ? p.alibi_slopes->data<float>() : nullptr};
  const int32_t* cu = cu_seqlens_q.data<int32_t>();
  const int32_t* ctx = context_lens.data<int32_t>();
  std::vector<FlashSeq> seqs;
  for (int64_t b = 0; b + 1 < cu_seqlens_q.dim(0); b++) {
    const int64_t n = cu[b + 1] - cu[b];
    seqs.push_back({cu[b], n, ctx[b] - n, ctx[b]});
  }
  const float* kc = k_cache.data<float>();
  const float* vc = v_cache.data<float>();
  const int32_t* bt = block_tables.data<int32_t>();
  // Walks the block table from k0 on (no division per key: a tile touches at most a few blocks).
  auto key_rows = [=](const FlashSeq&, int64_t b, int64_t g, int64_t k0, int nk, const float** kr, const float** vr) {
    const int32_t* table = bt + b * max_blocks;
    int64_t block = k0 / block_size, offset = k0 % block_size;
    for (int j = 0; j < nk; j++) {
      const int64_t off = ((table[block] * block_size + offset) * Hkv + g) * D;
      kr[j] = kc + off;
      vr[j] = vc + off;
      if (++offset == block_size) {
        offset = 0;
        block++;
      }
    }
  };
  flash_attention(fp, seqs, q.data<float>(), out.data<float>(), KeyRows<decltype(key_rows)>(key_rows));
}

}  // namespace cpu
}  // namespace gf

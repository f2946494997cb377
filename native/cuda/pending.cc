// Placeholders for CUDA ops not written yet; each real implementation removes its entry here.
#include "cuda/cuda_ops.h"

namespace gf {
namespace cuda {

void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  fail(ErrorCode::Unsupported, "cuda op linear is not implemented yet");
}

void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cu_seqlens, int max_seqlen,
               const AttentionParams& p, Tensor& out) {
  fail(ErrorCode::Unsupported, "cuda op attention is not implemented yet");
}

void paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& cu_seqlens_q,
                     const Tensor& context_lens, const Tensor& block_tables, int max_context_len,
                     const AttentionParams& p, Tensor& out) {
  fail(ErrorCode::Unsupported, "cuda op paged_attention is not implemented yet");
}

void argmax(const Tensor& logits, Tensor& out) {
  fail(ErrorCode::Unsupported, "cuda op argmax is not implemented yet");
}

void sample(const Tensor& logits, const Tensor& temperature, const Tensor& top_k, const Tensor& top_p,
            const Tensor& seeds, const Tensor& steps, Tensor& out) {
  fail(ErrorCode::Unsupported, "cuda op sample is not implemented yet");
}

}  // namespace cuda
}  // namespace gf

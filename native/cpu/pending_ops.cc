// Placeholders for CPU  ops not written yet; each real implementation removes its entry here.
#include "cpu/cpu_ops.h"

namespace gf {
namespace cpu {

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  fail(ErrorCode::Unsupported, "cpu op add is not implemented yet");
}

void copy(const Tensor& x, Tensor& out) {
  fail(ErrorCode::Unsupported, "cpu op copy is not implemented yet");
}

void embedding(const Tensor& ids, const Tensor& tok, const Tensor* pos_ids, const Tensor* pos,
               const Tensor* type_ids, const Tensor* type, float scale, Tensor& out) {
  fail(ErrorCode::Unsupported, "cpu op embedding is not implemented yet");
}

void layer_norm(const Tensor& x, Tensor* residual, const Tensor& weight, const Tensor* bias, float eps,
                Tensor& out) {
  fail(ErrorCode::Unsupported, "cpu op layer_norm is not implemented yet");
}

void rms_norm(const Tensor& x, Tensor* residual, const Tensor& weight, float eps, Tensor& out) {
  fail(ErrorCode::Unsupported, "cpu op rms_norm is not implemented yet");
}

void rope(Tensor& x, const Tensor& positions, const Tensor& inv_freq, bool interleaved) {
  fail(ErrorCode::Unsupported, "cpu op rope is not implemented yet");
}

void gelu(const Tensor& x, Tensor& out, bool tanh_approx) {
  fail(ErrorCode::Unsupported, "cpu op gelu is not implemented yet");
}

void silu(const Tensor& x, Tensor& out) {
  fail(ErrorCode::Unsupported, "cpu op silu is not implemented yet");
}

void swiglu(const Tensor& gate, const Tensor& up, Tensor& out) {
  fail(ErrorCode::Unsupported, "cpu op swiglu is not implemented yet");
}

void softmax(const Tensor& x, Tensor& out) {
  fail(ErrorCode::Unsupported, "cpu op softmax is not implemented yet");
}

void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cu_seqlens, int max_seqlen,
               const AttentionParams& p, Tensor& out) {
  fail(ErrorCode::Unsupported, "cpu op attention is not implemented yet");
}

void kv_cache_write(const Tensor& k, const Tensor& v, Tensor& k_cache, Tensor& v_cache, const Tensor& slot_mapping) {
  fail(ErrorCode::Unsupported, "cpu op kv_cache_write is not implemented yet");
}

void paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& cu_seqlens_q,
                     const Tensor& context_lens, const Tensor& block_tables, int max_context_len,
                     const AttentionParams& p, Tensor& out) {
  fail(ErrorCode::Unsupported, "cpu op paged_attention is not implemented yet");
}

void gather_rows(const Tensor& x, const Tensor& idx, Tensor& out) {
  fail(ErrorCode::Unsupported, "cpu op gather_rows is not implemented yet");
}

void pool(const Tensor& x, const Tensor& cu_seqlens, Pooling mode, Tensor& out) {
  fail(ErrorCode::Unsupported, "cpu op pool is not implemented yet");
}

void l2_normalize(const Tensor& x, Tensor& out) {
  fail(ErrorCode::Unsupported, "cpu op l2_normalize is not implemented yet");
}

void argmax(const Tensor& logits, Tensor& out) {
  fail(ErrorCode::Unsupported, "cpu op argmax is not implemented yet");
}

void sample(const Tensor& logits, const Tensor& temperature, const Tensor& top_k, const Tensor& top_p,
            const Tensor& seeds, const Tensor& steps, Tensor& out) {
  fail(ErrorCode::Unsupported, "cpu op sample is not implemented yet");
}

}  // namespace cpu
}  // namespace gf

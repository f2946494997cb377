// One parser per op: reads the named fields of a command and returns the step that calls the neutral op
// (native/include/gpuformer/ops.h checks shapes, dtypes and devices when the step runs). Tensors are
// captured by value, so the program keeps its buffers alive even if JS disposes a handle meanwhile.
#include <memory>

#include "copy_queue_wrap.h"
#include "errors.h"
#include "exec.h"
#include "gpuformer/ops.h"

namespace gfaddon {
namespace {

using gf::Tensor;

// An optional tensor captured by value.
struct Opt {
  std::shared_ptr<Tensor> t;
  explicit Opt(const Tensor* p) : t(p ? std::make_shared<Tensor>(*p) : nullptr) {}
  Tensor* get() const { return t.get(); }
};

gf::AttentionParams attention_params(const Fields& f, const Opt& alibi) {
  gf::AttentionParams p;
  p.scale = static_cast<float>(f.number("scale"));
  p.causal = f.boolean_or("causal", true);
  p.window_left = static_cast<int>(f.integer_or("windowLeft", -1));
  p.alibi_slopes = alibi.get();
  return p;
}

Step parse_cast(const Fields& f) {
  Tensor x = f.tensor_or_packed("x"), out = f.tensor("out");
  return [=]() mutable { gf::cast(x, out); };
}
GF_REGISTER_OP("cast", parse_cast);

Step parse_add(const Fields& f) {
  Tensor a = f.tensor("a"), b = f.tensor("b"), out = f.tensor("out");
  return [=]() mutable { gf::add(a, b, out); };
}
GF_REGISTER_OP("add", parse_add);

Step parse_copy(const Fields& f) {
  Tensor x = f.tensor("x"), out = f.tensor("out");
  return [=]() mutable { gf::copy(x, out); };
}
GF_REGISTER_OP("copy", parse_copy);

Step parse_embedding(const Fields& f) {
  Tensor ids = f.tensor("ids"), tok = f.tensor_or_packed("tok"), out = f.tensor("out");
  Opt pos_ids(f.opt_tensor("posIds")), pos(f.opt_tensor("pos")), type_ids(f.opt_tensor("typeIds")),
      type(f.opt_tensor("type"));
  const float scale = static_cast<float>(f.number_or("scale", 1.0));
  return [=]() mutable { gf::embedding(ids, tok, pos_ids.get(), pos.get(), type_ids.get(), type.get(), scale, out); };
}
GF_REGISTER_OP("embedding", parse_embedding);

// batchInvariant: every row by the same arithmetic whatever the number of rows (gf::linear_batch_invariant)
Step parse_linear(const Fields& f) {
  Tensor x = f.tensor("x"), w = f.tensor_or_packed("w"), out = f.tensor("out");
  Opt bias(f.opt_tensor("bias"));
  if (f.boolean_or("batchInvariant", false)) return [=]() mutable { gf::linear_batch_invariant(x, w, bias.get(), out); };
  return [=]() mutable { gf::linear(x, w, bias.get(), out); };
}
GF_REGISTER_OP("linear", parse_linear);

// w, out: arrays of Tensors, one out per weight; bias: optional array, one Tensor or null per weight
Step parse_linears(const Fields& f) {
  Tensor x = f.tensor("x");
  std::vector<Tensor> ws = f.tensors_or_packed("w"), outs = f.tensors("out");
  // the biases live on the heap, shared by every copy of the step, so the pointers into them are made once
  auto bias_tensors = std::make_shared<const std::vector<std::optional<Tensor>>>(
      f.has("bias") ? f.opt_tensors("bias") : std::vector<std::optional<Tensor>>{});
  std::vector<const Tensor*> biases;
  for (const auto& b : *bias_tensors) biases.push_back(b ? &*b : nullptr);
  const bool batch_invariant = f.boolean_or("batchInvariant", false);
  return [=, owner = bias_tensors]() mutable { gf::linears(x, ws, biases, outs, batch_invariant); };
}
GF_REGISTER_OP("linears", parse_linears);

Step parse_layer_norm(const Fields& f) {
  Tensor x = f.tensor("x"), weight = f.tensor("weight"), out = f.tensor("out");
  Opt residual(f.opt_tensor("residual")), bias(f.opt_tensor("bias"));
  const float eps = static_cast<float>(f.number("eps"));
  return [=]() mutable { gf::layer_norm(x, residual.get(), weight, bias.get(), eps, out); };
}
GF_REGISTER_OP("layer_norm", parse_layer_norm);

Step parse_rms_norm(const Fields& f) {
  Tensor x = f.tensor("x"), weight = f.tensor("weight"), out = f.tensor("out");
  Opt residual(f.opt_tensor("residual"));
  const float eps = static_cast<float>(f.number("eps"));
  return [=]() mutable { gf::rms_norm(x, residual.get(), weight, eps, out); };
}
GF_REGISTER_OP("rms_norm", parse_rms_norm);

Step parse_rope(const Fields& f) {
  Tensor x = f.tensor("x"), positions = f.tensor("positions"), inv_freq = f.tensor("invFreq");
  const bool interleaved = f.boolean_or("interleaved", false);
  return [=]() mutable { gf::rope(x, positions, inv_freq, interleaved); };
}
GF_REGISTER_OP("rope", parse_rope);

Step parse_gelu(const Fields& f) {
  Tensor x = f.tensor("x"), out = f.tensor("out");
  const bool approx = f.boolean_or("tanh", false);
  return [=]() mutable { gf::gelu(x, out, approx); };
}
GF_REGISTER_OP("gelu", parse_gelu);

Step parse_silu(const Fields& f) {
  Tensor x = f.tensor("x"), out = f.tensor("out");
  return [=]() mutable { gf::silu(x, out); };
}
GF_REGISTER_OP("silu", parse_silu);

Step parse_tanh(const Fields& f) {
  Tensor x = f.tensor("x"), out = f.tensor("out");
  return [=]() mutable { gf::tanh(x, out); };
}
GF_REGISTER_OP("tanh", parse_tanh);

Step parse_swiglu(const Fields& f) {
  Tensor gate = f.tensor("gate"), up = f.tensor("up"), out = f.tensor("out");
  return [=]() mutable { gf::swiglu(gate, up, out); };
}
GF_REGISTER_OP("swiglu", parse_swiglu);

Step parse_softmax(const Fields& f) {
  Tensor x = f.tensor("x"), out = f.tensor("out");
  return [=]() mutable { gf::softmax(x, out); };
}
GF_REGISTER_OP("softmax", parse_softmax);

Step parse_attention(const Fields& f) {
  Tensor q = f.tensor("q"), k = f.tensor("k"), v = f.tensor("v"), cu = f.tensor("cuSeqlens"), out = f.tensor("out");
  Opt alibi(f.opt_tensor("alibiSlopes"));
  const gf::AttentionParams p = attention_params(f, alibi);
  const int max_seqlen = static_cast<int>(f.integer("maxSeqlen"));
  return [=]() mutable {
    gf::AttentionParams params = p;
    params.alibi_slopes = alibi.get();
    gf::attention(q, k, v, cu, max_seqlen, params, out);
  };
}
GF_REGISTER_OP("attention", parse_attention);

Step parse_kv_cache_write(const Fields& f) {
  Tensor k = f.tensor("k"), v = f.tensor("v"), kc = f.tensor("kCache"), vc = f.tensor("vCache"),
         slots = f.tensor("slotMapping");
  return [=]() mutable { gf::kv_cache_write(k, v, kc, vc, slots); };
}
GF_REGISTER_OP("kv_cache_write", parse_kv_cache_write);

Step parse_rope_kv_cache_write(const Fields& f) {
  Tensor q = f.tensor("q"), k = f.tensor("k"), v = f.tensor("v"), positions = f.tensor("positions"),
         inv_freq = f.tensor("invFreq"), kc = f.tensor("kCache"), vc = f.tensor("vCache"), slots = f.tensor("slotMapping");
  const bool interleaved = f.boolean_or("interleaved", false);
  return [=]() mutable { gf::rope_kv_cache_write(q, k, v, positions, inv_freq, interleaved, kc, vc, slots); };
}
GF_REGISTER_OP("rope_kv_cache_write", parse_rope_kv_cache_write);

Step parse_paged_attention(const Fields& f) {
  Tensor q = f.tensor("q"), kc = f.tensor("kCache"), vc = f.tensor("vCache"), cu = f.tensor("cuSeqlensQ"),
         ctx = f.tensor("contextLens"), bt = f.tensor("blockTables"), out = f.tensor("out");
  Opt alibi(f.opt_tensor("alibiSlopes"));
  const gf::AttentionParams p = attention_params(f, alibi);
  const int max_ctx = static_cast<int>(f.integer("maxContextLen"));
  const bool batch_invariant = f.boolean_or("batchInvariant", false);
  return [=]() mutable {
    gf::AttentionParams params = p;
    params.alibi_slopes = alibi.get();
    params.batch_invariant = batch_invariant;
    gf::paged_attention(q, kc, vc, cu, ctx, bt, max_ctx, params, out);
  };
}
GF_REGISTER_OP("paged_attention", parse_paged_attention);

Step parse_gather_rows(const Fields& f) {
  Tensor x = f.tensor("x"), idx = f.tensor("idx"), out = f.tensor("out");
  return [=]() mutable { gf::gather_rows(x, idx, out); };
}
GF_REGISTER_OP("gather_rows", parse_gather_rows);

Step parse_pool(const Fields& f) {
  Tensor x = f.tensor("x"), cu = f.tensor("cuSeqlens"), out = f.tensor("out");
  const std::string mode = f.string("mode");
  gf::Pooling m;
  if (mode == "mean") m = gf::Pooling::Mean;
  else if (mode == "cls") m = gf::Pooling::Cls;
  else if (mode == "last") m = gf::Pooling::Last;
  else input_error("pool: 'mode' must be 'mean', 'cls' or 'last', got '", mode, "'");
  return [=]() mutable { gf::pool(x, cu, m, out); };
}
GF_REGISTER_OP("pool", parse_pool);

Step parse_l2_normalize(const Fields& f) {
  Tensor x = f.tensor("x"), out = f.tensor("out");
  return [=]() mutable { gf::l2_normalize(x, out); };
}
GF_REGISTER_OP("l2_normalize", parse_l2_normalize);

Step parse_argmax(const Fields& f) {
  Tensor logits = f.tensor("logits"), out = f.tensor("out");
  return [=]() mutable { gf::argmax(logits, out); };
}
GF_REGISTER_OP("argmax", parse_argmax);

Step parse_sample(const Fields& f) {
  Tensor logits = f.tensor("logits"), t = f.tensor("temperature"), k = f.tensor("topK"), p = f.tensor("topP"),
         min_p = f.tensor("minP"), seeds = f.tensor("seeds"), steps = f.tensor("steps"), out = f.tensor("out");
  return [=]() mutable { gf::sample(logits, t, k, p, min_p, seeds, steps, out); };
}
GF_REGISTER_OP("sample", parse_sample);

Step parse_process_logits(const Fields& f) {
  Tensor logits = f.tensor("logits"), out = f.tensor("out");
  Opt mask_words(f.opt_tensor("maskWords")), mask_rows(f.opt_tensor("maskRows")), bias_offsets(f.opt_tensor("biasOffsets")),
      bias_tokens(f.opt_tensor("biasTokens")), bias_values(f.opt_tensor("biasValues")), counts(f.opt_tensor("counts")),
      slots(f.opt_tensor("penaltySlots")), repetition(f.opt_tensor("repetition")), frequency(f.opt_tensor("frequency")),
      presence(f.opt_tensor("presence"));
  return [=]() mutable {
    gf::LogitsProcessors p;
    p.mask_words = mask_words.get();
    p.mask_rows = mask_rows.get();
    p.bias_offsets = bias_offsets.get();
    p.bias_tokens = bias_tokens.get();
    p.bias_values = bias_values.get();
    p.counts = counts.get();
    p.penalty_slots = slots.get();
    p.repetition = repetition.get();
    p.frequency = frequency.get();
    p.presence = presence.get();
    gf::process_logits(logits, p, out);
  };
}
GF_REGISTER_OP("process_logits", parse_process_logits);

Step parse_count_tokens(const Fields& f) {
  Tensor counts = f.tensor("counts"), slots = f.tensor("slots"), offsets = f.tensor("offsets"), tokens = f.tensor("tokens");
  Opt reset(f.opt_tensor("reset"));
  return [=]() mutable { gf::count_tokens(counts, slots, reset.get(), offsets, tokens); };
}
GF_REGISTER_OP("count_tokens", parse_count_tokens);

Step parse_logprobs(const Fields& f) {
  Tensor logits = f.tensor("logits"), tokens = f.tensor("tokens"), out = f.tensor("tokenLogprobs");
  Opt top_ids(f.opt_tensor("topIds")), top_logprobs(f.opt_tensor("topLogprobs"));
  return [=]() mutable { gf::logprobs(logits, tokens, out, top_ids.get(), top_logprobs.get()); };
}
GF_REGISTER_OP("logprobs", parse_logprobs);

// streamed weights: `queue` a CopyQueue, `slot` its slot; fetch_slot's `src` are host tensors (not a device the
// program computes on), `dst` the slot's tensors on the device
Step parse_fetch_slot(const Fields& f) {
  auto queue = CopyQueueWrap::Get(f.value("queue"), "fetch_slot: 'queue'");
  const int slot = static_cast<int>(f.integer("slot"));
  std::vector<Tensor> src = f.tensors("src", true), dst = f.tensors("dst");
  return [=]() { gf::fetch_slot(*queue, slot, src, dst); };
}
GF_REGISTER_OP("fetch_slot", parse_fetch_slot);

Step parse_wait_slot(const Fields& f) {
  auto queue = CopyQueueWrap::Get(f.value("queue"), "wait_slot: 'queue'");
  const int slot = static_cast<int>(f.integer("slot"));
  return [=]() { gf::wait_slot(*queue, slot); };
}
GF_REGISTER_OP("wait_slot", parse_wait_slot);

Step parse_release_slot(const Fields& f) {
  auto queue = CopyQueueWrap::Get(f.value("queue"), "release_slot: 'queue'");
  const int slot = static_cast<int>(f.integer("slot"));
  return [=]() { gf::release_slot(*queue, slot); };
}
GF_REGISTER_OP("release_slot", parse_release_slot);

}  // namespace
}  // namespace gfaddon

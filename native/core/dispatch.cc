// The neutral op entry points: every argument is checked here once (so both backends may assume valid
// shapes, dtypes and devices), then the call goes to the backend of the output's device.
#include <cmath>

#include "cpu/cpu_ops.h"
#include "gpuformer/ops.h"
#ifdef GPUFORMER_WITH_CUDA
#include "cuda/cuda_ops.h"
#endif

namespace gf {
namespace {

#ifdef GPUFORMER_WITH_CUDA
#define GF_DISPATCH(dev, call)              \
  do {                                      \
    if ((dev).is_cpu()) {                   \
      cpu::call;                            \
    } else {                                \
      cuda::call;                           \
    }                                       \
  } while (0)
#else
#define GF_DISPATCH(dev, call)                                                                    \
  do {                                                                                            \
    if ((dev).is_cpu()) {                                                                         \
      cpu::call;                                                                                  \
    } else {                                                                                      \
      fail(ErrorCode::Unsupported, "this gpuformer binary was built without the CUDA backend"); \
    }                                                                                             \
  } while (0)
#endif

void check_all_contiguous(const char* op, std::initializer_list<std::pair<const char*, const Tensor*>> ts) {
  for (auto& [name, t] : ts) {
    if (t) check_contiguous(op, name, *t);
  }
}

void check_devices(const char* op, const Tensor& out, std::initializer_list<std::pair<const char*, const Tensor*>> ts) {
  for (auto& [name, t] : ts) {
    if (t) check_same_device(op, *t, name, out, "out");
  }
}

// Activation dtype on this device: f32 everywhere; f16/bf16 also on CUDA.
void check_activation(const char* op, const char* arg, const Tensor& t) {
  check_float(op, arg, t);
  GF_CHECK_INPUT(!t.device().is_cpu() || t.dtype == DType::F32, op, ": '", arg,
                 "' must be f32 on the cpu (weights may be half precision, activations are f32), got ",
                 t.describe());
}

void check_weight(const char* op, const char* arg, const Tensor& t, bool allow_quantized) {
  GF_CHECK_INPUT(is_float(t.dtype) || (allow_quantized && is_quantized(t.dtype)), op, ": '", arg,
                 "' must be f32, f16, bf16", allow_quantized ? ", q8_0, q4_0 or q4_1" : "", ", got ", t.describe());
}

void check_cu_seqlens(const char* op, const char* arg, const Tensor& cu, int64_t tokens) {
  check_dtype(op, arg, cu, DType::I32);
  check_ndim(op, arg, cu, 1);
  GF_CHECK_INPUT(cu.dim(0) >= 2, op, ": '", arg, "' needs at least 2 entries (B+1), got ", cu.describe());
  if (cu.device().is_cpu()) {  // CUDA kernels check bounds themselves; host values are cheap to verify here
    const int32_t* c = cu.data<int32_t>();
    GF_CHECK_INPUT(c[0] == 0, op, ": '", arg, "'[0] must be 0, got ", c[0]);
    for (int64_t i = 1; i < cu.dim(0); i++) {
      GF_CHECK_INPUT(c[i] >= c[i - 1], op, ": '", arg, "' must be non-decreasing (entry ", i, " is ", c[i],
                     " after ", c[i - 1], ")");
    }
    GF_CHECK_INPUT(c[cu.dim(0) - 1] == tokens, op, ": '", arg, "' ends at ", c[cu.dim(0) - 1], " but there are ",
                   tokens, " tokens");
  }
}

void check_rows_cols(const char* op, const char* xname, const Tensor& x, const Tensor& out) {
  check_ndim(op, xname, x, 2);
  check_shape(op, "out", out, x.shape);
}

void check_attention_params(const char* op, const AttentionParams& p, int64_t hq, const Tensor& out) {
  GF_CHECK_INPUT(std::isfinite(p.scale) && p.scale > 0, op, ": 'scale' must be a positive number, got ", p.scale);
  GF_CHECK_INPUT(p.window_left >= -1, op, ": 'windowLeft' must be -1 (none) or ≥ 0, got ", p.window_left);
  if (p.alibi_slopes) {
    check_dtype(op, "alibiSlopes", *p.alibi_slopes, DType::F32);
    check_shape(op, "alibiSlopes", *p.alibi_slopes, {hq});
    check_same_device(op, *p.alibi_slopes, "alibiSlopes", out, "out");
  }
}

// CUDA kernels are compiled per head dim; the CPU loops vectorize by 8 and take any multiple of 8 up to 256
// (llama2.c's small models use head dim 8).
void check_head_dim(const char* op, const Tensor& q, int64_t d) {
  if (q.device().is_cpu()) {
    GF_CHECK_INPUT(d >= 8 && d <= 256 && d % 8 == 0, op, ": head dim must be a multiple of 8 up to 256 on the cpu, got ", d);
    return;
  }
  GF_CHECK_INPUT(d == 32 || d == 64 || d == 80 || d == 96 || d == 128 || d == 256, op,
                 ": head dim must be 32, 64, 80, 96, 128 or 256 on CUDA, got ", d);
}

}  // namespace

// ------------------------------------------------------------------------------------------- elementwise
void cast(const Tensor& x, Tensor& out) {
  check_devices("cast", out, {{"x", &x}});
  check_all_contiguous("cast", {{"x", &x}, {"out", &out}});
  GF_CHECK_INPUT(is_float(x.dtype) || is_quantized(x.dtype), "cast: 'x' must be a float or quantized tensor, got ",
                 x.describe());
  check_float("cast", "out", out);
  GF_CHECK_INPUT(x.numel() == out.numel(), "cast: 'x' has ", x.numel(), " elements but 'out' has ", out.numel());
  GF_DISPATCH(out.device(), cast(x, out));
}

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  check_devices("add", out, {{"a", &a}, {"b", &b}});
  check_all_contiguous("add", {{"a", &a}, {"b", &b}, {"out", &out}});
  check_activation("add", "out", out);
  check_dtype("add", "a", a, out.dtype);
  check_dtype("add", "b", b, out.dtype);
  check_shape("add", "a", a, out.shape);
  check_shape("add", "b", b, out.shape);
  GF_DISPATCH(out.device(), add(a, b, out));
}

void copy(const Tensor& x, Tensor& out) {
  check_devices("copy", out, {{"x", &x}});
  check_all_contiguous("copy", {{"x", &x}, {"out", &out}});
  check_dtype("copy", "x", x, out.dtype);
  GF_CHECK_INPUT(x.numel() == out.numel(), "copy: 'x' has ", x.numel(), " elements but 'out' has ", out.numel());
  GF_DISPATCH(out.device(), copy(x, out));
}

// ---------------------------------------------------------------------------------------------- embedding
void embedding(const Tensor& ids, const Tensor& tok, const Tensor* pos_ids, const Tensor* pos,
               const Tensor* type_ids, const Tensor* type, float scale, Tensor& out) {
  const char* op = "embedding";
  check_devices(op, out, {{"ids", &ids}, {"tok", &tok}, {"posIds", pos_ids}, {"pos", pos}, {"typeIds", type_ids}, {"type", type}});
  check_all_contiguous(op, {{"ids", &ids}, {"tok", &tok}, {"posIds", pos_ids}, {"pos", pos}, {"typeIds", type_ids}, {"type", type}, {"out", &out}});
  check_dtype(op, "ids", ids, DType::I32);
  check_ndim(op, "ids", ids, 1);
  check_ndim(op, "tok", tok, 2);
  check_weight(op, "tok", tok, true);
  check_activation(op, "out", out);
  const int64_t T = ids.dim(0), C = tok.dim(1);
  check_shape(op, "out", out, {T, C});
  GF_CHECK_INPUT((pos_ids == nullptr) == (pos == nullptr), op, ": 'posIds' and 'pos' go together");
  GF_CHECK_INPUT((type_ids == nullptr) == (type == nullptr), op, ": 'typeIds' and 'type' go together");
  if (pos) {
    check_dtype(op, "posIds", *pos_ids, DType::I32);
    check_shape(op, "posIds", *pos_ids, {T});
    check_weight(op, "pos", *pos, false);
    check_ndim(op, "pos", *pos, 2);
    GF_CHECK_INPUT(pos->dim(1) == C, op, ": 'pos' rows have ", pos->dim(1), " columns, 'tok' has ", C);
  }
  if (type) {
    check_dtype(op, "typeIds", *type_ids, DType::I32);
    check_shape(op, "typeIds", *type_ids, {T});
    check_weight(op, "type", *type, false);
    check_ndim(op, "type", *type, 2);
    GF_CHECK_INPUT(type->dim(1) == C, op, ": 'type' rows have ", type->dim(1), " columns, 'tok' has ", C);
  }
  GF_DISPATCH(out.device(), embedding(ids, tok, pos_ids, pos, type_ids, type, scale, out));
}

// ------------------------------------------------------------------------------------------------- linear
namespace {
void check_linear(const char* op, const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& out) {
  check_devices(op, out, {{"x", &x}, {"w", &w}, {"bias", bias}});
  check_all_contiguous(op, {{"x", &x}, {"w", &w}, {"bias", bias}, {"out", &out}});
  check_ndim(op, "x", x, 2);
  check_ndim(op, "w", w, 2);
  check_activation(op, "x", x);
  check_dtype(op, "out", out, x.dtype);
  check_weight(op, "w", w, true);
  GF_CHECK_INPUT(x.dim(1) == w.dim(1), op, ": 'x' has ", x.dim(1), " input features but 'w' expects ", w.dim(1),
                 " (x ", x.describe(), ", w ", w.describe(), ")");
  check_shape(op, "out", out, {x.dim(0), w.dim(0)});
  if (bias) {
    check_weight(op, "bias", *bias, false);
    check_shape(op, "bias", *bias, {w.dim(0)});
  }
}
}  // namespace

void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  check_linear("linear", x, w, bias, out);
  GF_DISPATCH(out.device(), linear(x, w, bias, out));
}

void linear_batch_invariant(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  check_linear("linear (batch-invariant)", x, w, bias, out);
  GF_DISPATCH(out.device(), linear_batch_invariant(x, w, bias, out));
}

// -------------------------------------------------------------------------------------------------- norms
namespace {
void check_norm(const char* op, const Tensor& x, const Tensor* residual, const Tensor& weight, const Tensor* bias,
                float eps, const Tensor& out) {
  check_devices(op, out, {{"x", &x}, {"residual", residual}, {"weight", &weight}, {"bias", bias}});
  check_all_contiguous(op, {{"x", &x}, {"residual", residual}, {"weight", &weight}, {"bias", bias}, {"out", &out}});
  check_ndim(op, "x", x, 2);
  check_activation(op, "x", x);
  check_rows_cols(op, "x", x, out);
  check_dtype(op, "out", out, x.dtype);
  if (residual) {
    check_shape(op, "residual", *residual, x.shape);
    check_dtype(op, "residual", *residual, x.dtype);
  }
  check_weight(op, "weight", weight, false);
  check_shape(op, "weight", weight, {x.dim(1)});
  if (bias) {
    check_weight(op, "bias", *bias, false);
    check_shape(op, "bias", *bias, {x.dim(1)});
  }
  GF_CHECK_INPUT(std::isfinite(eps) && eps >= 0, op, ": 'eps' must be ≥ 0, got ", eps);
}
}  // namespace

void layer_norm(const Tensor& x, Tensor* residual, const Tensor& weight, const Tensor* bias, float eps, Tensor& out) {
  check_norm("layer_norm", x, residual, weight, bias, eps, out);
  GF_DISPATCH(out.device(), layer_norm(x, residual, weight, bias, eps, out));
}

void rms_norm(const Tensor& x, Tensor* residual, const Tensor& weight, float eps, Tensor& out) {
  check_norm("rms_norm", x, residual, weight, nullptr, eps, out);
  GF_DISPATCH(out.device(), rms_norm(x, residual, weight, eps, out));
}

// --------------------------------------------------------------------------------------------------- rope
void rope(Tensor& x, const Tensor& positions, const Tensor& inv_freq, bool interleaved) {
  const char* op = "rope";
  check_devices(op, x, {{"positions", &positions}, {"invFreq", &inv_freq}});
  check_all_contiguous(op, {{"x", &x}, {"positions", &positions}, {"invFreq", &inv_freq}});
  check_ndim(op, "x", x, 3);
  check_activation(op, "x", x);
  check_dtype(op, "positions", positions, DType::I32);
  check_shape(op, "positions", positions, {x.dim(0)});
  check_dtype(op, "invFreq", inv_freq, DType::F32);
  check_ndim(op, "invFreq", inv_freq, 1);
  GF_CHECK_INPUT(inv_freq.dim(0) >= 1 && inv_freq.dim(0) * 2 <= x.dim(2), op, ": 'invFreq' has ", inv_freq.dim(0),
                 " frequencies; the rotary dim (twice that) must be between 2 and the head dim ", x.dim(2));
  GF_DISPATCH(x.device(), rope(x, positions, inv_freq, interleaved));
}

// ------------------------------------------------------------------------------------------- activations
void gelu(const Tensor& x, Tensor& out, bool tanh_approx) {
  check_devices("gelu", out, {{"x", &x}});
  check_all_contiguous("gelu", {{"x", &x}, {"out", &out}});
  check_activation("gelu", "x", x);
  check_dtype("gelu", "out", out, x.dtype);
  check_shape("gelu", "out", out, x.shape);
  GF_DISPATCH(out.device(), gelu(x, out, tanh_approx));
}

void silu(const Tensor& x, Tensor& out) {
  check_devices("silu", out, {{"x", &x}});
  check_all_contiguous("silu", {{"x", &x}, {"out", &out}});
  check_activation("silu", "x", x);
  check_dtype("silu", "out", out, x.dtype);
  check_shape("silu", "out", out, x.shape);
  GF_DISPATCH(out.device(), silu(x, out));
}

void swiglu(const Tensor& gate, const Tensor& up, Tensor& out) {
  check_devices("swiglu", out, {{"gate", &gate}, {"up", &up}});
  check_all_contiguous("swiglu", {{"gate", &gate}, {"up", &up}, {"out", &out}});
  check_ndim("swiglu", "gate", gate, 2);
  check_activation("swiglu", "gate", gate);
  check_dtype("swiglu", "up", up, gate.dtype);
  check_dtype("swiglu", "out", out, gate.dtype);
  check_shape("swiglu", "up", up, gate.shape);
  check_shape("swiglu", "out", out, gate.shape);
  GF_DISPATCH(out.device(), swiglu(gate, up, out));
}

void softmax(const Tensor& x, Tensor& out) {
  check_devices("softmax", out, {{"x", &x}});
  check_all_contiguous("softmax", {{"x", &x}, {"out", &out}});
  check_activation("softmax", "x", x);
  check_rows_cols("softmax", "x", x, out);
  check_dtype("softmax", "out", out, x.dtype);
  GF_DISPATCH(out.device(), softmax(x, out));
}

// ---------------------------------------------------------------------------------------------- attention
void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cu_seqlens, int max_seqlen,
               const AttentionParams& p, Tensor& out) {
  const char* op = "attention";
  check_devices(op, out, {{"q", &q}, {"k", &k}, {"v", &v}, {"cuSeqlens", &cu_seqlens}});
  check_all_contiguous(op, {{"q", &q}, {"k", &k}, {"v", &v}, {"cuSeqlens", &cu_seqlens}, {"out", &out}});
  check_ndim(op, "q", q, 3);
  check_ndim(op, "k", k, 3);
  check_activation(op, "q", q);
  check_dtype(op, "k", k, q.dtype);
  check_dtype(op, "v", v, q.dtype);
  check_dtype(op, "out", out, q.dtype);
  const int64_t T = q.dim(0), hq = q.dim(1), D = q.dim(2), hkv = k.dim(1);
  check_head_dim(op, q, D);
  check_shape(op, "k", k, {T, hkv, D});
  check_shape(op, "v", v, {T, hkv, D});
  check_shape(op, "out", out, q.shape);
  GF_CHECK_INPUT(hkv >= 1 && hq % hkv == 0, op, ": query heads (", hq, ") must be a multiple of key/value heads (", hkv, ")");
  check_cu_seqlens(op, "cuSeqlens", cu_seqlens, T);
  GF_CHECK_INPUT(max_seqlen >= 0, op, ": 'maxSeqlen' must be ≥ 0, got ", max_seqlen);
  check_attention_params(op, p, hq, out);
  GF_DISPATCH(out.device(), attention(q, k, v, cu_seqlens, max_seqlen, p, out));
}

void kv_cache_write(const Tensor& k, const Tensor& v, Tensor& k_cache, Tensor& v_cache, const Tensor& slot_mapping) {
  const char* op = "kv_cache_write";
  check_devices(op, k_cache, {{"k", &k}, {"v", &v}, {"vCache", &v_cache}, {"slotMapping", &slot_mapping}});
  check_all_contiguous(op, {{"k", &k}, {"v", &v}, {"kCache", &k_cache}, {"vCache", &v_cache}, {"slotMapping", &slot_mapping}});
  check_ndim(op, "k", k, 3);
  check_ndim(op, "kCache", k_cache, 4);
  check_activation(op, "kCache", k_cache);
  check_dtype(op, "vCache", v_cache, k_cache.dtype);
  check_dtype(op, "k", k, k_cache.dtype);
  check_dtype(op, "v", v, k_cache.dtype);
  check_shape(op, "v", v, k.shape);
  check_shape(op, "vCache", v_cache, k_cache.shape);
  GF_CHECK_INPUT(k.dim(1) == k_cache.dim(2) && k.dim(2) == k_cache.dim(3), op, ": 'k' ", k.describe(),
                 " does not match the cache's [heads, head dim] of ", k_cache.describe());
  check_dtype(op, "slotMapping", slot_mapping, DType::I32);
  check_shape(op, "slotMapping", slot_mapping, {k.dim(0)});
  if (slot_mapping.device().is_cpu()) {
    const int64_t slots = k_cache.dim(0) * k_cache.dim(1);
    const int32_t* s = slot_mapping.data<int32_t>();
    for (int64_t i = 0; i < k.dim(0); i++) {
      GF_CHECK_INPUT(s[i] < slots, op, ": slotMapping[", i, "] = ", s[i], " is past the cache's ", slots, " slots");
    }
  }
  GF_DISPATCH(k_cache.device(), kv_cache_write(k, v, k_cache, v_cache, slot_mapping));
}

void paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& cu_seqlens_q,
                     const Tensor& context_lens, const Tensor& block_tables, int max_context_len,
                     const AttentionParams& p, Tensor& out) {
  const char* op = "paged_attention";
  check_devices(op, out, {{"q", &q}, {"kCache", &k_cache}, {"vCache", &v_cache}, {"cuSeqlensQ", &cu_seqlens_q},
                          {"contextLens", &context_lens}, {"blockTables", &block_tables}});
  check_all_contiguous(op, {{"q", &q}, {"kCache", &k_cache}, {"vCache", &v_cache}, {"cuSeqlensQ", &cu_seqlens_q},
                            {"contextLens", &context_lens}, {"blockTables", &block_tables}, {"out", &out}});
  check_ndim(op, "q", q, 3);
  check_ndim(op, "kCache", k_cache, 4);
  check_activation(op, "q", q);
  check_dtype(op, "kCache", k_cache, q.dtype);
  check_dtype(op, "vCache", v_cache, q.dtype);
  check_dtype(op, "out", out, q.dtype);
  check_shape(op, "vCache", v_cache, k_cache.shape);
  check_shape(op, "out", out, q.shape);
  const int64_t T = q.dim(0), hq = q.dim(1), D = q.dim(2), hkv = k_cache.dim(2);
  check_head_dim(op, q, D);
  GF_CHECK_INPUT(k_cache.dim(3) == D, op, ": cache head dim ", k_cache.dim(3), " differs from q's ", D);
  GF_CHECK_INPUT(hkv >= 1 && hq % hkv == 0, op, ": query heads (", hq, ") must be a multiple of key/value heads (", hkv, ")");
  check_cu_seqlens(op, "cuSeqlensQ", cu_seqlens_q, T);
  const int64_t B = cu_seqlens_q.dim(0) - 1;
  check_dtype(op, "contextLens", context_lens, DType::I32);
  check_shape(op, "contextLens", context_lens, {B});
  check_dtype(op, "blockTables", block_tables, DType::I32);
  check_ndim(op, "blockTables", block_tables, 2);
  GF_CHECK_INPUT(block_tables.dim(0) == B, op, ": 'blockTables' has ", block_tables.dim(0), " rows for ", B, " sequences");
  if (q.device().is_cpu()) {
    const int32_t* cu = cu_seqlens_q.data<int32_t>();
    const int32_t* ctx = context_lens.data<int32_t>();
    const int32_t* bt = block_tables.data<int32_t>();
    const int64_t bs = k_cache.dim(1), maxb = block_tables.dim(1), nblocks = k_cache.dim(0);
    for (int64_t b = 0; b < B; b++) {
      const int64_t n = cu[b + 1] - cu[b];
      GF_CHECK_INPUT(ctx[b] >= n, op, ": contextLens[", b, "] = ", ctx[b], " is less than its ", n, " new tokens");
      const int64_t need = (ctx[b] + bs - 1) / bs;
      GF_CHECK_INPUT(need <= maxb, op, ": sequence ", b, " needs ", need, " blocks but 'blockTables' has ", maxb, " columns");
      for (int64_t i = 0; i < need; i++) {
        const int32_t blk = bt[b * maxb + i];
        GF_CHECK_INPUT(blk >= 0 && blk < nblocks, op, ": blockTables[", b, "][", i, "] = ", blk, " is not a block of the cache (",
                       nblocks, " blocks)");
      }
    }
  }
  GF_CHECK_INPUT(max_context_len >= 0, op, ": 'maxContextLen' must be ≥ 0");
  check_attention_params(op, p, hq, out);
  GF_DISPATCH(out.device(), paged_attention(q, k_cache, v_cache, cu_seqlens_q, context_lens, block_tables,
                                            max_context_len, p, out));
}

// -------------------------------------------------------------------------------------------------- rows
void gather_rows(const Tensor& x, const Tensor& idx, Tensor& out) {
  const char* op = "gather_rows";
  check_devices(op, out, {{"x", &x}, {"idx", &idx}});
  check_all_contiguous(op, {{"x", &x}, {"idx", &idx}, {"out", &out}});
  check_ndim(op, "x", x, 2);
  check_activation(op, "x", x);
  check_dtype(op, "out", out, x.dtype);
  check_dtype(op, "idx", idx, DType::I32);
  check_ndim(op, "idx", idx, 1);
  check_shape(op, "out", out, {idx.dim(0), x.dim(1)});
  if (idx.device().is_cpu()) {
    const int32_t* ix = idx.data<int32_t>();
    for (int64_t i = 0; i < idx.dim(0); i++) {
      GF_CHECK_INPUT(ix[i] >= 0 && ix[i] < x.dim(0), op, ": idx[", i, "] = ", ix[i], " is outside [0, ", x.dim(0), ")");
    }
  }
  GF_DISPATCH(out.device(), gather_rows(x, idx, out));
}

// --------------------------------------------------------------------------------------------- pooling
void pool(const Tensor& x, const Tensor& cu_seqlens, Pooling mode, Tensor& out) {
  const char* op = "pool";
  check_devices(op, out, {{"x", &x}, {"cuSeqlens", &cu_seqlens}});
  check_all_contiguous(op, {{"x", &x}, {"cuSeqlens", &cu_seqlens}, {"out", &out}});
  check_ndim(op, "x", x, 2);
  check_activation(op, "x", x);
  check_cu_seqlens(op, "cuSeqlens", cu_seqlens, x.dim(0));
  check_dtype(op, "out", out, DType::F32);
  check_shape(op, "out", out, {cu_seqlens.dim(0) - 1, x.dim(1)});
  GF_CHECK_INPUT(static_cast<int>(mode) >= 0 && static_cast<int>(mode) <= 2, op, ": unknown pooling mode");
  GF_DISPATCH(out.device(), pool(x, cu_seqlens, mode, out));
}

void l2_normalize(const Tensor& x, Tensor& out) {
  check_devices("l2_normalize", out, {{"x", &x}});
  check_all_contiguous("l2_normalize", {{"x", &x}, {"out", &out}});
  check_float("l2_normalize", "x", x);
  check_rows_cols("l2_normalize", "x", x, out);
  check_dtype("l2_normalize", "out", out, x.dtype);
  GF_DISPATCH(out.device(), l2_normalize(x, out));
}

// -------------------------------------------------------------------------------------------- sampling
void argmax(const Tensor& logits, Tensor& out) {
  check_devices("argmax", out, {{"logits", &logits}});
  check_all_contiguous("argmax", {{"logits", &logits}, {"out", &out}});
  check_ndim("argmax", "logits", logits, 2);
  check_float("argmax", "logits", logits);
  GF_CHECK_INPUT(logits.dim(1) >= 1, "argmax: 'logits' has no columns");
  check_dtype("argmax", "out", out, DType::I32);
  check_shape("argmax", "out", out, {logits.dim(0)});
  GF_DISPATCH(out.device(), argmax(logits, out));
}

void sample(const Tensor& logits, const Tensor& temperature, const Tensor& top_k, const Tensor& top_p,
            const Tensor& seeds, const Tensor& steps, Tensor& out) {
  const char* op = "sample";
  check_devices(op, out, {{"logits", &logits}, {"temperature", &temperature}, {"topK", &top_k}, {"topP", &top_p},
                          {"seeds", &seeds}, {"steps", &steps}});
  check_all_contiguous(op, {{"logits", &logits}, {"temperature", &temperature}, {"topK", &top_k}, {"topP", &top_p},
                            {"seeds", &seeds}, {"steps", &steps}, {"out", &out}});
  check_ndim(op, "logits", logits, 2);
  check_float(op, "logits", logits);
  GF_CHECK_INPUT(logits.dim(1) >= 1, "sample: 'logits' has no columns");
  const int64_t B = logits.dim(0);
  check_dtype(op, "temperature", temperature, DType::F32);
  check_shape(op, "temperature", temperature, {B});
  check_dtype(op, "topK", top_k, DType::I32);
  check_shape(op, "topK", top_k, {B});
  check_dtype(op, "topP", top_p, DType::F32);
  check_shape(op, "topP", top_p, {B});
  check_dtype(op, "seeds", seeds, DType::I64);
  check_shape(op, "seeds", seeds, {B});
  check_dtype(op, "steps", steps, DType::I32);
  check_shape(op, "steps", steps, {B});
  check_dtype(op, "out", out, DType::I32);
  check_shape(op, "out", out, {B});
  GF_DISPATCH(out.device(), sample(logits, temperature, top_k, top_p, seeds, steps, out));
}

}  // namespace gf

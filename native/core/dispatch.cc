// The neutral op entry points: every argument is checked here once (so both backends may assume valid
// shapes, dtypes and devices), then the call goes to the backend of the output's device.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

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

// Per-row parameters of a batch of `rows`: each a 1-D tensor of that length and dtype.
struct RowParam {
  const char* name;
  const Tensor* t;
  DType dtype;
};
void check_row_params(const char* op, int64_t rows, std::initializer_list<RowParam> params) {
  for (const RowParam& p : params) {
    check_dtype(op, p.name, *p.t, p.dtype);
    check_shape(op, p.name, *p.t, {rows});
  }
}

// An optional group of tensors: all of them given or none.
void check_group(const char* op, std::initializer_list<std::pair<const char*, const Tensor*>> ts) {
  const bool any = std::any_of(ts.begin(), ts.end(), [](const auto& p) { return p.second != nullptr; });
  for (auto& [name, t] : ts) {
    GF_CHECK_INPUT(!any || t, op, ": '", name, "' is missing (its group is given only in part)");
  }
}

// Host i32 row indices in [-1, n) (-1: none). CPU tensors only.
void check_row_indices(const char* op, const char* arg, const Tensor& idx, int64_t n) {
  const int32_t* x = idx.data<int32_t>();
  for (int64_t i = 0; i < idx.numel(); i++) {
    GF_CHECK_INPUT(x[i] >= -1 && x[i] < n, op, ": ", arg, "[", i, "] = ", x[i], " is outside [-1, ", n, ")");
  }
}

// Host lists by offsets: 0 = off[0] ≤ … ≤ off[R] ≤ numel(items), each item a token in [0, V) (or, with
// `complemented`, ~t for a token t). CPU tensors only.
void check_lists(const char* op, const char* off_name, const Tensor& offsets, const char* items_name,
                 const Tensor& items, int64_t V, bool complemented) {
  const int32_t* o = offsets.data<int32_t>();
  const int64_t R = offsets.dim(0) - 1, N = items.dim(0);
  GF_CHECK_INPUT(o[0] == 0, op, ": '", off_name, "'[0] must be 0, got ", o[0]);
  for (int64_t r = 1; r <= R; r++) {
    GF_CHECK_INPUT(o[r] >= o[r - 1], op, ": '", off_name, "' must be non-decreasing (entry ", r, " is ", o[r],
                   " after ", o[r - 1], ")");
  }
  GF_CHECK_INPUT(o[R] <= N, op, ": '", off_name, "' ends at ", o[R], " but '", items_name, "' has ", N, " entries");
  const int32_t* t = items.data<int32_t>();
  for (int64_t j = 0; j < o[R]; j++) {
    const int32_t id = complemented && t[j] < 0 ? ~t[j] : t[j];
    GF_CHECK_INPUT(id >= 0 && id < V, op, ": ", items_name, "[", j, "] = ", t[j], " is not a token of [0, ", V, ")");
  }
}

}  // namespace

// ------------------------------------------------------------------------------------------- elementwise
void cast(const Tensor& x, Tensor& out) {
  check_devices("cast", out, {{"x", &x}});
  check_all_contiguous("cast", {{"x", &x}, {"out", &out}});
  GF_CHECK_INPUT(is_float(x.dtype) || is_quantized(x.dtype), "cast: 'x' must be a float or quantized tensor, got ",
                 x.describe());
  if (is_quantized(out.dtype)) {  // quantizing: from a float tensor; blocks lie along out's rows (Tensor::empty)
    GF_CHECK_INPUT(is_float(x.dtype) || x.dtype == out.dtype, "cast: a ", dtype_name(out.dtype),
                   " 'out' is quantized from f32, f16 or bf16, got 'x' ", x.describe());
  } else {
    check_float("cast", "out", out);
  }
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

void linears(const Tensor& x, const std::vector<Tensor>& ws, const std::vector<const Tensor*>& biases,
             std::vector<Tensor>& outs, bool batch_invariant) {
  GF_CHECK_INPUT(!ws.empty(), "linears: 'w' must hold at least one weight");
  GF_CHECK_INPUT(outs.size() == ws.size(), "linears: 'out' has ", outs.size(), " tensors for ", ws.size(), " weights");
  GF_CHECK_INPUT(biases.empty() || biases.size() == ws.size(), "linears: 'bias' has ", biases.size(), " entries for ",
                 ws.size(), " weights");
  for (size_t i = 0; i < ws.size(); i++) {
    char op[40];  // the op's name in messages, on the stack: this runs on every step of a decode
    std::snprintf(op, sizeof op, "linears (weight %zu)", i);
    check_linear(op, x, ws[i], biases.empty() ? nullptr : biases[i], outs[i]);
    check_same_device(op, outs[i], "out", outs[0], "out[0]");
    GF_CHECK_INPUT(ws[i].dtype == ws[0].dtype, op, ": every weight must have one dtype, got ", ws[i].describe(),
                   " after ", ws[0].describe());
  }
  GF_DISPATCH(outs[0].device(), linears(x, ws, biases, outs, batch_invariant));
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
namespace {
// x [T,H,D] to rotate by positions [T] and inv_freq [R/2]; `name` is x's name in the command
void check_rope(const char* op, const char* name, const Tensor& x, const Tensor& positions, const Tensor& inv_freq) {
  check_devices(op, x, {{"positions", &positions}, {"invFreq", &inv_freq}});
  check_all_contiguous(op, {{name, &x}, {"positions", &positions}, {"invFreq", &inv_freq}});
  check_ndim(op, name, x, 3);
  check_activation(op, name, x);
  check_dtype(op, "positions", positions, DType::I32);
  check_shape(op, "positions", positions, {x.dim(0)});
  check_dtype(op, "invFreq", inv_freq, DType::F32);
  check_ndim(op, "invFreq", inv_freq, 1);
  GF_CHECK_INPUT(inv_freq.dim(0) >= 1 && inv_freq.dim(0) * 2 <= x.dim(2), op, ": 'invFreq' has ", inv_freq.dim(0),
                 " frequencies; the rotary dim (twice that) must be between 2 and the head dim ", x.dim(2));
}
}  // namespace

void rope(Tensor& x, const Tensor& positions, const Tensor& inv_freq, bool interleaved) {
  check_rope("rope", "x", x, positions, inv_freq);
  GF_DISPATCH(x.device(), rope(x, positions, inv_freq, interleaved));
}

// ------------------------------------------------------------------------------------------- activations
namespace {
// A pointwise activation's arguments: x an activation dtype, out the same device, dtype and shape, both contiguous.
void check_pointwise(const char* op, const Tensor& x, const Tensor& out) {
  check_devices(op, out, {{"x", &x}});
  check_all_contiguous(op, {{"x", &x}, {"out", &out}});
  check_activation(op, "x", x);
  check_dtype(op, "out", out, x.dtype);
  check_shape(op, "out", out, x.shape);
}
}  // namespace

void gelu(const Tensor& x, Tensor& out, bool tanh_approx) {
  check_pointwise("gelu", x, out);
  GF_DISPATCH(out.device(), gelu(x, out, tanh_approx));
}

void silu(const Tensor& x, Tensor& out) {
  check_pointwise("silu", x, out);
  GF_DISPATCH(out.device(), silu(x, out));
}

void tanh(const Tensor& x, Tensor& out) {
  check_pointwise("tanh", x, out);
  GF_DISPATCH(out.device(), tanh(x, out));
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
  if (p.batch_invariant) fail(ErrorCode::Unsupported, op, ": batch_invariant is a paged_attention parameter");
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

namespace {
void check_kv_cache_write(const char* op, const Tensor& k, const Tensor& v, const Tensor& k_cache, const Tensor& v_cache,
                          const Tensor& slot_mapping) {
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
}
}  // namespace

void kv_cache_write(const Tensor& k, const Tensor& v, Tensor& k_cache, Tensor& v_cache, const Tensor& slot_mapping) {
  check_kv_cache_write("kv_cache_write", k, v, k_cache, v_cache, slot_mapping);
  GF_DISPATCH(k_cache.device(), kv_cache_write(k, v, k_cache, v_cache, slot_mapping));
}

void rope_kv_cache_write(Tensor& q, Tensor& k, const Tensor& v, const Tensor& positions, const Tensor& inv_freq,
                         bool interleaved, Tensor& k_cache, Tensor& v_cache, const Tensor& slot_mapping) {
  const char* op = "rope_kv_cache_write";
  check_rope(op, "q", q, positions, inv_freq);
  check_rope(op, "k", k, positions, inv_freq);
  check_kv_cache_write(op, k, v, k_cache, v_cache, slot_mapping);
  check_dtype(op, "q", q, k.dtype);
  GF_CHECK_INPUT(q.dim(0) == k.dim(0) && q.dim(2) == k.dim(2), op, ": 'q' ", q.describe(), " and 'k' ", k.describe(),
                 " need the same tokens and head dim");
  GF_DISPATCH(k_cache.device(), rope_kv_cache_write(q, k, v, positions, inv_freq, interleaved, k_cache, v_cache, slot_mapping));
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
            const Tensor& min_p, const Tensor& seeds, const Tensor& steps, Tensor& out) {
  const char* op = "sample";
  check_devices(op, out, {{"logits", &logits}, {"temperature", &temperature}, {"topK", &top_k}, {"topP", &top_p},
                          {"minP", &min_p}, {"seeds", &seeds}, {"steps", &steps}});
  check_all_contiguous(op, {{"logits", &logits}, {"temperature", &temperature}, {"topK", &top_k}, {"topP", &top_p},
                            {"minP", &min_p}, {"seeds", &seeds}, {"steps", &steps}, {"out", &out}});
  check_ndim(op, "logits", logits, 2);
  check_float(op, "logits", logits);
  GF_CHECK_INPUT(logits.dim(1) >= 1, "sample: 'logits' has no columns");
  const int64_t B = logits.dim(0);
  check_row_params(op, B, {{"temperature", &temperature, DType::F32}, {"topK", &top_k, DType::I32},
                           {"topP", &top_p, DType::F32}, {"minP", &min_p, DType::F32}, {"seeds", &seeds, DType::I64},
                           {"steps", &steps, DType::I32}, {"out", &out, DType::I32}});
  GF_DISPATCH(out.device(), sample(logits, temperature, top_k, top_p, min_p, seeds, steps, out));
}

// ------------------------------------------------------------------------------------- logits processors
void process_logits(const Tensor& logits, const LogitsProcessors& p, Tensor& out) {
  const char* op = "process_logits";
  check_devices(op, out, {{"logits", &logits}, {"maskWords", p.mask_words}, {"maskRows", p.mask_rows},
                          {"biasOffsets", p.bias_offsets}, {"biasTokens", p.bias_tokens}, {"biasValues", p.bias_values},
                          {"counts", p.counts}, {"penaltySlots", p.penalty_slots}, {"repetition", p.repetition},
                          {"frequency", p.frequency}, {"presence", p.presence}});
  check_all_contiguous(op, {{"logits", &logits}, {"maskWords", p.mask_words}, {"maskRows", p.mask_rows},
                            {"biasOffsets", p.bias_offsets}, {"biasTokens", p.bias_tokens}, {"biasValues", p.bias_values},
                            {"counts", p.counts}, {"penaltySlots", p.penalty_slots}, {"repetition", p.repetition},
                            {"frequency", p.frequency}, {"presence", p.presence}, {"out", &out}});
  check_ndim(op, "logits", logits, 2);
  check_float(op, "logits", logits);
  const int64_t S = logits.dim(0), V = logits.dim(1);
  GF_CHECK_INPUT(V >= 1, op, ": 'logits' has no columns");
  check_dtype(op, "out", out, DType::F32);
  check_shape(op, "out", out, {S, V});
  const bool cpu = out.device().is_cpu();  // CUDA kernels check index values themselves (device faults)

  check_group(op, {{"maskWords", p.mask_words}, {"maskRows", p.mask_rows}});
  if (p.mask_words) {
    check_dtype(op, "maskWords", *p.mask_words, DType::I32);
    check_ndim(op, "maskWords", *p.mask_words, 2);
    GF_CHECK_INPUT(p.mask_words->dim(1) == (V + 31) / 32, op, ": 'maskWords' must have ceil(V/32) = ", (V + 31) / 32,
                   " words per row, got ", p.mask_words->describe());
    check_row_params(op, S, {{"maskRows", p.mask_rows, DType::I32}});
    if (cpu) check_row_indices(op, "maskRows", *p.mask_rows, p.mask_words->dim(0));
  }

  check_group(op, {{"biasOffsets", p.bias_offsets}, {"biasTokens", p.bias_tokens}, {"biasValues", p.bias_values}});
  if (p.bias_offsets) {
    check_dtype(op, "biasOffsets", *p.bias_offsets, DType::I32);
    check_shape(op, "biasOffsets", *p.bias_offsets, {S + 1});
    check_dtype(op, "biasTokens", *p.bias_tokens, DType::I32);
    check_ndim(op, "biasTokens", *p.bias_tokens, 1);
    check_dtype(op, "biasValues", *p.bias_values, DType::F32);
    check_shape(op, "biasValues", *p.bias_values, p.bias_tokens->shape);
    if (cpu) check_lists(op, "biasOffsets", *p.bias_offsets, "biasTokens", *p.bias_tokens, V, false);
  }

  check_group(op, {{"counts", p.counts}, {"penaltySlots", p.penalty_slots}, {"repetition", p.repetition},
                   {"frequency", p.frequency}, {"presence", p.presence}});
  if (p.counts) {
    check_dtype(op, "counts", *p.counts, DType::I32);
    check_ndim(op, "counts", *p.counts, 2);
    GF_CHECK_INPUT(p.counts->dim(1) == V, op, ": 'counts' must have V = ", V, " columns, got ", p.counts->describe());
    check_row_params(op, S, {{"penaltySlots", p.penalty_slots, DType::I32}, {"repetition", p.repetition, DType::F32},
                             {"frequency", p.frequency, DType::F32}, {"presence", p.presence, DType::F32}});
    if (cpu) {
      check_row_indices(op, "penaltySlots", *p.penalty_slots, p.counts->dim(0));
      const float* r = p.repetition->data<float>();
      const float* f = p.frequency->data<float>();
      const float* pr = p.presence->data<float>();
      for (int64_t b = 0; b < S; b++) {
        GF_CHECK_INPUT(std::isfinite(r[b]) && r[b] > 0, op, ": repetition[", b, "] = ", r[b], " must be a positive number");
        GF_CHECK_INPUT(std::isfinite(f[b]), op, ": frequency[", b, "] = ", f[b], " is not a finite number");
        GF_CHECK_INPUT(std::isfinite(pr[b]), op, ": presence[", b, "] = ", pr[b], " is not a finite number");
      }
    }
  }
  GF_DISPATCH(out.device(), process_logits(logits, p, out));
}

void count_tokens(Tensor& counts, const Tensor& slots, const Tensor* reset, const Tensor& offsets, const Tensor& tokens) {
  const char* op = "count_tokens";
  check_devices(op, counts, {{"slots", &slots}, {"reset", reset}, {"offsets", &offsets}, {"tokens", &tokens}});
  check_all_contiguous(op, {{"counts", &counts}, {"slots", &slots}, {"reset", reset}, {"offsets", &offsets},
                            {"tokens", &tokens}});
  check_dtype(op, "counts", counts, DType::I32);
  check_ndim(op, "counts", counts, 2);
  check_dtype(op, "slots", slots, DType::I32);
  check_ndim(op, "slots", slots, 1);
  const int64_t R = slots.dim(0);
  if (reset) check_row_params(op, R, {{"reset", reset, DType::I32}});
  check_dtype(op, "offsets", offsets, DType::I32);
  check_shape(op, "offsets", offsets, {R + 1});
  check_dtype(op, "tokens", tokens, DType::I32);
  check_ndim(op, "tokens", tokens, 1);
  if (counts.device().is_cpu()) {
    check_row_indices(op, "slots", slots, counts.dim(0));
    check_lists(op, "offsets", offsets, "tokens", tokens, counts.dim(1), true);
    // two entries of one slot would race on its row
    const int32_t* s = slots.data<int32_t>();
    std::vector<int64_t> seen(static_cast<size_t>(counts.dim(0)), -1);
    for (int64_t r = 0; r < R; r++) {
      if (s[r] < 0) continue;
      GF_CHECK_INPUT(seen[s[r]] < 0, op, ": slots[", r, "] = ", s[r], " repeats slots[", seen[s[r]], "]");
      seen[s[r]] = r;
    }
  }
  GF_DISPATCH(counts.device(), count_tokens(counts, slots, reset, offsets, tokens));
}

void logprobs(const Tensor& logits, const Tensor& tokens, Tensor& token_logprobs, Tensor* top_ids, Tensor* top_logprobs) {
  const char* op = "logprobs";
  check_devices(op, token_logprobs, {{"logits", &logits}, {"tokens", &tokens}, {"topIds", top_ids},
                                     {"topLogprobs", top_logprobs}});
  check_all_contiguous(op, {{"logits", &logits}, {"tokens", &tokens}, {"tokenLogprobs", &token_logprobs},
                            {"topIds", top_ids}, {"topLogprobs", top_logprobs}});
  check_ndim(op, "logits", logits, 2);
  check_float(op, "logits", logits);
  const int64_t S = logits.dim(0), V = logits.dim(1);
  GF_CHECK_INPUT(V >= 1, op, ": 'logits' has no columns");
  check_row_params(op, S, {{"tokens", &tokens, DType::I32}, {"tokenLogprobs", &token_logprobs, DType::F32}});
  if (tokens.device().is_cpu()) {
    const int32_t* t = tokens.data<int32_t>();
    for (int64_t b = 0; b < S; b++) {
      GF_CHECK_INPUT(t[b] >= 0 && t[b] < V, op, ": tokens[", b, "] = ", t[b], " is outside [0, ", V, ")");
    }
  }
  check_group(op, {{"topIds", top_ids}, {"topLogprobs", top_logprobs}});
  if (top_ids) {
    check_dtype(op, "topIds", *top_ids, DType::I32);
    check_ndim(op, "topIds", *top_ids, 2);
    const int64_t K = top_ids->dim(1);
    GF_CHECK_INPUT(K >= 1 && K <= kMaxTopLogprobs && K <= V, op, ": 'topIds' asks for K = ", K,
                   " tokens per row; K must be in [1, min(V, ", kMaxTopLogprobs, ")]");
    check_shape(op, "topIds", *top_ids, {S, K});
    check_dtype(op, "topLogprobs", *top_logprobs, DType::F32);
    check_shape(op, "topLogprobs", *top_logprobs, {S, K});
  }
  GF_DISPATCH(token_logprobs.device(), logprobs(logits, tokens, token_logprobs, top_ids, top_logprobs));
}

// ------------------------------------------------------------------------------ streamed weights (offload)
namespace {
void check_slot(const char* op, const CopyQueue& q, int slot) {
  GF_CHECK_INPUT(slot >= 0 && slot < q.slots, op, ": 'slot' ", slot, " is not a slot of the queue (0..", q.slots - 1, ")");
}
}  // namespace

void fetch_slot(CopyQueue& queue, int slot, const std::vector<Tensor>& src, const std::vector<Tensor>& dst) {
  const char* op = "fetch_slot";
  check_slot(op, queue, slot);
  GF_CHECK_INPUT(src.size() == dst.size(), op, ": ", src.size(), " 'src' tensors but ", dst.size(), " 'dst' tensors");
  for (size_t i = 0; i < src.size(); i++) {
    GF_CHECK_INPUT(src[i].device().is_cpu(), op, ": 'src'[", i, "] must be in host memory, got ", src[i].describe());
    GF_CHECK_INPUT(queue.device.is_cpu() || src[i].storage->pinned, op, ": 'src'[", i,
                   "] must be pinned host memory for a copy to ", queue.device.name(), ", got ", src[i].describe());
    GF_CHECK_INPUT(dst[i].device() == queue.device, op, ": 'dst'[", i, "] must be on the queue's device ",
                   queue.device.name(), ", got ", dst[i].describe());
    check_contiguous(op, "src", src[i]);
    check_contiguous(op, "dst", dst[i]);
    GF_CHECK_INPUT(src[i].dtype == dst[i].dtype && src[i].numel() == dst[i].numel(), op, ": 'src'[", i, "] ",
                   src[i].describe(), " does not match 'dst'[", i, "] ", dst[i].describe());
  }
  GF_DISPATCH(queue.device, fetch_slot(queue, slot, src, dst));
}

void wait_slot(CopyQueue& queue, int slot) {
  check_slot("wait_slot", queue, slot);
  GF_DISPATCH(queue.device, wait_slot(queue, slot));
}

void release_slot(CopyQueue& queue, int slot) {
  check_slot("release_slot", queue, slot);
  GF_DISPATCH(queue.device, release_slot(queue, slot));
}

}  // namespace gf

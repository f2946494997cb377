// Attention family, shared by the prefill kernels (attention.cu and the files it dispatches to) and paged
// decode attention (paged_attention.cu: FlashDecoding style split-KV kernel). All read the problem below,
// so one kernel serves contiguous and paged keys alike: only KvAddress differs.
#pragma once
#include "cuda/attention_tiles.h"
#include "cuda/common.cuh"
#include "cuda/device_faults.cuh"
#include "cuda/kv_cache.cuh"
#include "gpuformer/ops.h"

namespace gf {
namespace cuda {

constexpr float kLog2e = 1.4426950408889634f;

// q [T,Hq,D] packed by cu_q [B+1]; keys and values either contiguous [T,Hkv,D] (sequence b's keys are its
// own tokens) or paged [slots,Hkv,D] through block_tables [B,max_blocks] with context_lens [B] keys.
// out [T,Hq,D]. Query j of sequence b (of n_b) sits at position kv_len_b - n_b + j.
struct AttnArgs {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* out = nullptr;
  const int32_t* cu_q = nullptr;
  const int32_t* context_lens = nullptr;  // null: contiguous keys
  const int32_t* block_tables = nullptr;  // null: contiguous keys
  int max_blocks = 0, block_size = 0, num_blocks = 0;
  int B = 0, Hq = 0, Hkv = 0, D = 0;
  int64_t T = 0;
  float scale_log2 = 0;          // softmax scale · log2(e): scores live in the exp2 domain
  bool causal = true;
  int window_left = -1;          // keys at positions ≥ qpos - window_left; -1 = all
  const float* alibi = nullptr;  // [Hq] slopes: score += slope · (kpos - qpos)
  int max_q_len = 0;             // launch hint: longest query run of a sequence
  int max_kv_len = 0;            // launch hint: longest key run of a sequence
  DeviceFault* faults = nullptr;
};

// Where sequence b's queries and keys are, checked and clamped (device_faults.h).
struct SeqInfo {
  int64_t q_start = 0;  // first query token
  int n_q = 0;          // its queries
  int kv_len = 0;       // its keys
  int q_offset = 0;     // position of its first query (kv_len - n_q)
  KvAddress kv;
};

__device__ __forceinline__ SeqInfo seq_info(const AttnArgs& a, int b) {
  SeqInfo s;
  int64_t end;
  checked_seq_bounds(a.faults, a.cu_q, b, a.B, a.T, &s.q_start, &end);
  s.n_q = static_cast<int>(end - s.q_start);
  if (a.block_tables) {
    int kv = a.context_lens[b];
    const int cap = a.max_blocks * a.block_size;
    if (kv < s.n_q) {
      report_fault(a.faults, FaultKind::ContextLen, b, kv, s.n_q);
      kv = s.n_q;
    }
    if (kv > cap || kv > a.max_kv_len) {
      report_fault(a.faults, FaultKind::ContextTooLong, b, kv, cap < a.max_kv_len ? cap : a.max_kv_len);
      kv = cap < a.max_kv_len ? cap : a.max_kv_len;
      if (kv < s.n_q) s.n_q = kv;
    }
    s.kv_len = kv;
    s.kv.block_table = a.block_tables + int64_t(b) * a.max_blocks;
    s.kv.block_size = a.block_size;
    s.kv.num_blocks = a.num_blocks;
    s.kv.faults = a.faults;
  } else {
    s.kv_len = s.n_q;
    s.kv.first_row = s.q_start;
  }
  s.q_offset = s.kv_len - s.n_q;
  return s;
}

// The fields every attention op fills the same way (attention.cu, paged_attention.cu): q [T,Hq,D], keys and
// values (contiguous [T,Hkv,D] or a paged cache [blocks, block_size, Hkv, D]) with `kv_heads` heads, out,
// the query packing cu_q [B+1], the parameters and where kernels report faults.
inline AttnArgs attention_args(const Tensor& q, const Tensor& k, const Tensor& v, int kv_heads, const Tensor& cu_q,
                               const AttentionParams& p, Tensor& out, const Launch& l) {
  AttnArgs a;
  a.q = q.raw();
  a.k = k.raw();
  a.v = v.raw();
  a.out = out.raw();
  a.cu_q = cptr<int32_t>(cu_q);
  a.B = static_cast<int>(cu_q.dim(0) - 1);
  a.T = q.dim(0);
  a.Hq = static_cast<int>(q.dim(1));
  a.Hkv = kv_heads;
  a.D = static_cast<int>(q.dim(2));
  a.scale_log2 = p.scale * kLog2e;
  a.causal = p.causal;
  a.window_left = p.window_left;
  a.alibi = p.alibi_slopes ? cptr<float>(*p.alibi_slopes) : nullptr;
  a.faults = l.faults;
  return a;
}

// Sequence of packed token t: the b with cu[b] ≤ t < cu[b+1] (for a valid cu_seqlens).
__device__ __forceinline__ int sequence_of(const int32_t* cu, int B, int64_t t) {
  int lo = 0, hi = B;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (cu[mid] <= t) lo = mid; else hi = mid;
  }
  return lo;
}

// A query's output from its split's (or its splits' merged) unnormalized sum v and softmax sum l: one
// expression for the single-split and the merged path, so a query's bits do not depend on how many splits the
// launch has (batch invariance). 0 for a query that saw no key.
__device__ __forceinline__ float finish_attention(float v, float l) { return l > 0.0f ? v * __frcp_rn(l) : 0.0f; }

// The keys [lo, hi) that query position qpos may see.
__device__ __forceinline__ void key_range(const AttnArgs& a, int qpos, int kv_len, int* lo, int* hi) {
  tiles::Mask m;
  m.kv_len = kv_len;
  m.causal = a.causal;
  m.window_left = a.window_left;
  tiles::visible_keys(m, qpos, lo, hi);
}

// What a block of the split kernels owns (paged_attention.cu's split-KV kernel, paged_decode.cu): their grid is
// (query tokens, KV heads × head chunks, splits); a block takes one token t, up to `rows` query heads of one KV
// head's group (h0 .. h0 + G - 1 of KV head hk) and split `split` of the token's visible keys, keys
// [k_begin, k_end) (empty when the token sees fewer keys than the split starts at, or is not a query: !valid).
struct SplitBlock {
  int64_t t;
  int split, n_splits;
  int hk, h0, G;
  int b;       // the token's sequence
  SeqInfo s;
  bool valid;  // t is one of sequence b's queries
  int qpos;    // its position
  int k_begin, k_end;
};
__device__ __forceinline__ SplitBlock split_block(const AttnArgs& a, int rows, int partition) {
  SplitBlock k;
  k.t = blockIdx.x;
  k.split = blockIdx.z;
  k.n_splits = gridDim.z;
  const int group = a.Hq / a.Hkv, chunks = (group + rows - 1) / rows;
  k.hk = blockIdx.y / chunks;
  k.h0 = k.hk * group + (blockIdx.y % chunks) * rows;
  k.G = min(rows, k.hk * group + group - k.h0);
  // A token's binary search only visits the sequences around it, so the first block checks every
  // sequence's bounds once: a cu_seqlens that decreases elsewhere is reported, not silently misread.
  if (k.t == 0 && blockIdx.y == 0 && k.split == 0) {
    for (int bb = threadIdx.x; bb < a.B; bb += blockDim.x) {
      int64_t first, last;
      checked_seq_bounds(a.faults, a.cu_q, bb, a.B, a.T, &first, &last);
    }
  }
  k.b = sequence_of(a.cu_q, a.B, k.t);
  k.s = seq_info(a, k.b);
  const int j_local = static_cast<int>(k.t - k.s.q_start);
  k.valid = j_local >= 0 && j_local < k.s.n_q;
  k.qpos = k.s.q_offset + j_local;
  int lo = 0, hi = 0;
  if (k.valid) key_range(a, k.qpos, k.s.kv_len, &lo, &hi);
  k.k_begin = lo + k.split * partition;
  k.k_end = min(hi, k.k_begin + partition);
  return k;
}

// A tile of a sequence's queries, rows [q0, q0 + rows): the sequence's mask, the positions of the tile's first
// and last query, and the key tiles of width block_n they visit (attention_tiles.h).
struct QueryTile {
  tiles::Mask mask;
  int qpos_first = 0, qpos_last = 0;
  tiles::KeyTiles keys;
};
__device__ __forceinline__ QueryTile query_tile(const AttnArgs& a, const SeqInfo& s, int q0, int rows, int block_n) {
  QueryTile t;
  t.mask.kv_len = s.kv_len;
  t.mask.causal = a.causal;
  t.mask.window_left = a.window_left;
  t.qpos_first = s.q_offset + q0;
  t.qpos_last = s.q_offset + min(q0 + rows, s.n_q) - 1;
  t.keys = tiles::key_tiles(t.mask, t.qpos_first, t.qpos_last, block_n);
  return t;
}

// One step of a row's online softmax (exp2 domain): tile_max is the larger of the row's running maximum and
// this tile's scores. Updates the running maximum, sets *alpha to the factor that rescales what came before,
// and returns what this tile's scores are taken relative to (0 while the row sees nothing yet: such a row
// stays all zeros instead of NaN).
__device__ __forceinline__ float online_softmax_step(float* row_max, float tile_max, float* alpha) {
  const float base = tile_max == -INFINITY ? 0.0f : tile_max;
  *alpha = exp2f(*row_max - base);
  *row_max = tile_max;
  return base;
}

// The online softmax of one tile of scores held as m16n8 MMA accumulators (sc: kSTiles n-tiles of 8 keys) for
// this thread's two rows, g and g + 8: the rows' new maxima over the quad of lanes sharing a row, the scores
// turned into exp2 weights relative to them (in place: they become P), the row sums (this thread's part) and
// the output accumulators o (kOTiles n-tiles) rescaled for what came before. attention.cu and paged_decode.cu.
template <int kSTiles, int kOTiles>
__device__ __forceinline__ void online_softmax_tile(float (&sc)[kSTiles][4], float (&o)[kOTiles][4], float (&row_max)[2],
                                                    float (&row_sum)[2]) {
#pragma unroll
  for (int r = 0; r < 2; r++) {
    float mx = row_max[r];
#pragma unroll
    for (int nt = 0; nt < kSTiles; nt++) mx = fmaxf(mx, fmaxf(sc[nt][2 * r], sc[nt][2 * r + 1]));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    float alpha;
    const float base = online_softmax_step(&row_max[r], mx, &alpha);
    float sum = 0.0f;
#pragma unroll
    for (int nt = 0; nt < kSTiles; nt++) {
      sc[nt][2 * r] = exp2f(sc[nt][2 * r] - base);
      sc[nt][2 * r + 1] = exp2f(sc[nt][2 * r + 1] - base);
      sum += sc[nt][2 * r] + sc[nt][2 * r + 1];
    }
    row_sum[r] = row_sum[r] * alpha + sum;
#pragma unroll
    for (int dt = 0; dt < kOTiles; dt++) {
      o[dt][2 * r] *= alpha;
      o[dt][2 * r + 1] *= alpha;
    }
  }
}

// The prefill family (attention.cu): every query run of every sequence, over contiguous keys (prefill) or
// paged keys (chunked prefill, prefix caching). Picks the kernel for the dtype, head dim and device.
void launch_attention_prefill(const AttnArgs& a, DType dtype, int device, cudaStream_t stream);

// The Hopper kernel (attention_sm90.cu, sm_90a code, built where CMakeLists.txt defines
// GPUFORMER_SM90_ATTENTION): whether it serves this problem on this device (f16 / bf16, head dims 64 and 128,
// compute capability 9.0, cache block sizes 8 to 128 that divide 128), and its launch.
bool attention_sm90_applies(const AttnArgs& a, DType dtype, int device);
void launch_attention_sm90(const AttnArgs& a, DType dtype, cudaStream_t stream);

// The f32 kernel (attention_f32.cu, CUDA cores, tiled): head dims 32 to 128.
bool attention_f32_applies(const AttnArgs& a);
void launch_attention_f32(const AttnArgs& a, cudaStream_t stream);

// Split-KV kernel (any float dtype): one block per (query token, KV head, split), all query heads of the
// KV head's group together, so each key and value is read once per group (paged_attention.cu). Fixed split
// points (batch_invariant): 512 keys per split whatever the batch, so a query's arithmetic depends on its own
// keys alone.
void launch_attention_split_kv(const AttnArgs& a, DType dtype, int device, cudaStream_t stream,
                               bool batch_invariant = false);

// The decode kernel on tensor cores (paged_decode.cu): f16 / bf16, head dims 32 to 128 in steps of 16; one block
// per (query token, KV head, split), up to 16 query heads of the group as one MMA's rows.
bool paged_decode_applies(const AttnArgs& a, DType dtype);
void launch_paged_decode(const AttnArgs& a, DType dtype, bool batch_invariant, int device, cudaStream_t stream);

// ---- what the split kernels share (paged_attention.cu)
// Keys per split: tokens × head blocks × splits fill the GPU about four times over, each split at least two
// tiles of `tile` keys, a multiple of the tile; batch_invariant: a fixed 512 (a multiple of every tile).
int split_partition(const AttnArgs& a, int64_t head_blocks, int tile, bool batch_invariant, int device);

// Scratch for the splits' unnormalized outputs [T, Hq, splits, D] and (max, sum) [T, Hq, splits, 2]; null
// pointers when there is one split (the kernel then writes the output itself).
struct SplitPartials {
  float* o = nullptr;
  float* ml = nullptr;
};
SplitPartials split_partials(const AttnArgs& a, int n_splits, int device);

// Merges the splits of each (token, query head) into out: Σ_s 2^(m_s − M) o_s over Σ_s 2^(m_s − M) l_s.
void launch_combine_splits(const AttnArgs& a, int n_splits, const SplitPartials& parts, DType dtype, cudaStream_t stream);

}  // namespace cuda
}  // namespace gf

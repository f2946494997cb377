// Paged attention's entry (which kernel serves a batch), the split-KV attention kernel on CUDA cores, and what
// the split kernels share (split lengths, partial-result scratch, the merge). The split-KV kernel,
// FlashDecoding style: a block owns one query token, one KV head and one slice ("split") of the token's visible
// keys, and serves all query heads of that KV head's group at once, so every key and value row is read from
// memory once per group (GQA / MQA aware). Keys are scored in rounds of kRoundKeys with an online softmax across
// rounds; each lane group reads a key row in 16-byte chunks, several rows in flight. With several splits, each
// writes an unnormalized partial output and its (max, sum), and a second kernel merges them. It serves f32
// decode, head dim 256 and, through KvAddress, contiguous and paged keys alike; f16 / bf16 decode runs on the
// tensor-core kernel of paged_decode.cu.
#include <utility>
#include "cuda/attention.cuh"
#include "cuda/cuda_ops.h"
#include "cuda/workspace.h"


namespace gf {
namespace cuda {
namespace {

constexpr int pow2_at_least(int n) { return n <= 1 ? 1 : 2 * pow2_at_least((n + 1) / 2); }

template <typename T, int D>
struct SplitKv {
  static constexpr int kWarps = 4;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kVW = 16 / sizeof(T);                                   // elements per 16-byte chunk
  static constexpr int kChunks = D / kVW;                                      // chunks per row
  static constexpr int kLanesPerKey = kChunks >= 32 ? 32 : pow2_at_least(kChunks);
  static constexpr int kChunksPerLane = (kChunks + kLanesPerKey - 1) / kLanesPerKey;
  static constexpr int kKeysPerWarp = 32 / kLanesPerKey;                       // rows a warp reads at once
  static constexpr int kUnroll = 4;                                            // row loads in flight per lane
  // keys per round: a multiple of what the block reads in one unrolled step, and at least 64 so the three
  // barriers of a round are amortized
  static constexpr int kRoundKeys = kWarps * kKeysPerWarp * kUnroll >= 64 ? kWarps * kKeysPerWarp * kUnroll : 64;
  // query heads per block: larger groups take several blocks, whose second reads of a row mostly hit L2;
  // a bound of 4 keeps registers low enough for the occupancy a memory-bound kernel needs
  static constexpr int kMaxG = 4;
  static_assert(D % kVW == 0, "head dim must be a multiple of 16 bytes");
};

// One 16-byte chunk of a row as f32.
template <typename T>
__device__ __forceinline__ void load_chunk(const T* p, float* out) {
  const Vec<T> v = load_vec(p);
#pragma unroll
  for (int e = 0; e < kVecElems<T>; e++) out[e] = to_f32(v.v[e]);
}

// grid (T, Hkv · head chunks, splits). partial_o [T, Hq, splits, D] and partial_ml [T, Hq, splits, 2] are
// written when gridDim.z > 1; otherwise the output directly.
template <typename T, int D>
__global__ void __launch_bounds__(SplitKv<T, D>::kThreads)
    split_kv_attention_kernel(const AttnArgs a, int partition, float* __restrict__ partial_o,
                              float* __restrict__ partial_ml) {
  using K = SplitKv<T, D>;
  constexpr int G8 = K::kMaxG;
  __shared__ float s_p[G8][K::kRoundKeys];          // scores, then probabilities, of one round
  __shared__ float s_max[G8], s_sum[G8], s_alpha[G8];
  __shared__ float s_red[K::kWarps][G8][D];         // per-warp partial outputs, summed at the end

  // this block's token, query heads and keys (attention.cuh); lambdas use blk (C++17 lambdas cannot capture
  // structured bindings)
  const SplitBlock blk = split_block(a, G8, partition);
  const auto& [t, split, n_splits, hk, h0, G, b, s, valid, qpos, k_begin, k_end] = blk;
  if (!a.block_tables && t == s.q_start && blockIdx.y == 0 && split == 0 && threadIdx.x == 0 && s.n_q > a.max_q_len) {
    report_fault(a.faults, FaultKind::SeqTooLong, b, s.n_q, a.max_q_len);
  }

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int sub = lane / K::kLanesPerKey, li = lane % K::kLanesPerKey;
  const int64_t q_stride = int64_t(a.Hq) * D, kv_stride = int64_t(a.Hkv) * D;
  const T* kbase = static_cast<const T*>(a.k) + hk * D;
  const T* vbase = static_cast<const T*>(a.v) + hk * D;

  // This lane's chunks of each query head, pre-scaled into the exp2 domain.
  float q[G8][K::kChunksPerLane][K::kVW];
#pragma unroll
  for (int g = 0; g < G8; g++) {
#pragma unroll
    for (int cc = 0; cc < K::kChunksPerLane; cc++) {
      const int ci = li + cc * K::kLanesPerKey;
      if (g < G && ci < K::kChunks && valid) {
        load_chunk(static_cast<const T*>(a.q) + t * q_stride + (h0 + g) * D + ci * K::kVW, q[g][cc]);
#pragma unroll
        for (int e = 0; e < K::kVW; e++) q[g][cc][e] *= a.scale_log2;
      } else {
#pragma unroll
        for (int e = 0; e < K::kVW; e++) q[g][cc][e] = 0.0f;
      }
    }
  }
  float acc[G8][K::kChunksPerLane][K::kVW];
#pragma unroll
  for (int g = 0; g < G8; g++)
#pragma unroll
    for (int cc = 0; cc < K::kChunksPerLane; cc++)
#pragma unroll
      for (int e = 0; e < K::kVW; e++) acc[g][cc][e] = 0.0f;
  if (threadIdx.x < G8) {
    s_max[threadIdx.x] = -INFINITY;
    s_sum[threadIdx.x] = 0.0f;
  }

  constexpr int kStep = K::kWarps * K::kKeysPerWarp;  // rows read by the block at once
  // This lane's raw 16-byte chunks (converted at use: half the registers) of the kUnroll key or value rows
  // starting at round r0, step u0; zeros past k_end and past the head dim.
  auto load_rows = [&](const T* base, int r0, int u0, Vec<T> (&dst)[K::kUnroll][K::kChunksPerLane]) {
#pragma unroll
    for (int u = 0; u < K::kUnroll; u++) {
      const int j = r0 + (u0 + u) * kStep + warp * K::kKeysPerWarp + sub;
#pragma unroll
      for (int cc = 0; cc < K::kChunksPerLane; cc++) {
        const int ci = li + cc * K::kLanesPerKey;
        dst[u][cc] = j < blk.k_end && ci < K::kChunks ? load_vec(base + blk.s.kv.row_of(j) * kv_stride + ci * K::kVW) : zero_vec<T>();
      }
    }
  };
  for (int r0 = k_begin; r0 < k_end; r0 += K::kRoundKeys) {
    // 1. scores of this round's keys
#pragma unroll
    for (int u0 = 0; u0 < K::kRoundKeys / kStep; u0 += K::kUnroll) {
      Vec<T> kv[K::kUnroll][K::kChunksPerLane];
      load_rows(kbase, r0, u0, kv);
#pragma unroll
      for (int u = 0; u < K::kUnroll; u++) {
        const int idx = (u0 + u) * kStep + warp * K::kKeysPerWarp + sub;
        const int j = r0 + idx;
#pragma unroll
        for (int g = 0; g < G8; g++) {
          if (g >= G) break;
          float dot = 0.0f;
#pragma unroll
          for (int cc = 0; cc < K::kChunksPerLane; cc++)
#pragma unroll
            for (int e = 0; e < K::kVW; e++) dot += q[g][cc][e] * to_f32(kv[u][cc].v[e]);
#pragma unroll
          for (int o = K::kLanesPerKey / 2; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
          if (li == 0) {
            if (a.alibi) dot += a.alibi[h0 + g] * kLog2e * static_cast<float>(j - qpos);
            s_p[g][idx] = j < k_end ? dot : -INFINITY;
          }
        }
      }
    }
    __syncthreads();

    // 2. online softmax over the round, one warp per query head
    for (int g = warp; g < G; g += K::kWarps) {
      float mx = -INFINITY;
      for (int i = lane; i < K::kRoundKeys; i += 32) mx = fmaxf(mx, s_p[g][i]);
      mx = fmaxf(warp_max(mx), s_max[g]);
      const float base = mx == -INFINITY ? 0.0f : mx;
      float sum = 0.0f;
      for (int i = lane; i < K::kRoundKeys; i += 32) {
        const float p = exp2f(s_p[g][i] - base);
        s_p[g][i] = p;
        sum += p;
      }
      sum = warp_sum(sum);
      __syncwarp();
      if (lane == 0) {
        const float alpha = exp2f(s_max[g] - base);
        s_alpha[g] = alpha;
        s_sum[g] = s_sum[g] * alpha + sum;
        s_max[g] = mx;
      }
    }
    __syncthreads();

    // 3. acc = acc · alpha + Σ p · v
#pragma unroll
    for (int g = 0; g < G8; g++) {
      if (g >= G) break;
      const float alpha = s_alpha[g];
#pragma unroll
      for (int cc = 0; cc < K::kChunksPerLane; cc++)
#pragma unroll
        for (int e = 0; e < K::kVW; e++) acc[g][cc][e] *= alpha;
    }
#pragma unroll
    for (int u0 = 0; u0 < K::kRoundKeys / kStep; u0 += K::kUnroll) {
      Vec<T> vv[K::kUnroll][K::kChunksPerLane];
      load_rows(vbase, r0, u0, vv);
#pragma unroll
      for (int u = 0; u < K::kUnroll; u++) {
        const int idx = (u0 + u) * kStep + warp * K::kKeysPerWarp + sub;
#pragma unroll
        for (int g = 0; g < G8; g++) {
          if (g >= G) break;
          const float p = s_p[g][idx];  // 0 for keys past the end
#pragma unroll
          for (int cc = 0; cc < K::kChunksPerLane; cc++)
#pragma unroll
            for (int e = 0; e < K::kVW; e++) acc[g][cc][e] += p * to_f32(vv[u][cc].v[e]);
        }
      }
    }
    __syncthreads();  // s_p is rewritten by the next round
  }

  // Sum the lane groups of each warp, then the warps, through shared memory.
#pragma unroll
  for (int g = 0; g < G8; g++) {
    if (g >= G) break;
#pragma unroll
    for (int cc = 0; cc < K::kChunksPerLane; cc++) {
      const int ci = li + cc * K::kLanesPerKey;
#pragma unroll
      for (int e = 0; e < K::kVW; e++) {
        float v = acc[g][cc][e];
#pragma unroll
        for (int o = K::kLanesPerKey; o < 32; o <<= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (sub == 0 && ci < K::kChunks) s_red[warp][g][ci * K::kVW + e] = v;
      }
    }
  }
  __syncthreads();

  for (int i = threadIdx.x; i < G * D; i += K::kThreads) {
    const int g = i / D, d = i % D;
    float v = 0.0f;
#pragma unroll
    for (int w = 0; w < K::kWarps; w++) v += s_red[w][g][d];
    const int64_t row = t * a.Hq + h0 + g;  // (token, query head)
    if (n_splits == 1) {
      const float l = s_sum[g];
      static_cast<T*>(a.out)[row * D + d] = from_f32<T>(finish_attention(v, l));
    } else {
      partial_o[(row * n_splits + split) * D + d] = v;
      if (d == 0) {
        partial_ml[(row * n_splits + split) * 2] = s_max[g];
        partial_ml[(row * n_splits + split) * 2 + 1] = s_sum[g];
      }
    }
  }
}

// Merges the splits of each (token, query head): out = Σ_s 2^(m_s - M) o_s / Σ_s 2^(m_s - M) l_s, the splits in
// order (fixed: batch invariance), the final division the single-split path's (finish_attention).
template <typename T>
__global__ void combine_splits_kernel(const float* __restrict__ partial_o, const float* __restrict__ partial_ml,
                                      int n_splits, int D, T* __restrict__ out) {
  const int64_t row = blockIdx.x;
  const float* ml = partial_ml + row * n_splits * 2;
  float M = -INFINITY;
  for (int s = 0; s < n_splits; s++) M = fmaxf(M, ml[2 * s]);
  const float base = M == -INFINITY ? 0.0f : M;
  float L = 0.0f;
  for (int s = 0; s < n_splits; s++) L += exp2f(ml[2 * s] - base) * ml[2 * s + 1];
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float v = 0.0f;
    for (int s = 0; s < n_splits; s++) v += exp2f(ml[2 * s] - base) * partial_o[(row * n_splits + s) * D + d];
    out[row * D + d] = from_f32<T>(finish_attention(v, L));
  }
}

template <typename T, int D>
void launch_split_kv(const AttnArgs& a, bool batch_invariant, int device, cudaStream_t stream) {
  using K = SplitKv<T, D>;
  const int group = a.Hq / a.Hkv;
  const int64_t head_chunks = int64_t(a.Hkv) * ceil_div(group, K::kMaxG);
  GF_CHECK_INPUT(head_chunks <= 65535, "attention: too many heads for the CUDA split-KV kernel (", a.Hq, ")");
  const int partition = split_partition(a, head_chunks, K::kRoundKeys, batch_invariant, device);
  const int n_splits = static_cast<int>(ceil_div(std::max(a.max_kv_len, 1), partition));
  GF_CHECK_INPUT(n_splits <= 65535, "attention: too many keys for the CUDA split-KV kernel (", a.max_kv_len, ")");
  const SplitPartials parts = split_partials(a, n_splits, device);
  const dim3 grid(static_cast<unsigned>(a.T), static_cast<unsigned>(head_chunks), static_cast<unsigned>(n_splits));
  split_kv_attention_kernel<T, D><<<grid, K::kThreads, 0, stream>>>(a, partition, parts.o, parts.ml);
  GF_CUDA_LAUNCHED();
  if (n_splits > 1) launch_combine_splits(a, n_splits, parts, dtype_of<T>(), stream);
}

template <typename T>
void launch_split_kv_for_dim(const AttnArgs& a, bool batch_invariant, int device, cudaStream_t stream) {
  switch (a.D) {
    case 32: return launch_split_kv<T, 32>(a, batch_invariant, device, stream);
    case 64: return launch_split_kv<T, 64>(a, batch_invariant, device, stream);
    case 80: return launch_split_kv<T, 80>(a, batch_invariant, device, stream);
    case 96: return launch_split_kv<T, 96>(a, batch_invariant, device, stream);
    case 128: return launch_split_kv<T, 128>(a, batch_invariant, device, stream);
    case 256: return launch_split_kv<T, 256>(a, batch_invariant, device, stream);
    default: fail(ErrorCode::Unsupported, "attention: head dim ", a.D, " has no CUDA kernel");
  }
}

}  // namespace

int split_partition(const AttnArgs& a, int64_t head_blocks, int tile, bool batch_invariant, int device) {
  constexpr int kInvariantPartition = 512;
  if (batch_invariant) return kInvariantPartition;
  const int64_t keys = std::max(a.max_kv_len, 1);
  const int64_t want = 4LL * multiprocessor_count(device);
  const int64_t max_splits = std::max<int64_t>(1, ceil_div(keys, 2 * tile));
  const int64_t n = std::min(std::min(max_splits, ceil_div(want, a.T * head_blocks)), int64_t(1024));
  return static_cast<int>(ceil_div(ceil_div(keys, n), tile) * tile);
}

SplitPartials split_partials(const AttnArgs& a, int n_splits, int device) {
  SplitPartials p;
  if (n_splits <= 1) return p;
  const size_t rows = size_t(a.T) * a.Hq * n_splits;
  float* ws = static_cast<float*>(scratch(device, Scratch::AttentionPartials, rows * (a.D + 2) * sizeof(float)));
  p.o = ws;
  p.ml = ws + rows * a.D;
  return p;
}

void launch_combine_splits(const AttnArgs& a, int n_splits, const SplitPartials& parts, DType dtype, cudaStream_t stream) {
  with_float_type(dtype, "attention", [&](auto tag) {
    using T = decltype(tag);
    combine_splits_kernel<T><<<static_cast<unsigned>(a.T * a.Hq), a.D >= 128 ? 128 : a.D, 0, stream>>>(
        parts.o, parts.ml, n_splits, a.D, static_cast<T*>(a.out));
  });
  GF_CUDA_LAUNCHED();
}

void launch_attention_split_kv(const AttnArgs& a, DType dtype, int device, cudaStream_t stream, bool batch_invariant) {
  GF_CHECK_INPUT(a.T <= 0x7fffffff, "attention: too many tokens for one CUDA launch (", a.T, ")");
  with_float_type(dtype, "attention", [&](auto tag) {
    launch_split_kv_for_dim<decltype(tag)>(a, batch_invariant, device, stream);
  });
}

// q [T,Hq,D] packed by cu_seqlens_q [B+1]; k_cache, v_cache [blocks, block_size, Hkv, D]; context_lens [B];
// block_tables [B, max_blocks]; out [T,Hq,D]
void paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& cu_seqlens_q,
                     const Tensor& context_lens, const Tensor& block_tables, int max_context_len,
                     const AttentionParams& p, Tensor& out) {
  const Launch l = launch_for(out);
  AttnArgs a = attention_args(q, k_cache, v_cache, static_cast<int>(k_cache.dim(2)), cu_seqlens_q, p, out, l);
  a.context_lens = cptr<int32_t>(context_lens);
  a.block_tables = cptr<int32_t>(block_tables);
  a.max_blocks = static_cast<int>(block_tables.dim(1));
  a.block_size = static_cast<int>(k_cache.dim(1));
  a.num_blocks = static_cast<int>(k_cache.dim(0));
  a.max_kv_len = max_context_len;
  a.max_q_len = static_cast<int>(std::min<int64_t>(a.T, max_context_len));  // no sequence has more queries than keys
  if (a.T == 0 || a.B == 0) return;
  GF_CHECK_INPUT(a.block_size >= 1 && a.num_blocks >= 1, "paged_attention: the cache has no blocks (",
                 k_cache.describe(), ")");
  // Every kernel below moves q, keys and values in 16-byte pieces (cp.async, vector loads); rows are whole
  // pieces (head dims are multiples of 16 bytes), so the tensors' starts are what must be aligned.
  const std::pair<const char*, const Tensor*> vectors[] = {{"q", &q}, {"kCache", &k_cache}, {"vCache", &v_cache}, {"out", &out}};
  for (const auto& [name, t] : vectors) {
    GF_CHECK_INPUT(aligned16(t->raw()), "paged_attention: '", name, "' ", t->describe(),
                   " does not start 16-byte aligned (a view at an odd offset?); CUDA reads it in 16-byte vectors");
  }
  // Batch-invariant: every query, decode or prefill, by the per-query kernels with fixed split points, so its
  // bits do not depend on the batch, on how its prompt was chunked or on what the prefix cache held. Otherwise
  // mostly one query per sequence (decode): the decode kernels, split over the keys; longer query runs (chunked
  // prefill, prefix caching): the prefill family, whose kernels share each key tile among a tile of queries.
  const bool decode_like = a.T <= 2LL * a.B;
  if (p.batch_invariant || decode_like) {
    if (paged_decode_applies(a, q.dtype)) launch_paged_decode(a, q.dtype, p.batch_invariant, l.device, l.stream);
    else launch_attention_split_kv(a, q.dtype, l.device, l.stream, p.batch_invariant);
  } else {
    launch_attention_prefill(a, q.dtype, l.device, l.stream);
  }
}

}  // namespace cuda
}  // namespace gf

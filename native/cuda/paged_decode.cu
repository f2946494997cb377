// Paged decode attention on tensor cores, FlashDecoding style: a block owns one query token, one KV head and
// one split (a fixed run of the token's visible keys), and computes every query head that shares the KV head at
// once — up to 16 of them as the 16 rows of m16n8k16 MMAs (GQA: each key and value is read once per group; MHA
// pads the rows) — so a decode step reads each sequence's cache once per KV head. Keys and values stream through
// shared memory in tiles of 64 by 16-byte cp.async copies, two tiles deep (the next tile's copies in flight while
// this one is multiplied); the block's four warps take 16 keys of each tile apiece, each with its own online
// softmax, merged at the end of the split. S = QKᵀ and O += PV as in the prefill kernel (attention.cu); Q stays in
// registers. With several splits, each writes its unnormalized output and (max, sum), and combine_splits merges
// them (paged_attention.cu).
//
// Split length (split_partition): long enough to keep merging cheap, short enough that tokens × KV heads × splits
// fill the GPU; in the batch-invariant mode a fixed 512 keys, so a query's arithmetic never depends on the batch.
// Serves f16 / bf16, head dims 32, 64, 80, 96 and 128 (paged_attention.cu routes the rest to the split-KV kernel).
#include "cuda/attention.cuh"
#include "cuda/cuda_ops.h"
#include "cuda/mma.cuh"
#include "cuda/workspace.h"

namespace gf {
namespace cuda {
namespace {

template <typename T, int D>
struct Decode {
  static constexpr int kWarps = 4;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kRows = 16;                // query heads per block (one MMA's rows)
  static constexpr int kTile = 16 * kWarps;       // keys per tile: 16 per warp
  static constexpr int kStride = D + 8;           // smem row stride: a 16-byte pad makes ldmatrix conflict-free
  static constexpr int kKSteps = D / 16;          // k-steps of QKᵀ
  static constexpr int kOTiles = D / 8;           // n-tiles of O
  static constexpr int kChunks = D / 8;           // 16-byte chunks per key row
  static constexpr size_t kStageElems = size_t(2) * kTile * kStride;  // K and V of one tile
  static constexpr size_t kSmemBytes = 2 * kStageElems * sizeof(T);   // two stages
  // the end-of-split merge reuses the stages: per warp 16 × D partial outputs, 16 maxima and 16 sums
  static_assert(size_t(kWarps) * kRows * (D + 2) * sizeof(float) <= kSmemBytes, "merge space");
  static_assert(D % 16 == 0 && D <= 128, "head dims 32 to 128, multiples of 16");
};

// Keys [key0, key0 + kTile) of one KV head into a K and a V tile; keys at or past key_end are zero-filled.
template <typename T, int D>
__device__ __forceinline__ void load_tile(T* sK, T* sV, const T* kbase, const T* vbase, const KvAddress& kv,
                                          int64_t row_stride, int key0, int key_end) {
  using P = Decode<T, D>;
  for (int i = threadIdx.x; i < P::kTile * P::kChunks; i += P::kThreads) {
    const int r = i / P::kChunks, c = i % P::kChunks;
    const int j = key0 + r;
    const bool ok = j < key_end;
    const int64_t off = ok ? kv.row_of(j) * row_stride + c * 8 : 0;
    cp_async16(sK + r * P::kStride + c * 8, kbase + off, ok);
    cp_async16(sV + r * P::kStride + c * 8, vbase + off, ok);
  }
}

// grid (tokens, KV heads × ceil(group / 16), splits). partial_o [T, Hq, splits, D] and partial_ml
// [T, Hq, splits, 2] are written when gridDim.z > 1; otherwise the output directly.
template <typename T, int D>
__global__ void __launch_bounds__(Decode<T, D>::kThreads)
    paged_decode_kernel(const AttnArgs a, int partition, float* __restrict__ partial_o, float* __restrict__ partial_ml) {
  using P = Decode<T, D>;
  extern __shared__ __align__(16) unsigned char smem[];
  T* const stages = reinterpret_cast<T*>(smem);  // stage i: K tile, then V tile, at stages + i · kStageElems

  // this block's token, query heads and keys (attention.cuh)
  const auto [t, split, n_splits, hk, h0, G, b, s, valid, qpos, k_begin, k_end] = split_block(a, P::kRows, partition);
  const int n_tiles = k_end > k_begin ? (k_end - k_begin + P::kTile - 1) / P::kTile : 0;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t4 = lane % 4;
  const int64_t kv_stride = int64_t(a.Hkv) * D;
  const T* kbase = static_cast<const T*>(a.k) + hk * D;
  const T* vbase = static_cast<const T*>(a.v) + hk * D;

  if (n_tiles > 0) load_tile<T, D>(stages, stages + P::kTile * P::kStride, kbase, vbase, s.kv, kv_stride, k_begin, k_end);
  cp_async_commit();

  // Q fragments (A operand, 16 rows = query heads h0 .. h0 + 15, zero past G): rows g and g + 8.
  uint32_t qf[P::kKSteps][4];
  {
    const uint32_t* q32 = static_cast<const uint32_t*>(a.q);
    const int64_t row0 = (t * a.Hq + h0 + g) * D / 2, row1 = (t * a.Hq + h0 + g + 8) * D / 2;  // in 2-element words
    const bool ok0 = valid && g < G, ok1 = valid && g + 8 < G;
#pragma unroll
    for (int ks = 0; ks < P::kKSteps; ks++) {
      const int w0 = (ks * 16 + 2 * t4) / 2, w1 = (ks * 16 + 8 + 2 * t4) / 2;
      qf[ks][0] = ok0 ? q32[row0 + w0] : 0u;
      qf[ks][1] = ok1 ? q32[row1 + w0] : 0u;
      qf[ks][2] = ok0 ? q32[row0 + w1] : 0u;
      qf[ks][3] = ok1 ? q32[row1 + w1] : 0u;
    }
  }
  const float slope[2] = {a.alibi && g < G ? a.alibi[h0 + g] * kLog2e : 0.0f,
                          a.alibi && g + 8 < G ? a.alibi[h0 + g + 8] * kLog2e : 0.0f};

  float o[P::kOTiles][4];
#pragma unroll
  for (int i = 0; i < P::kOTiles; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};  // rows g, g + 8; sums per thread

  for (int it = 0; it < n_tiles; it++) {
    cp_async_wait<0>();
    __syncthreads();  // tile it has landed for every thread, and every warp is done with the other stage
    if (it + 1 < n_tiles) {
      T* next = stages + ((it + 1) % 2) * P::kStageElems;
      load_tile<T, D>(next, next + P::kTile * P::kStride, kbase, vbase, s.kv, kv_stride, k_begin + (it + 1) * P::kTile, k_end);
    }
    cp_async_commit();
    const T* sK = stages + (it % 2) * P::kStageElems + warp * 16 * P::kStride;  // this warp's 16 keys
    const T* sV = sK + P::kTile * P::kStride;
    const int key0 = k_begin + it * P::kTile + warp * 16;

    // S = Q Kᵀ for 16 heads × this warp's 16 keys
    float sc[2][4] = {};
#pragma unroll
    for (int ks = 0; ks < P::kKSteps; ks++) {
      uint32_t bf[4];
      ldmatrix_x4(bf, sK + ((lane % 8) + (lane / 16) * 8) * P::kStride + ks * 16 + ((lane / 8) % 2) * 8);
      mma_16816<T>(sc[0], qf[ks], bf);
      mma_16816<T>(sc[1], qf[ks], bf + 2);
    }
#pragma unroll
    for (int nt = 0; nt < 2; nt++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int key = key0 + nt * 8 + 2 * t4 + (e & 1);
        float x = sc[nt][e] * a.scale_log2;
        if (a.alibi) x += slope[e >> 1] * static_cast<float>(key - qpos);
        sc[nt][e] = key < k_end ? x : -INFINITY;
      }
    }
    // online softmax of this warp's keys, per row (the quad of lanes sharing a row)
    online_softmax_tile(sc, o, row_max, row_sum);
    // O += P V: S's two n-tiles are one A fragment of P
    const uint32_t pa[4] = {pack2<T>(sc[0][0], sc[0][1]), pack2<T>(sc[0][2], sc[0][3]), pack2<T>(sc[1][0], sc[1][1]),
                            pack2<T>(sc[1][2], sc[1][3])};
#pragma unroll
    for (int dp = 0; dp < P::kOTiles / 2; dp++) {
      uint32_t bf[4];
      ldmatrix_x4_trans(bf, sV + ((lane % 8) + ((lane / 8) % 2) * 8) * P::kStride + dp * 16 + (lane / 16) * 8);
      mma_16816<T>(o[2 * dp], pa, bf);
      mma_16816<T>(o[2 * dp + 1], pa, bf + 2);
    }
  }
  cp_async_wait<0>();
  __syncthreads();  // the stages are free: they hold the warps' partial results below

  // Each warp's (max, sum, output) per row into shared memory, then merged in warp order (a fixed order).
  float* w_o = reinterpret_cast<float*>(smem) + warp * P::kRows * (D + 2);  // [16][D], then 16 maxima, 16 sums
  float* w_m = w_o + P::kRows * D;
  float* w_l = w_m + P::kRows;
#pragma unroll
  for (int r = 0; r < 2; r++) {
    float l = row_sum[r];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const int row = g + 8 * r;
    if (t4 == 0) {
      w_m[row] = row_max[r];
      w_l[row] = l;
    }
#pragma unroll
    for (int dt = 0; dt < P::kOTiles; dt++) {
      w_o[row * D + dt * 8 + 2 * t4] = o[dt][2 * r];
      w_o[row * D + dt * 8 + 2 * t4 + 1] = o[dt][2 * r + 1];
    }
  }
  __syncthreads();
  const float* all = reinterpret_cast<const float*>(smem);
  for (int i = threadIdx.x; i < G * D; i += P::kThreads) {
    const int row = i / D, d = i % D;
    float m = -INFINITY;
#pragma unroll
    for (int w = 0; w < P::kWarps; w++) m = fmaxf(m, all[w * P::kRows * (D + 2) + P::kRows * D + row]);
    const float base = m == -INFINITY ? 0.0f : m;
    float v = 0.0f, l = 0.0f;
#pragma unroll
    for (int w = 0; w < P::kWarps; w++) {
      const float* wo = all + w * P::kRows * (D + 2);
      const float scale = exp2f(wo[P::kRows * D + row] - base);
      v += scale * wo[row * D + d];
      l += scale * wo[P::kRows * D + P::kRows + row];
    }
    const int64_t hrow = t * a.Hq + h0 + row;  // (token, query head)
    if (n_splits == 1) {
      static_cast<T*>(a.out)[hrow * D + d] = from_f32<T>(finish_attention(v, l));
    } else {
      partial_o[(hrow * n_splits + split) * D + d] = v;
      if (d == 0) {
        partial_ml[(hrow * n_splits + split) * 2] = m;
        partial_ml[(hrow * n_splits + split) * 2 + 1] = l;
      }
    }
  }
}

template <typename T, int D>
void launch_decode(const AttnArgs& a, bool batch_invariant, int device, cudaStream_t stream) {
  using P = Decode<T, D>;
  const int64_t head_blocks = int64_t(a.Hkv) * ceil_div(a.Hq / a.Hkv, P::kRows);
  GF_CHECK_INPUT(head_blocks <= 65535 && a.T <= 0x7fffffff, "paged_attention: too many heads (", a.Hq, ") or tokens (",
                 a.T, ") for one CUDA decode launch");
  const int partition = split_partition(a, head_blocks, P::kTile, batch_invariant, device);
  const int n_splits = static_cast<int>(ceil_div(std::max(a.max_kv_len, 1), partition));
  GF_CHECK_INPUT(n_splits <= 65535, "paged_attention: too many keys for one CUDA decode launch (", a.max_kv_len, ")");
  const SplitPartials parts = split_partials(a, n_splits, device);
  auto kernel = paged_decode_kernel<T, D>;
  GF_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(P::kSmemBytes)));
  const dim3 grid(static_cast<unsigned>(a.T), static_cast<unsigned>(head_blocks), static_cast<unsigned>(n_splits));
  kernel<<<grid, P::kThreads, P::kSmemBytes, stream>>>(a, partition, parts.o, parts.ml);
  GF_CUDA_LAUNCHED();
  if (n_splits > 1) launch_combine_splits(a, n_splits, parts, dtype_of<T>(), stream);
}

}  // namespace

bool paged_decode_applies(const AttnArgs& a, DType dtype) {
  return (dtype == DType::F16 || dtype == DType::BF16) && (a.D == 32 || a.D == 64 || a.D == 80 || a.D == 96 || a.D == 128);
}

void launch_paged_decode(const AttnArgs& a, DType dtype, bool batch_invariant, int device, cudaStream_t stream) {
  auto go = [&](auto tag) {
    using T = decltype(tag);
    switch (a.D) {
      case 32: return launch_decode<T, 32>(a, batch_invariant, device, stream);
      case 64: return launch_decode<T, 64>(a, batch_invariant, device, stream);
      case 80: return launch_decode<T, 80>(a, batch_invariant, device, stream);
      case 96: return launch_decode<T, 96>(a, batch_invariant, device, stream);
      case 128: return launch_decode<T, 128>(a, batch_invariant, device, stream);
      default: fail(ErrorCode::Unsupported, "paged_attention: head dim ", a.D, " has no CUDA decode kernel");
    }
  };
  if (dtype == DType::F16) go(half{});
  else if (dtype == DType::BF16) go(bf16{});
  else fail(ErrorCode::Input, "paged_attention: the tensor-core decode kernel takes f16 or bf16, got ", dtype_name(dtype));
}

}  // namespace cuda
}  // namespace gf

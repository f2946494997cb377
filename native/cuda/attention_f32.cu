// Fused prefill attention in f32 on the CUDA cores (head dims up to 128), FlashAttention-2 style: a block owns
// 64 query rows of one head of one sequence and streams the keys and values in tiles of 32 through shared
// memory (cp.async, V of a tile loading while S is computed, the next K while P·V runs), with the softmax
// online, so each key and value row is read from memory once per 64 queries instead of once per query as
// in the split-KV decode kernel this path replaces for prefill.
//
// Why not the tensor cores: f32 activations on CUDA are the exact mode, held to the CPU within 1e-5 (the
// precision contract of test/gpu); TF32 operands (10-bit mantissas) land near 1e-3 and bf16 tiles near 1e-2,
// so either would make --dtype float32 a different, less exact model. Error-compensated 3×TF32 would keep
// f32 accuracy at a sixth of the f16 tensor rate; f16 / bf16 are the fast path, and this kernel only has to
// make f32 prefill tiled rather than per-token. Head dim 256 stays on the split-KV kernel: its tiles would
// not fit the 99 KB of shared memory of sm_86 / sm_89.
//
// Thread (rg, kg) = (t / 16, t % 16) of 256 computes S for rows 4rg..4rg+3 × keys kg, kg+16 of the tile, and
// O for those rows × head dims kg + 16j; a row's 32 scores live in the 16 lanes of one half-warp, so its
// reductions are shuffles. Padded rows keep every shared-memory access free of bank conflicts.
#include "cuda/attention.cuh"
#include "cuda/attention_tiles.h"
#include "cuda/mma.cuh"

namespace gf {
namespace cuda {
namespace {

template <int D>
struct F32Tile {
  static constexpr int kThreads = 256;
  static constexpr int kBr = 64;         // query rows per block
  static constexpr int kBc = 32;         // keys per tile
  static constexpr int kRows = 4;        // query rows per thread
  static constexpr int kKeys = 2;        // keys per thread (kg, kg + 16)
  static constexpr int kCols = D / 16;   // output head dims per thread (kg + 16j)
  static constexpr int kStride = D + 4;  // row stride (floats) of Q, K, V: 16-byte rows a quarter-warp reads at distinct banks
  static constexpr int kPStride = kBc + 1;
  static constexpr size_t kSmemBytes = size_t(kBr * kStride + 2 * kBc * kStride + kBr * kPStride) * sizeof(float);
  static_assert(D % 16 == 0 && D <= 128, "head dims 32 to 128 in steps of 16");
  static_assert(kThreads == (kBr / kRows) * 16 && kBc == 16 * kKeys, "one thread per 4 rows × 2 keys of S");
};

// Rows [row0, row0 + rows) of a [*, H, D] f32 tensor (row r at base + row_of(r) · stride) into a tile;
// rows at or past `end` are zero-filled.
template <int D, typename RowOf>
__device__ __forceinline__ void load_rows(float* tile, int rows, const float* base, int64_t stride, int row0, int end,
                                          RowOf row_of) {
  using F = F32Tile<D>;
  for (int i = threadIdx.x; i < rows * (D / 4); i += F::kThreads) {
    const int r = i / (D / 4), c = i % (D / 4);
    const bool ok = row0 + r < end;
    cp_async16(tile + r * F::kStride + c * 4, ok ? base + row_of(row0 + r) * stride + c * 4 : base, ok);
  }
}

template <int D>
__global__ void __launch_bounds__(F32Tile<D>::kThreads) f32_attention_kernel(const AttnArgs a) {
  using F = F32Tile<D>;
  extern __shared__ __align__(16) float smem_f32[];
  float* sQ = smem_f32;
  float* sK = sQ + F::kBr * F::kStride;
  float* sV = sK + F::kBc * F::kStride;
  float* sP = sV + F::kBc * F::kStride;

  const int b = blockIdx.z, h = blockIdx.y;
  const SeqInfo s = seq_info(a, b);
  if (blockIdx.x == 0 && h == 0 && threadIdx.x == 0 && s.n_q > int(gridDim.x) * F::kBr) {
    report_fault(a.faults, FaultKind::SeqTooLong, b, s.n_q, a.max_q_len);
  }
  const int q0 = (gridDim.x - 1 - blockIdx.x) * F::kBr;  // the most causal work first
  if (q0 >= s.n_q) return;

  const int rg = threadIdx.x / 16, kg = threadIdx.x % 16;
  const int hk = h / (a.Hq / a.Hkv);
  const int64_t q_stride = int64_t(a.Hq) * D, kv_stride = int64_t(a.Hkv) * D;
  const float* qbase = static_cast<const float*>(a.q) + s.q_start * q_stride + h * D;
  const float* kbase = static_cast<const float*>(a.k) + hk * D;
  const float* vbase = static_cast<const float*>(a.v) + hk * D;
  const auto kv_row = [&](int j) { return s.kv.row_of(j); };

  const QueryTile qt = query_tile(a, s, q0, F::kBr, F::kBc);
  const tiles::KeyTiles& kt = qt.keys;
  int qpos[F::kRows];
#pragma unroll
  for (int i = 0; i < F::kRows; i++) qpos[i] = s.q_offset + q0 + F::kRows * rg + i;
  const float slope = a.alibi ? a.alibi[h] * kLog2e : 0.0f;

  load_rows<D>(sQ, F::kBr, qbase, q_stride, q0, s.n_q, [](int r) { return int64_t(r); });
  if (kt.count > 0) load_rows<D>(sK, F::kBc, kbase, kv_stride, kt.first_key, s.kv_len, kv_row);
  cp_async_commit();

  float o[F::kRows][F::kCols];
#pragma unroll
  for (int i = 0; i < F::kRows; i++)
#pragma unroll
    for (int j = 0; j < F::kCols; j++) o[i][j] = 0.0f;
  float row_max[F::kRows], row_sum[F::kRows];  // sums are per-thread parts
#pragma unroll
  for (int i = 0; i < F::kRows; i++) row_max[i] = -INFINITY, row_sum[i] = 0.0f;

  for (int it = 0; it < kt.count; it++) {
    const int key0 = kt.first_key + it * F::kBc;
    load_rows<D>(sV, F::kBc, vbase, kv_stride, key0, s.kv_len, kv_row);
    cp_async_commit();
    cp_async_wait<1>();  // Q and this K have landed
    __syncthreads();

    // S for 4 rows × 2 keys, 4 head dims at a time
    float sc[F::kRows][F::kKeys];
#pragma unroll
    for (int i = 0; i < F::kRows; i++) sc[i][0] = sc[i][1] = 0.0f;
#pragma unroll 4
    for (int d = 0; d < D; d += 4) {
      float4 k4[F::kKeys];
#pragma unroll
      for (int j = 0; j < F::kKeys; j++) k4[j] = *reinterpret_cast<const float4*>(sK + (kg + 16 * j) * F::kStride + d);
#pragma unroll
      for (int i = 0; i < F::kRows; i++) {
        const float4 q4 = *reinterpret_cast<const float4*>(sQ + (F::kRows * rg + i) * F::kStride + d);
#pragma unroll
        for (int j = 0; j < F::kKeys; j++) sc[i][j] += q4.x * k4[j].x + q4.y * k4[j].y + q4.z * k4[j].z + q4.w * k4[j].w;
      }
    }

    // exp2 domain, ALiBi, mask; online softmax per row over its half-warp; P into shared memory
    const bool need_mask = tiles::tile_needs_mask(qt.mask, qt.qpos_first, qt.qpos_last, key0, F::kBc);
#pragma unroll
    for (int i = 0; i < F::kRows; i++) {
      float mx = row_max[i];
#pragma unroll
      for (int j = 0; j < F::kKeys; j++) {
        const int key = key0 + kg + 16 * j;
        float x = sc[i][j] * a.scale_log2;
        if (a.alibi) x += slope * static_cast<float>(key - qpos[i]);
        if (need_mask && !tiles::key_visible(qt.mask, qpos[i], key)) x = -INFINITY;
        sc[i][j] = x;
        mx = fmaxf(mx, x);
      }
#pragma unroll
      for (int off = 1; off < 16; off <<= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
      float alpha;
      const float base = online_softmax_step(&row_max[i], mx, &alpha);
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < F::kKeys; j++) {
        const float p = exp2f(sc[i][j] - base);
        sP[(F::kRows * rg + i) * F::kPStride + kg + 16 * j] = p;
        sum += p;
      }
      row_sum[i] = row_sum[i] * alpha + sum;
#pragma unroll
      for (int j = 0; j < F::kCols; j++) o[i][j] *= alpha;
    }

    cp_async_wait<0>();  // V has landed
    __syncthreads();     // P is complete, and every thread is done with this K
    if (it + 1 < kt.count) load_rows<D>(sK, F::kBc, kbase, kv_stride, key0 + F::kBc, s.kv_len, kv_row);
    cp_async_commit();

    // O += P · V
#pragma unroll 4
    for (int kk = 0; kk < F::kBc; kk++) {
      float p[F::kRows], v[F::kCols];
#pragma unroll
      for (int i = 0; i < F::kRows; i++) p[i] = sP[(F::kRows * rg + i) * F::kPStride + kk];
#pragma unroll
      for (int j = 0; j < F::kCols; j++) v[j] = sV[kk * F::kStride + kg + 16 * j];
#pragma unroll
      for (int i = 0; i < F::kRows; i++)
#pragma unroll
        for (int j = 0; j < F::kCols; j++) o[i][j] += p[i] * v[j];
    }
    __syncthreads();  // V and P are rewritten by the next tile
  }
  cp_async_wait<0>();  // no copy may still be landing when the block ends (no key tiles: Q's)

  float* obase = static_cast<float*>(a.out) + s.q_start * q_stride + h * D;
#pragma unroll
  for (int i = 0; i < F::kRows; i++) {
    float l = row_sum[i];
#pragma unroll
    for (int off = 1; off < 16; off <<= 1) l += __shfl_xor_sync(0xffffffffu, l, off);
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    const int row = q0 + F::kRows * rg + i;
    if (row < s.n_q) {
#pragma unroll
      for (int j = 0; j < F::kCols; j++) obase[row * q_stride + kg + 16 * j] = o[i][j] * inv;
    }
  }
}

template <int D>
void launch_f32(const AttnArgs& a, cudaStream_t stream) {
  using F = F32Tile<D>;
  auto kernel = f32_attention_kernel<D>;
  GF_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(F::kSmemBytes)));
  const dim3 grid(static_cast<unsigned>(std::max<int64_t>(1, ceil_div(a.max_q_len, F::kBr))), static_cast<unsigned>(a.Hq),
                  static_cast<unsigned>(a.B));
  kernel<<<grid, F::kThreads, F::kSmemBytes, stream>>>(a);
  GF_CUDA_LAUNCHED();
}

}  // namespace

bool attention_f32_applies(const AttnArgs& a) {
  return a.D == 32 || a.D == 64 || a.D == 80 || a.D == 96 || a.D == 128;
}

void launch_attention_f32(const AttnArgs& a, cudaStream_t stream) {
  GF_CHECK_INPUT(a.B <= 65535 && a.Hq <= 65535, "attention: at most 65535 sequences and heads per call on CUDA, got ",
                 a.B, " sequences and ", a.Hq, " heads");
  switch (a.D) {
    case 32: return launch_f32<32>(a, stream);
    case 64: return launch_f32<64>(a, stream);
    case 80: return launch_f32<80>(a, stream);
    case 96: return launch_f32<96>(a, stream);
    case 128: return launch_f32<128>(a, stream);
    default: fail(ErrorCode::Unsupported, "attention: head dim ", a.D, " has no f32 prefill kernel");
  }
}

}  // namespace cuda
}  // namespace gf

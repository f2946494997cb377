// The row kernels for GGUF block weights (Q8_0, Q4_0, Q4_1; gemv.cuh): the weights stay in their blocks, the
// activations are quantized to 8 bits per 32-element block exactly as the CPU does (native/cpu/quant.cc), and
// each weight block meets each activation block in one int8 tensor-core MMA, m16n8k32 — one 32-element block
// is exactly its k — whose exact int32 result is scaled by d_w · d_x (plus Q4_1's m_w · s_x) into f32 sums.
//
// Weight rows are GGUF blocks of 18, 20 or 34 bytes, so a block's quants are only 2-byte aligned in memory:
// each warp copies its rows' next 8 blocks (256 k) into shared memory with 16-byte cp.async copies from the
// 16-byte boundary below each row segment (a few bytes of the neighbour come along, the tensor's last bytes are
// zero-filled), two or three stages deep, and reads the quants from there. A block is 16 weight rows (two n8
// tiles) × 16 activation rows, its warps splitting K in those 8-block stages.
//
// MMA operands, lane = 4g + t, one block kb: A (16 activation rows × 32) from the quantized activations laid
// out for it (QuantRows below: lane reads words of rows g and g + 8); B (32 × 8 weight rows) from weight row g:
// Q8_0 quant words t and t + 4 (elements 4t.. and 16 + 4t..); Q4 byte j holds elements j (low nibble) and
// j + 16 (high nibble), so word t gives both: b0 = low nibbles, b1 = high nibbles (Q4_0 less 8: signed).
// C: c0, c1 = (activation row g, weight rows 2t, 2t + 1), c2, c3 = (row g + 8, the same weight rows).
#include "cuda/gemv.cuh"
#include "cuda/mma.cuh"
#include "cuda/quant.cuh"
#include "cuda/workspace.h"

namespace gf {
namespace cuda {
namespace {

// 32 activations of each of 16 rows (one chunk), quantized, in the order the m16n8k32 A fragment reads them:
// q[h][w][g] = word w (elements 4w .. 4w + 3, int8) of row 8h + g; d, s per row (x ≈ d · q, s = d · Σ q).
struct QuantRows {
  int32_t q[2][8][8];
  float d[kRowChunk];
  float s[kRowChunk];
};
static_assert(sizeof(QuantRows) == 640, "QuantRows layout");

// grid (K / 32 blocks, chunks), 16 warps: warp m quantizes row m of the chunk (zeros past M), lane = element.
// The CPU's arithmetic exactly (cpu/quant.cc): d = max|x| / 127, v times the rounded reciprocal, not v / d
// (v / d and v · (1 / d) differ in the last bit often enough to flip a rounding); a zero block gets id = 0.
// (Explicit _rn intrinsics: the build's --use_fast_math would make '/' approximate.)
template <typename T>
__global__ void __launch_bounds__(32 * kRowChunk)
    quantize_rows_kernel(const T* __restrict__ x, int64_t M, int64_t K, QuantRows* __restrict__ out) {
  const int64_t nb = K / 32, kb = blockIdx.x, chunk = blockIdx.y;
  const int m = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t row = chunk * kRowChunk + m;
  const float v = row < M ? to_f32(x[row * K + kb * 32 + lane]) : 0.0f;
  const float amax = warp_max(fabsf(v));
  const float d = __fdiv_rn(amax, 127.0f);
  const float id = d != 0.0f ? __frcp_rn(d) : 0.0f;
  const int q = __float2int_rn(__fmul_rn(v, id));
  const float sum = warp_sum(static_cast<float>(q));
  QuantRows& b = out[chunk * nb + kb];
  reinterpret_cast<int8_t*>(b.q)[(((m / 8) * 8 + lane / 4) * 8 + m % 8) * 4 + lane % 4] = static_cast<int8_t>(q);
  if (lane == 0) {
    b.d[m] = d;
    b.s[m] = d * sum;
  }
}

// The formats: bytes per block, where its quants start, and the B fragment of one weight row's block from
// the quant word(s) of lane t.
struct RowsQ8_0 {
  static constexpr int kBlockBytes = 34, kQuantOffset = 2, kStages = 2;
  static constexpr bool kHasMin = false;
  template <typename Load>
  static __device__ __forceinline__ void b_fragment(Load word, int t, uint32_t b[2]) {
    b[0] = word(4 * t);
    b[1] = word(16 + 4 * t);
  }
};
struct RowsQ4_0 {
  static constexpr int kBlockBytes = 18, kQuantOffset = 2, kStages = 3;
  static constexpr bool kHasMin = false;
  template <typename Load>
  static __device__ __forceinline__ void b_fragment(Load word, int t, uint32_t b[2]) {
    const uint32_t v = word(4 * t);
    b[0] = __vsub4(v & 0x0f0f0f0fu, 0x08080808u);  // q − 8 as signed bytes
    b[1] = __vsub4((v >> 4) & 0x0f0f0f0fu, 0x08080808u);
  }
};
struct RowsQ4_1 {
  static constexpr int kBlockBytes = 20, kQuantOffset = 4, kStages = 3;
  static constexpr bool kHasMin = true;  // f16 m after d
  template <typename Load>
  static __device__ __forceinline__ void b_fragment(Load word, int t, uint32_t b[2]) {
    const uint32_t v = word(4 * t);
    b[0] = v & 0x0f0f0f0fu;
    b[1] = (v >> 4) & 0x0f0f0f0fu;
  }
};

constexpr int kStageBlocks = 8;  // GGUF blocks per row per stage (256 k)

// Shared bytes per weight row per stage: the 8 blocks, up to 15 bytes of misalignment before them, rounded to
// 16-byte copies, and an odd number of 16-byte units so that the 8 rows a warp's lanes read at once (rows g,
// word t) fall into 32 different banks.
constexpr int stage_row_bytes(int block_bytes) {
  int s = (kStageBlocks * block_bytes + 16 + 15) / 16;
  return 16 * (s % 2 ? s : s + 1);
}

template <typename F>
constexpr size_t smem_bytes(int warps) {
  return size_t(warps) * F::kStages * 16 * stage_row_bytes(F::kBlockBytes);
}

__device__ __forceinline__ void cp_async16_partial(void* smem, const void* gmem, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(smem)), "l"(gmem), "r"(src_bytes));
}

__device__ __forceinline__ void mma_s8(int c[4], const uint32_t a[4], const uint32_t b[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// grid (activation chunks, weight rows / 16), block 32 × warps, dynamic shared memory smem_bytes<F>(warps).
template <typename F, typename Out, bool kTwoTiles>
__global__ void __launch_bounds__(256)
    rows_quant_kernel(const uint8_t* __restrict__ w, const QuantRows* __restrict__ xq, WeightRef bias,
                      Out* __restrict__ out, int64_t M, int64_t N, int64_t K, int64_t ldc) {
  constexpr int BB = F::kBlockBytes, S = stage_row_bytes(BB), kStages = F::kStages;
  extern __shared__ __align__(16) uint8_t smem[];
  const int warps = blockDim.x / 32, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;
  const int64_t chunk = blockIdx.x, m0 = chunk * kRowChunk, n0 = int64_t(blockIdx.y) * 16;
  const int rows = static_cast<int>(M - m0 < kRowChunk ? M - m0 : kRowChunk);
  const int64_t nb = K / 32, row_bytes = nb * BB, stages_total = (nb + kStageBlocks - 1) / kStageBlocks;
  const uint8_t* w_end = w + N * row_bytes;
  uint8_t* mine = smem + size_t(warp) * kStages * 16 * S;  // this warp's stages: [stage][row 0..15][S bytes]
  const QuantRows* xc = xq + chunk * nb;

  // where weight row r's bytes of stage sc start, and their offset above the 16-byte boundary below
  auto segment = [&](int r, int64_t sc) { return w + (n0 + r) * row_bytes + sc * kStageBlocks * BB; };
  auto misalign = [&](int r, int64_t sc) { return static_cast<int>(reinterpret_cast<uintptr_t>(segment(r, sc)) & 15); };

  // stage i of this warp is the warp's i-th share of K: 8-block stages warp, warp + warps, …
  const int64_t mine_total = stages_total > warp ? (stages_total - warp + warps - 1) / warps : 0;
  auto issue = [&](int64_t i) {
    const int64_t sc = warp + i * warps;
    const int blocks = static_cast<int>(nb - sc * kStageBlocks < kStageBlocks ? nb - sc * kStageBlocks : kStageBlocks);
    uint8_t* dst = mine + (i % kStages) * 16 * S;
    for (int p = lane; p < 16 * (S / 16); p += 32) {
      const int r = p / (S / 16), piece = p % (S / 16);
      const int mis = misalign(r, sc);
      if (16 * piece >= mis + blocks * BB) continue;  // past this row's blocks
      const uint8_t* src = segment(r, sc) - mis + 16 * piece;
      const int64_t left = n0 + r < N ? w_end - src : 0;  // rows past N read nothing (zeros)
      cp_async16_partial(dst + r * S + 16 * piece, left > 0 ? src : w, static_cast<int>(left < 16 ? (left > 0 ? left : 0) : 16));
    }
  };

  float acc[2][4] = {};  // [weight tile][C fragment]
#pragma unroll
  for (int i = 0; i < kStages - 1; i++) {
    if (i < mine_total) issue(i);
    cp_async_commit();
  }
  for (int64_t i = 0; i < mine_total; i++) {
    cp_async_wait<kStages - 2>();
    __syncwarp();
    const int64_t sc = warp + i * warps;
    const uint8_t* st = mine + (i % kStages) * 16 * S;
    const int blocks = static_cast<int>(nb - sc * kStageBlocks < kStageBlocks ? nb - sc * kStageBlocks : kStageBlocks);
    // the shared copy's offset of each row this lane reads: weight rows g, 8 + g (B) and 2t, 2t + 1, 8 + 2t,
    // 9 + 2t (their scales, for its C columns)
    const int mis_b[2] = {misalign(g, sc), misalign(8 + g, sc)};
    const int mis_s[2][2] = {{misalign(2 * t, sc), misalign(2 * t + 1, sc)}, {misalign(8 + 2 * t, sc), misalign(9 + 2 * t, sc)}};
    for (int j = 0; j < blocks; j++) {
      const QuantRows& xb = xc[sc * kStageBlocks + j];
      const uint32_t a[4] = {static_cast<uint32_t>(xb.q[0][t][g]), kTwoTiles ? static_cast<uint32_t>(xb.q[1][t][g]) : 0u,
                             static_cast<uint32_t>(xb.q[0][t + 4][g]), kTwoTiles ? static_cast<uint32_t>(xb.q[1][t + 4][g]) : 0u};
      const float dx[2] = {xb.d[g], kTwoTiles ? xb.d[8 + g] : 0.0f};
      float sx[2] = {0.0f, 0.0f};
      if constexpr (F::kHasMin) {
        sx[0] = xb.s[g];
        sx[1] = kTwoTiles ? xb.s[8 + g] : 0.0f;
      }
#pragma unroll
      for (int i2 = 0; i2 < 2; i2++) {
        // four quant bytes at an even offset of the (16-byte aligned) stage: one aligned word, or the two
        // around them funnel-shifted
        const int quants = (8 * i2 + g) * S + mis_b[i2] + j * BB + F::kQuantOffset;
        const uint32_t* st32 = reinterpret_cast<const uint32_t*>(st);
        auto word = [&](int off) -> uint32_t {
          const int o = quants + off;
          return (o & 2) ? __funnelshift_r(st32[o >> 2], st32[(o >> 2) + 1], 16) : st32[o >> 2];
        };
        uint32_t b[2];
        F::b_fragment(word, t, b);
        int ci[4] = {0, 0, 0, 0};
        mma_s8(ci, a, b);
        float dw[2], mw[2] = {0.0f, 0.0f};
#pragma unroll
        for (int c = 0; c < 2; c++) {
          const uint8_t* blk = st + (8 * i2 + 2 * t + c) * S + mis_s[i2][c] + j * BB;
          dw[c] = half_bits_to_f32(*reinterpret_cast<const uint16_t*>(blk));
          if constexpr (F::kHasMin) mw[c] = half_bits_to_f32(*reinterpret_cast<const uint16_t*>(blk + 2));
        }
#pragma unroll
        for (int e = 0; e < 4; e++) {
          const int c = e % 2, r = e / 2;  // weight column 2t + c, activation row g + 8r
          float v = dw[c] * dx[r] * static_cast<float>(ci[e]);
          if constexpr (F::kHasMin) v += mw[c] * sx[r];
          acc[i2][e] += v;
        }
      }
    }
    __syncwarp();  // every lane is done with this stage before it is refilled
    const int64_t next = i + kStages - 1;
    if (next < mine_total) issue(next);
    cp_async_commit();
  }
  cp_async_wait<0>();
  __syncthreads();  // the stages are reused below for the warps' partial sums

  float* red = reinterpret_cast<float*>(smem);  // [warp][activation row 16][weight row 16]
#pragma unroll
  for (int i2 = 0; i2 < 2; i2++) {
    red[(warp * 16 + g) * 16 + 8 * i2 + 2 * t] = acc[i2][0];
    red[(warp * 16 + g) * 16 + 8 * i2 + 2 * t + 1] = acc[i2][1];
    red[(warp * 16 + g + 8) * 16 + 8 * i2 + 2 * t] = acc[i2][2];
    red[(warp * 16 + g + 8) * 16 + 8 * i2 + 2 * t + 1] = acc[i2][3];
  }
  __syncthreads();
  for (int i = threadIdx.x; i < kRowChunk * 16; i += blockDim.x) {
    const int m = i / 16, n = i % 16;
    if (m >= rows || n0 + n >= N) continue;
    float v = 0.0f;
    for (int ww = 0; ww < warps; ww++) v += red[(ww * 16 + m) * 16 + n];  // warp order: batch invariance
    if (bias.p) v += load_weight(bias, n0 + n);
    out[(m0 + m) * ldc + n0 + n] = from_f32<Out>(v);
  }
}

template <typename F, typename Out>
void launch_quant(const RowsMatmul& p, const QuantRows* xq, dim3 grid, int warps, cudaStream_t stream) {
  const size_t smem = smem_bytes<F>(warps);
  auto kernel = p.M > 8 ? rows_quant_kernel<F, Out, true> : rows_quant_kernel<F, Out, false>;
  GF_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  kernel<<<grid, 32 * warps, smem, stream>>>(static_cast<const uint8_t*>(p.w), xq, p.bias, static_cast<Out*>(p.out), p.M,
                                           p.N, p.K, p.ldc);
}

}  // namespace

bool launch_rows_quantized(const RowsMatmul& p, int device, cudaStream_t stream, std::string* why) {
  if (!aligned16(p.w)) {
    if (why) *why = "the weight's blocks do not start 16-byte aligned";
    return false;
  }
  if (ceil_div(p.N, 16) > 65535 || ceil_div(p.M, kRowChunk) > 65535) {
    if (why) *why = "more than 1048560 output features or activation rows";
    return false;
  }
  const int64_t nb = p.K / 32, chunks = ceil_div(p.M, kRowChunk);
  auto* xq = static_cast<QuantRows*>(scratch(device, Scratch::QuantActivations, size_t(chunks * nb) * sizeof(QuantRows)));
  if (nb > 0) {
    with_float_type(p.x_dtype, "linear", [&](auto tag) {
      using T = decltype(tag);
      quantize_rows_kernel<T><<<dim3(static_cast<unsigned>(nb), static_cast<unsigned>(chunks)), 32 * kRowChunk, 0, stream>>>(
          static_cast<const T*>(p.x), p.M, p.K, xq);
    });
    GF_CUDA_LAUNCHED();
  }
  const dim3 grid(static_cast<unsigned>(chunks), static_cast<unsigned>(ceil_div(p.N, 16)));
  const int warps = row_kernel_warps(p.N, device);
  with_float_type(p.x_dtype, "linear", [&](auto tag) {
    using Out = decltype(tag);
    switch (p.w_dtype) {
      case DType::Q8_0: launch_quant<RowsQ8_0, Out>(p, xq, grid, warps, stream); break;
      case DType::Q4_0: launch_quant<RowsQ4_0, Out>(p, xq, grid, warps, stream); break;
      case DType::Q4_1: launch_quant<RowsQ4_1, Out>(p, xq, grid, warps, stream); break;
      default: fail(ErrorCode::Input, "linear: expected a q8_0, q4_0 or q4_1 weight, got ", dtype_name(p.w_dtype));
    }
  });
  GF_CUDA_LAUNCHED();
  return true;
}

}  // namespace cuda
}  // namespace gf

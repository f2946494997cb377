// The row kernels for float weights (gemv.cuh): f16 / bf16 on tensor cores, any other float pair on CUDA cores,
// and the entry point that picks among them and the GGUF block kernels.
#include "cuda/gemv.cuh"
#include "cuda/mma.cuh"

namespace gf {
namespace cuda {
namespace {

// ------------------------------------------------------------------------------------ f16 / bf16, tensor cores
// One block: 16 weight rows (two n8 tiles) × one chunk of 16 activation rows, its warps splitting K in
// chunks of 32. Lane 4g + t reads 16 bytes of weight row g (and g + 8) and of activation rows g (and g + 8) at
// k = 32c + 8t .. 8t + 7 — one 16-byte load each, a warp covering 64 contiguous bytes of 8 rows — and feeds them
// to two m16n8k16 MMAs with A = activations, B = weightsᵀ. The MMAs' k order is a permutation of the loaded
// order (logical k 2t, 2t+1, 2t+8, 2t+9 of step s are loaded elements 4s .. 4s+3), the same for both
// operands, so the dot products are unchanged:
//   step s: a = {x_g word 2s, x_g+8 word 2s, x_g word 2s+1, x_g+8 word 2s+1}, b = {w word 2s, w word 2s+1}
// C (16 activation rows × 8 weight rows): c0, c1 = (row g, weights 2t, 2t+1), c2, c3 = (row g + 8, …).
constexpr int kUnroll = 4;     // chunks of 32 in flight per warp
constexpr int kMaxWarps = 8;

__device__ __forceinline__ uint32_t word(const uint4& v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

// Elements k .. k + 7 of a row of 16-bit values (zeros past K): one 16-byte load when rows are 16-byte
// aligned and K % 8 == 0 (a group is then wholly in or out), else element by element.
template <bool kVec16>
__device__ __forceinline__ uint4 load8(const uint16_t* row, int64_t k, int64_t K) {
  if constexpr (kVec16) {
    return k < K ? __ldg(reinterpret_cast<const uint4*>(row + k)) : make_uint4(0, 0, 0, 0);
  } else {
    uint32_t h[8];
#pragma unroll
    for (int e = 0; e < 8; e++) h[e] = k + e < K ? __ldg(row + k + e) : 0u;
    return make_uint4(h[0] | h[1] << 16, h[2] | h[3] << 16, h[4] | h[5] << 16, h[6] | h[7] << 16);
  }
}

// grid (chunks of 16 activation rows, weight rows / 16), block 32 × warps.
template <typename T, bool kTwoTiles, bool kVec16>
__global__ void __launch_bounds__(32 * kMaxWarps)
    rows_mma_kernel(const T* __restrict__ x, const T* __restrict__ w, WeightRef bias, T* __restrict__ out, int64_t M,
                    int64_t N, int64_t K, int64_t ldc) {
  __shared__ float red[kMaxWarps][kRowChunk][16];  // per warp: [activation row][weight row]
  const int warps = blockDim.x / 32, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;
  const int64_t m0 = int64_t(blockIdx.x) * kRowChunk, n0 = int64_t(blockIdx.y) * 16;
  const int rows = static_cast<int>(M - m0 < kRowChunk ? M - m0 : kRowChunk);
  const uint16_t* xr[2] = {reinterpret_cast<const uint16_t*>(x) + (m0 + g) * K,
                           reinterpret_cast<const uint16_t*>(x) + (m0 + 8 + g) * K};
  const uint16_t* wr[2] = {reinterpret_cast<const uint16_t*>(w) + (n0 + g) * K,
                           reinterpret_cast<const uint16_t*>(w) + (n0 + 8 + g) * K};
  const bool x_ok[2] = {g < rows, kTwoTiles && 8 + g < rows};
  const bool w_ok[2] = {n0 + g < N, n0 + 8 + g < N};

  float c[2][4] = {};  // [weight tile][C fragment]
  const int64_t chunks = (K + 31) / 32;
  for (int64_t c0 = warp; c0 < chunks; c0 += int64_t(warps) * kUnroll) {
    uint4 wv[kUnroll][2], xv[kUnroll][2];
#pragma unroll
    for (int u = 0; u < kUnroll; u++) {
      const int64_t ch = c0 + int64_t(u) * warps;
      const int64_t k = ch * 32 + 8 * t;
      const bool in = ch < chunks;
#pragma unroll
      for (int i = 0; i < 2; i++) {
        wv[u][i] = in && w_ok[i] ? load8<kVec16>(wr[i], k, K) : make_uint4(0, 0, 0, 0);
        xv[u][i] = in && x_ok[i] ? load8<kVec16>(xr[i], k, K) : make_uint4(0, 0, 0, 0);
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; u++) {
#pragma unroll
      for (int s = 0; s < 2; s++) {
        const uint32_t a[4] = {word(xv[u][0], 2 * s), word(xv[u][1], 2 * s), word(xv[u][0], 2 * s + 1),
                               word(xv[u][1], 2 * s + 1)};
#pragma unroll
        for (int i = 0; i < 2; i++) {
          const uint32_t b[2] = {word(wv[u][i], 2 * s), word(wv[u][i], 2 * s + 1)};
          mma_16816<T>(c[i], a, b);
        }
      }
    }
  }

  // the warps' partial sums, added in warp order (a fixed order: batch invariance)
#pragma unroll
  for (int i = 0; i < 2; i++) {
    red[warp][g][8 * i + 2 * t] = c[i][0];
    red[warp][g][8 * i + 2 * t + 1] = c[i][1];
    red[warp][g + 8][8 * i + 2 * t] = c[i][2];
    red[warp][g + 8][8 * i + 2 * t + 1] = c[i][3];
  }
  __syncthreads();
  for (int i = threadIdx.x; i < kRowChunk * 16; i += blockDim.x) {
    const int m = i / 16, n = i % 16;
    if (m >= rows || n0 + n >= N) continue;
    float v = 0.0f;
    for (int ww = 0; ww < warps; ww++) v += red[ww][m][n];
    if (bias.p) v += load_weight(bias, n0 + n);
    out[(m0 + m) * ldc + n0 + n] = from_f32<T>(v);
  }
}

// ---------------------------------------------------------------------------------- any float pair, CUDA cores
// f32 weights and activations, or weights in another float type than the activations: one warp per weight row,
// lanes striding over K, every row of the chunk at once; lane sums folded by a fixed butterfly.
constexpr int kFmaWarps = 4;

template <typename Tx, typename Tw>
__global__ void __launch_bounds__(32 * kFmaWarps)
    rows_fma_kernel(const Tx* __restrict__ x, const Tw* __restrict__ w, WeightRef bias, Tx* __restrict__ out,
                    int64_t M, int64_t N, int64_t K, int64_t ldc) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t n = int64_t(blockIdx.y) * kFmaWarps + warp;
  if (n >= N) return;
  const int64_t m0 = int64_t(blockIdx.x) * kRowChunk;
  const int rows = static_cast<int>(M - m0 < kRowChunk ? M - m0 : kRowChunk);
  const Tw* wr = w + n * K;
  const Tx* xr = x + m0 * K;
  float acc[kRowChunk] = {};
  for (int64_t k = lane; k < K; k += 32) {
    const float wk = to_f32(__ldg(wr + k));
#pragma unroll
    for (int m = 0; m < kRowChunk; m++) {
      if (m < rows) acc[m] = fmaf(wk, to_f32(xr[m * K + k]), acc[m]);
    }
  }
  const float b = bias.p ? load_weight(bias, n) : 0.0f;
#pragma unroll
  for (int m = 0; m < kRowChunk; m++) {
    if (m >= rows) break;
    const float v = warp_sum(acc[m]);
    if (lane == 0) out[(m0 + m) * ldc + n] = from_f32<Tx>(v + b);
  }
}

template <typename T, bool kTwoTiles, bool kVec16>
void launch_mma(const RowsMatmul& p, dim3 grid, int warps, cudaStream_t stream) {
  rows_mma_kernel<T, kTwoTiles, kVec16><<<grid, 32 * warps, 0, stream>>>(
      static_cast<const T*>(p.x), static_cast<const T*>(p.w), p.bias, static_cast<T*>(p.out), p.M, p.N, p.K, p.ldc);
}

template <typename T>
void launch_mma_for(const RowsMatmul& p, dim3 grid, int warps, cudaStream_t stream) {
  // a single chunk of at most 8 rows needs one m16n8 tile's worth of activation loads only
  const bool two = p.M > 8;
  const bool vec16 = p.K % 8 == 0 && aligned16(p.x) && aligned16(p.w);
  if (two) {
    vec16 ? launch_mma<T, true, true>(p, grid, warps, stream) : launch_mma<T, true, false>(p, grid, warps, stream);
  } else {
    vec16 ? launch_mma<T, false, true>(p, grid, warps, stream) : launch_mma<T, false, false>(p, grid, warps, stream);
  }
}

}  // namespace

int row_kernel_warps(int64_t N, int device) {
  const int64_t blocks = ceil_div(N, 16);
  return blocks >= 2LL * multiprocessor_count(device) ? 4 : kMaxWarps;
}

bool launch_rows_float(const RowsMatmul& p, int device, cudaStream_t stream, std::string* why) {
  const int64_t chunks = ceil_div(p.M, kRowChunk);
  if (p.x_dtype == p.w_dtype && (p.x_dtype == DType::F16 || p.x_dtype == DType::BF16)) {
    if (ceil_div(p.N, 16) > 65535) {
      if (why) *why = "more than 1048560 output features";
      return false;
    }
    const dim3 grid(static_cast<unsigned>(chunks), static_cast<unsigned>(ceil_div(p.N, 16)));
    const int warps = row_kernel_warps(p.N, device);
    if (p.x_dtype == DType::F16) launch_mma_for<half>(p, grid, warps, stream);
    else launch_mma_for<bf16>(p, grid, warps, stream);
    GF_CUDA_LAUNCHED();
    return true;
  }
  if (ceil_div(p.N, kFmaWarps) > 65535) {
    if (why) *why = "more than 262140 output features";
    return false;
  }
  const dim3 grid(static_cast<unsigned>(chunks), static_cast<unsigned>(ceil_div(p.N, kFmaWarps)));
  with_float_type(p.x_dtype, "linear", [&](auto xt) {
    using Tx = decltype(xt);
    with_float_type(p.w_dtype, "linear", [&](auto wt) {
      using Tw = decltype(wt);
      rows_fma_kernel<Tx, Tw><<<grid, 32 * kFmaWarps, 0, stream>>>(static_cast<const Tx*>(p.x), static_cast<const Tw*>(p.w),
                                                                  p.bias, static_cast<Tx*>(p.out), p.M, p.N, p.K, p.ldc);
    });
  });
  GF_CUDA_LAUNCHED();
  return true;
}

bool launch_rows_matmul(const RowsMatmul& p, int device, cudaStream_t stream, std::string* why) {
  if (p.M == 0 || p.N == 0) return true;
  if (ceil_div(p.M, kRowChunk) > 0x7fffffffLL) {
    if (why) *why = "too many activation rows for one launch";
    return false;
  }
  return is_quantized(p.w_dtype) ? launch_rows_quantized(p, device, stream, why) : launch_rows_float(p, device, stream, why);
}

}  // namespace cuda
}  // namespace gf

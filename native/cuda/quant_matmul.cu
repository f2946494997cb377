#include "cuda/quant.cuh"
#include "cuda/quant_matmul.cuh"

namespace gf {
namespace cuda {
namespace {

// Four bytes starting at a 2-byte aligned address (GGUF blocks put their quants at offset 2).
__device__ __forceinline__ int load_int_b2(const uint8_t* p) {
  const uint16_t* h = reinterpret_cast<const uint16_t*>(p);
  return static_cast<int>(static_cast<uint32_t>(h[0]) | (static_cast<uint32_t>(h[1]) << 16));
}

// Σ_j w_j · x_j over one 32-element block, w in format Q, x quantized.
struct DotQ8_0 {
  using Block = BlockQ8_0;
  static __device__ __forceinline__ float dot(const Block& b, const Q8Activations& x) {
    int sumi = 0;
#pragma unroll
    for (int i = 0; i < 8; i++) sumi = __dp4a(load_int_b2(reinterpret_cast<const uint8_t*>(b.qs) + 4 * i), x.qs[i], sumi);
    return half_bits_to_f32(b.d) * x.d * static_cast<float>(sumi);
  }
};

// Byte i of the quants holds element i (low nibble) and element i + 16 (high nibble).
template <typename Block>
__device__ __forceinline__ int nibble_dot(const Block& b, const Q8Activations& x) {
  int sumi = 0;
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const int w = load_int_b2(b.qs + 4 * i);
    sumi = __dp4a(w & 0x0f0f0f0f, x.qs[i], sumi);             // elements 4i..4i+3
    sumi = __dp4a((w >> 4) & 0x0f0f0f0f, x.qs[i + 4], sumi);  // elements 16+4i..16+4i+3
  }
  return sumi;
}

struct DotQ4_0 {  // w = d (q - 8): Σ w x = d (dx Σ q qx - 8 s)
  using Block = BlockQ4_0;
  static __device__ __forceinline__ float dot(const Block& b, const Q8Activations& x) {
    return half_bits_to_f32(b.d) * (x.d * static_cast<float>(nibble_dot(b, x)) - 8.0f * x.s);
  }
};

struct DotQ4_1 {  // w = d q + m: Σ w x = d dx Σ q qx + m s
  using Block = BlockQ4_1;
  static __device__ __forceinline__ float dot(const Block& b, const Q8Activations& x) {
    return half_bits_to_f32(b.d) * x.d * static_cast<float>(nibble_dot(b, x)) + half_bits_to_f32(b.m) * x.s;
  }
};

// One warp per 32-element block: scale = max|x| / 127, round to nearest.
template <typename T>
__global__ void quantize_activations_kernel(const T* __restrict__ x, int64_t n_blocks, Q8Activations* __restrict__ out) {
  const int64_t blk = blockIdx.x * int64_t(blockDim.x / 32) + threadIdx.x / 32;
  if (blk >= n_blocks) return;
  const int lane = threadIdx.x % 32;
  const float v = to_f32(x[blk * 32 + lane]);
  const float amax = warp_max(fabsf(v));
  // the CPU's arithmetic exactly (cpu/quant.cc): v times the rounded reciprocal, not v / d, so that both
  // backends pick the same integers (v / d and v * (1 / d) differ in the last bit often enough to flip a
  // rounding); a zero block gets id = 0 and all-zero integers, as on the CPU
  // (explicit _rn intrinsics: the build's --use_fast_math would make '/' approximate)
  const float d = __fdiv_rn(amax, 127.0f);
  const float id = d != 0.0f ? __frcp_rn(d) : 0.0f;
  const int q = __float2int_rn(__fmul_rn(v, id));
  const float sum = warp_sum(static_cast<float>(q));
  reinterpret_cast<int8_t*>(out[blk].qs)[lane] = static_cast<int8_t>(q);
  if (lane == 0) {
    out[blk].d = d;
    out[blk].s = d * sum;
  }
}

constexpr int kGemvWarps = 4;

// grid ceil(N / 4): one warp per output feature n, lanes striding over its blocks, all M rows at once.
template <typename Dot, typename Out>
__global__ void __launch_bounds__(32 * kGemvWarps)
    quantized_gemv_kernel(const void* __restrict__ w, int64_t N, int64_t K, const Q8Activations* __restrict__ x, int M,
                          WeightRef bias, Out* __restrict__ out, int64_t ldc) {
  const int64_t n = blockIdx.x * int64_t(kGemvWarps) + threadIdx.x / 32;
  if (n >= N) return;
  const int lane = threadIdx.x % 32;
  const int64_t nb = K / 32;
  const auto* row = static_cast<const typename Dot::Block*>(w) + n * nb;
  float acc[kQuantGemvMaxRows] = {};
  for (int64_t kb = lane; kb < nb; kb += 32) {
    const typename Dot::Block blk = row[kb];
#pragma unroll
    for (int m = 0; m < kQuantGemvMaxRows; m++) {
      if (m < M) acc[m] += Dot::dot(blk, x[m * nb + kb]);
    }
  }
  const float b = bias.p ? load_weight(bias, n) : 0.0f;
#pragma unroll
  for (int m = 0; m < kQuantGemvMaxRows; m++) {
    if (m >= M) break;
    const float v = warp_sum(acc[m]);
    if (lane == 0) out[m * ldc + n] = from_f32<Out>(v + b);
  }
}

}  // namespace

void launch_quantize_activations(const void* x, DType x_type, int64_t M, int64_t K, Q8Activations* blocks,
                                 cudaStream_t stream) {
  const int64_t n_blocks = M * K / 32;
  if (n_blocks == 0) return;
  constexpr int kBlocksPerCta = 8;
  with_float_type(x_type, "linear", [&](auto tag) {
    using T = decltype(tag);
    quantize_activations_kernel<T><<<static_cast<unsigned>(ceil_div(n_blocks, kBlocksPerCta)), 32 * kBlocksPerCta, 0,
                                     stream>>>(static_cast<const T*>(x), n_blocks, blocks);
  });
  GF_CUDA_LAUNCHED();
}

void launch_quantized_gemv(const void* w, DType w_type, int64_t N, int64_t K, const Q8Activations* x, int64_t M,
                           WeightRef bias, void* out, DType out_type, int64_t ldc, cudaStream_t stream) {
  if (N == 0 || M == 0) return;
  GF_CHECK_INPUT(M <= kQuantGemvMaxRows, "linear: the quantized GEMV takes at most ", kQuantGemvMaxRows, " rows");
  const unsigned grid = static_cast<unsigned>(ceil_div(N, kGemvWarps));
  with_float_type(out_type, "linear", [&](auto out_tag) {
    using Out = decltype(out_tag);
    Out* o = static_cast<Out*>(out);
    const int m = static_cast<int>(M);
    switch (w_type) {
      case DType::Q8_0: quantized_gemv_kernel<DotQ8_0, Out><<<grid, 32 * kGemvWarps, 0, stream>>>(w, N, K, x, m, bias, o, ldc); break;
      case DType::Q4_0: quantized_gemv_kernel<DotQ4_0, Out><<<grid, 32 * kGemvWarps, 0, stream>>>(w, N, K, x, m, bias, o, ldc); break;
      case DType::Q4_1: quantized_gemv_kernel<DotQ4_1, Out><<<grid, 32 * kGemvWarps, 0, stream>>>(w, N, K, x, m, bias, o, ldc); break;
      default: fail(ErrorCode::Input, "linear: expected a q8_0, q4_0 or q4_1 weight, got ", dtype_name(w_type));
    }
  });
  GF_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace gf

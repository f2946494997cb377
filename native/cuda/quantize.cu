// The reference block quantizers on the device (quantize.cuh): one thread per 32-element block. Divisions,
// products and sums use the _rn intrinsics (IEEE round-to-nearest, never fused or approximated under
// --use_fast_math), so a block's bytes equal the CPU's; f32 subnormals are flushed to zero by fast math, so
// blocks whose values lie below f32's normal range (|x| < 1.2e-38) may differ (their f16 scale is 0 either way).
#include <cuda_fp16.h>

#include "cuda/quantize.cuh"

namespace gf {
namespace cuda {
namespace {

__device__ __forceinline__ uint16_t f16_bits(float v) { return __half_as_ushort(__float2half_rn(v)); }

// (int8_t) v clamped at 15, saturating where the reference is undefined (quantize.h)
__device__ __forceinline__ uint8_t nibble(float v) {
  if (!(v > 0.0f)) return 0;
  if (v >= 15.0f) return 15;
  return static_cast<uint8_t>(static_cast<int>(v));
}

__device__ __forceinline__ int8_t q8(float v) {
  if (isnan(v)) return 0;
  const float r = roundf(v);
  return static_cast<int8_t>(r >= 127.0f ? 127 : r <= -127.0f ? -127 : r);
}

struct ToQ8_0 {
  using Block = BlockQ8_0;
  static __device__ void quantize(const float (&x)[32], Block& y) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float d = __fdiv_rn(amax, 127.0f);
    const float id = d != 0.0f ? __fdiv_rn(1.0f, d) : 0.0f;
    y.d = f16_bits(d);
    for (int j = 0; j < 32; j++) y.qs[j] = q8(__fmul_rn(x[j], id));
  }
};

struct ToQ4_0 {
  using Block = BlockQ4_0;
  static __device__ void quantize(const float (&x)[32], Block& y) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++) {
      if (amax < fabsf(x[j])) {
        amax = fabsf(x[j]);
        max = x[j];
      }
    }
    const float d = __fdiv_rn(max, -8.0f);
    const float id = d != 0.0f ? __fdiv_rn(1.0f, d) : 0.0f;
    y.d = f16_bits(d);
    for (int j = 0; j < 16; j++) {
      const uint8_t lo = nibble(__fadd_rn(__fmul_rn(x[j], id), 8.5f));
      const uint8_t hi = nibble(__fadd_rn(__fmul_rn(x[j + 16], id), 8.5f));
      y.qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
};

struct ToQ4_1 {
  using Block = BlockQ4_1;
  static __device__ void quantize(const float (&x)[32], Block& y) {
    float min = x[0], max = x[0];
    for (int j = 1; j < 32; j++) {
      if (x[j] < min) min = x[j];
      if (x[j] > max) max = x[j];
    }
    const float d = __fdiv_rn(__fsub_rn(max, min), 15.0f);
    const float id = d != 0.0f ? __fdiv_rn(1.0f, d) : 0.0f;
    y.d = f16_bits(d);
    y.m = f16_bits(min);
    for (int j = 0; j < 16; j++) {
      const uint8_t lo = nibble(__fadd_rn(__fmul_rn(__fsub_rn(x[j], min), id), 0.5f));
      const uint8_t hi = nibble(__fadd_rn(__fmul_rn(__fsub_rn(x[j + 16], min), id), 0.5f));
      y.qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
};

template <typename Tin, typename Q>
__global__ void quantize_kernel(const Tin* __restrict__ x, typename Q::Block* __restrict__ out, int64_t blocks) {
  for (int64_t b = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; b < blocks; b += int64_t(gridDim.x) * blockDim.x) {
    float v[32];
#pragma unroll
    for (int j = 0; j < 32; j++) v[j] = to_f32(x[b * 32 + j]);
    typename Q::Block y;
    Q::quantize(v, y);
    out[b] = y;
  }
}

template <typename Q, typename Tin>
void launch(const Tin* x, void* out, int64_t blocks, cudaStream_t stream) {
  constexpr int kThreads = 128;
  const int grid = static_cast<int>(std::min<int64_t>(ceil_div(blocks, kThreads), 65535 * 8));
  quantize_kernel<Tin, Q><<<grid, kThreads, 0, stream>>>(x, static_cast<typename Q::Block*>(out), blocks);
}

}  // namespace

void launch_quantize(const void* x, DType x_type, void* out, DType out_type, int64_t n, cudaStream_t stream) {
  const int64_t blocks = n / kQuantBlock;
  if (blocks == 0) return;
  with_float_type(x_type, "cast", [&](auto in_tag) {
    using Tin = decltype(in_tag);
    const Tin* src = static_cast<const Tin*>(x);
    switch (out_type) {
      case DType::Q8_0: launch<ToQ8_0>(src, out, blocks, stream); break;
      case DType::Q4_0: launch<ToQ4_0>(src, out, blocks, stream); break;
      case DType::Q4_1: launch<ToQ4_1>(src, out, blocks, stream); break;
      default: fail(ErrorCode::Input, "cast: expected q8_0, q4_0 or q4_1, got ", dtype_name(out_type));
    }
  });
  GF_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace gf

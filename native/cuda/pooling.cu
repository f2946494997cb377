#include "cuda/cuda_ops.h"
#include "cuda/device_faults.cuh"
#include "cuda/pooling.cuh"

namespace gf {
namespace cuda {
namespace {

// x [T,C] packed by cu [B+1], out f32 [B,C]; grid (B, column blocks), one thread per column.
template <typename E>
__global__ void pool_kernel(const E* __restrict__ x, const int32_t* __restrict__ cu, int B, int64_t T, int C,
                            Pooling mode, float* __restrict__ out, DeviceFault* faults) {
  const int b = blockIdx.x;
  const int c = blockIdx.y * blockDim.x + threadIdx.x;
  if (c >= C) return;
  int64_t start, end;
  checked_seq_bounds(faults, cu, b, B, T, &start, &end);
  float v = 0.0f;  // an empty sequence pools to zeros
  if (end > start) {
    if (mode == Pooling::Cls) {
      v = to_f32(x[start * C + c]);
    } else if (mode == Pooling::Last) {
      v = to_f32(x[(end - 1) * C + c]);
    } else {
      for (int64_t t = start; t < end; t++) v += to_f32(x[t * C + c]);
      v /= static_cast<float>(end - start);
    }
  }
  out[int64_t(b) * C + c] = v;
}

// x [R,C], out [R,C]: row / max(||row||, 1e-12); one block per row
template <typename E>
__global__ void l2_normalize_kernel(const E* x, E* out, int C) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  const E* xr = x + row * C;
  E* orow = out + row * C;
  float ss = 0.0f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    const float v = to_f32(xr[c]);
    ss += v * v;
  }
  ss = block_sum(ss, scratch);
  const float inv = 1.0f / fmaxf(sqrtf(ss), 1e-12f);
  for (int c = threadIdx.x; c < C; c += blockDim.x) orow[c] = from_f32<E>(to_f32(xr[c]) * inv);
}

}  // namespace

// x [T,C] packed by cu_seqlens i32 [B+1], out f32 [B,C]
void pool(const Tensor& x, const Tensor& cu_seqlens, Pooling mode, Tensor& out) {
  const Launch l = launch_for(out);
  const int64_t B = cu_seqlens.dim(0) - 1, T = x.dim(0), C = x.dim(1);
  if (B == 0 || C == 0) return;
  constexpr int kThreads = 128;
  const dim3 grid(static_cast<unsigned>(B), static_cast<unsigned>(ceil_div(C, kThreads)));
  with_float_type(x.dtype, "pool", [&](auto tag) {
    using E = decltype(tag);
    pool_kernel<E><<<grid, kThreads, 0, l.stream>>>(cptr<E>(x), cptr<int32_t>(cu_seqlens), static_cast<int>(B), T,
                                                    static_cast<int>(C), mode, mptr<float>(out), l.faults);
  });
  GF_CUDA_LAUNCHED();
}

// x [R,C], out [R,C]
void l2_normalize(const Tensor& x, Tensor& out) {
  const Launch l = launch_for(out);
  const int64_t R = x.dim(0), C = x.dim(1);
  if (R == 0 || C == 0) return;
  const int threads = C >= 2048 ? 512 : 128;
  with_float_type(x.dtype, "l2_normalize", [&](auto tag) {
    using E = decltype(tag);
    l2_normalize_kernel<E><<<static_cast<unsigned>(R), threads, 0, l.stream>>>(cptr<E>(x), mptr<E>(out),
                                                                              static_cast<int>(C));
  });
  GF_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace gf

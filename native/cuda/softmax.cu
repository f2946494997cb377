#include "cuda/cuda_ops.h"
#include "cuda/softmax.cuh"

namespace gf {
namespace cuda {
namespace {

// x [R,C], out [R,C]: one block per row; one pass for (max, sum), one to write.
template <typename T>
__global__ void softmax_kernel(const T* x, T* out, int C) {
  __shared__ float sm[32], ss[32];
  const int64_t row = blockIdx.x;
  const T* xr = x + row * C;
  T* orow = out + row * C;
  MaxSum acc;
  for (int c = threadIdx.x; c < C; c += blockDim.x) acc.add(to_f32(xr[c]));
  acc = warp_merge(acc);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  if (lane == 0) {
    sm[warp] = acc.m;
    ss[warp] = acc.s;
  }
  __syncthreads();
  MaxSum total;
  if (lane < warps) {
    total.m = sm[lane];
    total.s = ss[lane];
  }
  total = warp_merge(total);
  const float inv = 1.0f / total.s;
  for (int c = threadIdx.x; c < C; c += blockDim.x) orow[c] = from_f32<T>(__expf(to_f32(xr[c]) - total.m) * inv);
}

}  // namespace

// x [R,C], out [R,C]
void softmax(const Tensor& x, Tensor& out) {
  const Launch l = launch_for(out);
  const int64_t R = x.dim(0), C = x.dim(1);
  if (R == 0 || C == 0) return;
  const int threads = C >= 4096 ? 1024 : C >= 512 ? 256 : 64;
  with_float_type(x.dtype, "softmax", [&](auto tag) {
    using T = decltype(tag);
    softmax_kernel<T><<<static_cast<unsigned>(R), threads, 0, l.stream>>>(cptr<T>(x), mptr<T>(out), static_cast<int>(C));
  });
  GF_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace gf

#include "cuda/cuda_ops.h"
#include "cuda/rope.cuh"

namespace gf {
namespace cuda {
namespace {

// x [T,H,D] in place, positions [T], inv_freq [R/2]. One thread per (token, frequency): it computes the
// angle's sine and cosine once and rotates that pair in every head. The angle is formed and its sine and
// cosine taken in double, as the CPU op does: position · inv_freq reaches 1e5 rad and more in long
// contexts, where an f32 product is already off by 1e-2 rad, and the build's fast-math sinf/cosf lose
// accuracy at large angles. One double sincos per (token, frequency) pair is cheap next to the heads.
template <typename T>
__global__ void rope_kernel(T* x, const int32_t* __restrict__ positions, const float* __restrict__ inv_freq, int T_,
                            int H, int D, int half_r, bool interleaved) {
  const int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (idx >= int64_t(T_) * half_r) return;
  const int t = static_cast<int>(idx / half_r), i = static_cast<int>(idx % half_r);
  const double angle = static_cast<double>(positions[t]) * static_cast<double>(inv_freq[i]);
  double s, c;
  sincos(angle, &s, &c);
  const float sn = static_cast<float>(s), cs = static_cast<float>(c);
  int a, b;
  rope_pair(interleaved, i, 2 * half_r, &a, &b);
  T* row = x + int64_t(t) * H * D;
  for (int h = 0; h < H; h++, row += D) {
    const float x0 = to_f32(row[a]), x1 = to_f32(row[b]);
    row[a] = from_f32<T>(x0 * cs - x1 * sn);
    row[b] = from_f32<T>(x1 * cs + x0 * sn);
  }
}

}  // namespace

// x [T,H,D] rotated in place; positions i32 [T]; inv_freq f32 [R/2]
void rope(Tensor& x, const Tensor& positions, const Tensor& inv_freq, bool interleaved) {
  const Launch l = launch_for(x);
  const int64_t T = x.dim(0), H = x.dim(1), D = x.dim(2), half_r = inv_freq.dim(0);
  const int64_t n = T * half_r;
  if (n == 0 || H == 0) return;
  constexpr int kThreads = 128;
  with_float_type(x.dtype, "rope", [&](auto tag) {
    using E = decltype(tag);
    rope_kernel<E><<<static_cast<unsigned>(ceil_div(n, kThreads)), kThreads, 0, l.stream>>>(
        mptr<E>(x), cptr<int32_t>(positions), cptr<float>(inv_freq), static_cast<int>(T), static_cast<int>(H),
        static_cast<int>(D), static_cast<int>(half_r), interleaved);
  });
  GF_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace gf

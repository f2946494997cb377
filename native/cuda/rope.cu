#include "cuda/cuda_ops.h"
#include "cuda/device_faults.cuh"
#include "cuda/rope.cuh"

namespace gf {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// The sine and cosine of each frequency's angle at one token's position, into shared memory for all the
// token's heads. The angle is formed and its sine and cosine taken in double, as the CPU op does: position ·
// inv_freq reaches 1e5 rad and more in long contexts, where an f32 product is already off by 1e-2 rad, and the
// build's fast-math sinf/cosf lose accuracy at large angles. One double sincos per (token, frequency).
__device__ __forceinline__ void token_angles(int32_t position, const float* __restrict__ inv_freq, int half_r, float2* sc) {
  for (int i = threadIdx.x; i < half_r; i += blockDim.x) {
    double s, c;
    sincos(static_cast<double>(position) * static_cast<double>(inv_freq[i]), &s, &c);
    sc[i] = make_float2(static_cast<float>(s), static_cast<float>(c));
  }
  __syncthreads();
}

// One token's row [H, D] rotated in place by the block's threads, a pair per thread and step. rope and
// rope_kv_cache_write rotate through this one function: the same bits either way.
template <typename T>
__device__ __forceinline__ void rotate_heads(T* row, int H, int D, int half_r, bool interleaved, const float2* sc) {
  for (int p = threadIdx.x; p < H * half_r; p += blockDim.x) {
    const int h = p / half_r, i = p % half_r;
    int a, b;
    rope_pair(interleaved, i, 2 * half_r, &a, &b);
    T* x = row + int64_t(h) * D;
    const float x0 = to_f32(x[a]), x1 = to_f32(x[b]);
    const float sn = sc[i].x, cs = sc[i].y;
    x[a] = from_f32<T>(x0 * cs - x1 * sn);
    x[b] = from_f32<T>(x1 * cs + x0 * sn);
  }
}

// x [T,H,D] in place, positions [T], inv_freq [R/2]: one block per token.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    rope_kernel(T* x, const int32_t* __restrict__ positions, const float* __restrict__ inv_freq, int H, int D, int half_r,
                bool interleaved) {
  extern __shared__ float2 sc[];
  const int64_t t = blockIdx.x;
  token_angles(positions[t], inv_freq, half_r, sc);
  rotate_heads(x + t * H * D, H, D, half_r, interleaved, sc);
}

// q [T,Hq,D] and k [T,Hkv,D] rotated in place, then the rotated k and v [T,Hkv,D] stored at slot_mapping[t] of the
// caches [slots, Hkv, D] (a negative slot skips the token): one block per token.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    rope_kv_write_kernel(T* q, T* k, const T* __restrict__ v, const int32_t* __restrict__ positions,
                         const float* __restrict__ inv_freq, int Hq, int Hkv, int D, int half_r, bool interleaved,
                         T* __restrict__ k_cache, T* __restrict__ v_cache, const int32_t* __restrict__ slots,
                         int64_t num_slots, DeviceFault* faults) {
  extern __shared__ float2 sc[];
  const int64_t t = blockIdx.x;
  token_angles(positions[t], inv_freq, half_r, sc);
  rotate_heads(q + t * Hq * D, Hq, D, half_r, interleaved, sc);
  T* kt = k + t * Hkv * D;
  rotate_heads(kt, Hkv, D, half_r, interleaved, sc);
  const int64_t slot = slots[t];
  if (slot < 0) return;  // padding token: nothing to store
  if (slot >= num_slots) {
    if (threadIdx.x == 0) report_fault(faults, FaultKind::SlotMapping, t, slot, num_slots);
    return;
  }
  __syncthreads();  // the whole rotated k row before it is copied
  const int64_t row = int64_t(Hkv) * D;
  const T* vs = v + t * row;
  T* kd = k_cache + slot * row;
  T* vd = v_cache + slot * row;
  for (int64_t i = threadIdx.x; i < row; i += blockDim.x) {
    kd[i] = kt[i];
    vd[i] = vs[i];
  }
}

}  // namespace

// x [T,H,D] rotated in place; positions i32 [T]; inv_freq f32 [R/2]
void rope(Tensor& x, const Tensor& positions, const Tensor& inv_freq, bool interleaved) {
  const Launch l = launch_for(x);
  const int64_t T = x.dim(0), H = x.dim(1), D = x.dim(2), half_r = inv_freq.dim(0);
  if (T == 0 || H == 0) return;
  GF_CHECK_INPUT(T <= 0x7fffffff, "rope: too many tokens (", T, ")");
  with_float_type(x.dtype, "rope", [&](auto tag) {
    using E = decltype(tag);
    rope_kernel<E><<<static_cast<unsigned>(T), kThreads, half_r * sizeof(float2), l.stream>>>(
        mptr<E>(x), cptr<int32_t>(positions), cptr<float>(inv_freq), static_cast<int>(H), static_cast<int>(D),
        static_cast<int>(half_r), interleaved);
  });
  GF_CUDA_LAUNCHED();
}

// q [T,Hq,D], k [T,Hkv,D] rotated in place; v [T,Hkv,D]; positions i32 [T]; inv_freq f32 [R/2];
// k_cache, v_cache [num_blocks, block_size, Hkv, D]; slot_mapping i32 [T] (negative: skip)
void rope_kv_cache_write(Tensor& q, Tensor& k, const Tensor& v, const Tensor& positions, const Tensor& inv_freq,
                         bool interleaved, Tensor& k_cache, Tensor& v_cache, const Tensor& slot_mapping) {
  const Launch l = launch_for(k_cache);
  const int64_t T = q.dim(0), Hq = q.dim(1), Hkv = k.dim(1), D = q.dim(2), half_r = inv_freq.dim(0);
  if (T == 0) return;
  GF_CHECK_INPUT(T <= 0x7fffffff, "rope_kv_cache_write: too many tokens (", T, ")");
  const int64_t num_slots = k_cache.dim(0) * k_cache.dim(1);
  with_float_type(q.dtype, "rope_kv_cache_write", [&](auto tag) {
    using E = decltype(tag);
    rope_kv_write_kernel<E><<<static_cast<unsigned>(T), kThreads, half_r * sizeof(float2), l.stream>>>(
        mptr<E>(q), mptr<E>(k), cptr<E>(v), cptr<int32_t>(positions), cptr<float>(inv_freq), static_cast<int>(Hq),
        static_cast<int>(Hkv), static_cast<int>(D), static_cast<int>(half_r), interleaved, mptr<E>(k_cache),
        mptr<E>(v_cache), cptr<int32_t>(slot_mapping), num_slots, l.faults);
  });
  GF_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace gf

// Pointwise kernels over n elements of one float type, shared by the activation and elementwise families:
// out[i] = F::apply(x[i]) (unary) or F::apply(a[i], b[i]) (binary), in f32, 16-byte vectors when n and every
// pointer allow it, else one element per step. out may alias an input (no __restrict__).
#pragma once
#include "cuda/common.cuh"

namespace gf {
namespace cuda {

constexpr int kPointwiseThreads = 256;

// A grid of at most 65535 · 8 blocks; the kernels stride over what it does not cover.
inline int pointwise_grid(int64_t n) {
  return static_cast<int>(std::min<int64_t>(ceil_div(n, kPointwiseThreads), 65535 * 8));
}

template <typename F, typename T, int kVec>
__global__ void unary_kernel(const T* x, T* out, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x * kVec;
  for (int64_t i = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) * kVec; i < n; i += stride) {
    if constexpr (kVec > 1) {
      const Vec<T> v = load_vec(x + i);
      Vec<T> r;
#pragma unroll
      for (int j = 0; j < kVec; j++) r.v[j] = from_f32<T>(F::apply(to_f32(v.v[j])));
      store_vec(out + i, r);
    } else {
      out[i] = from_f32<T>(F::apply(to_f32(x[i])));
    }
  }
}

template <typename F, typename T, int kVec>
__global__ void binary_kernel(const T* a, const T* b, T* out, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x * kVec;
  for (int64_t i = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) * kVec; i < n; i += stride) {
    if constexpr (kVec > 1) {
      const Vec<T> va = load_vec(a + i), vb = load_vec(b + i);
      Vec<T> r;
#pragma unroll
      for (int j = 0; j < kVec; j++) r.v[j] = from_f32<T>(F::apply(to_f32(va.v[j]), to_f32(vb.v[j])));
      store_vec(out + i, r);
    } else {
      out[i] = from_f32<T>(F::apply(to_f32(a[i]), to_f32(b[i])));
    }
  }
}

// out = F(x), x and out of out's float type and size.
template <typename F>
void launch_unary(const Tensor& x, Tensor& out, const char* op) {
  const Launch l = launch_for(out);
  const int64_t n = out.numel();
  if (n == 0) return;
  with_float_type(out.dtype, op, [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVecElems<T>;
    const T* px = cptr<T>(x);
    T* po = mptr<T>(out);
    if (n % V == 0 && aligned16(px) && aligned16(po)) {
      unary_kernel<F, T, V><<<pointwise_grid(n / V), kPointwiseThreads, 0, l.stream>>>(px, po, n);
    } else {
      unary_kernel<F, T, 1><<<pointwise_grid(n), kPointwiseThreads, 0, l.stream>>>(px, po, n);
    }
  });
  GF_CUDA_LAUNCHED();
}

// out = F(a, b), a, b and out of out's float type and size.
template <typename F>
void launch_binary(const Tensor& a, const Tensor& b, Tensor& out, const char* op) {
  const Launch l = launch_for(out);
  const int64_t n = out.numel();
  if (n == 0) return;
  with_float_type(out.dtype, op, [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVecElems<T>;
    const T* pa = cptr<T>(a);
    const T* pb = cptr<T>(b);
    T* po = mptr<T>(out);
    if (n % V == 0 && aligned16(pa) && aligned16(pb) && aligned16(po)) {
      binary_kernel<F, T, V><<<pointwise_grid(n / V), kPointwiseThreads, 0, l.stream>>>(pa, pb, po, n);
    } else {
      binary_kernel<F, T, 1><<<pointwise_grid(n), kPointwiseThreads, 0, l.stream>>>(pa, pb, po, n);
    }
  });
  GF_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace gf

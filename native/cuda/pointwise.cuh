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

// The inputs of a pointwise kernel: kN pointers of one float type.
template <typename T, int kN>
struct PointwiseInputs {
  const T* p[kN];
};

// F::apply on one element's inputs, as f32.
template <typename F, int kN>
__device__ __forceinline__ float apply_pointwise(const float (&x)[kN]) {
  if constexpr (kN == 1) return F::apply(x[0]);
  else return F::apply(x[0], x[1]);
}

template <typename F, typename T, int kVec, int kN>
__global__ void pointwise_kernel(PointwiseInputs<T, kN> in, T* out, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x * kVec;
  for (int64_t i = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) * kVec; i < n; i += stride) {
    if constexpr (kVec > 1) {
      Vec<T> v[kN];
#pragma unroll
      for (int k = 0; k < kN; k++) v[k] = load_vec(in.p[k] + i);
      Vec<T> r;
#pragma unroll
      for (int j = 0; j < kVec; j++) {
        float x[kN];
#pragma unroll
        for (int k = 0; k < kN; k++) x[k] = to_f32(v[k].v[j]);
        r.v[j] = from_f32<T>(apply_pointwise<F>(x));
      }
      store_vec(out + i, r);
    } else {
      float x[kN];
#pragma unroll
      for (int k = 0; k < kN; k++) x[k] = to_f32(in.p[k][i]);
      out[i] = from_f32<T>(apply_pointwise<F>(x));
    }
  }
}

// out = F(inputs...), every input of out's float type and size.
template <typename F, int kN>
void launch_pointwise(const Tensor* const (&inputs)[kN], Tensor& out, const char* op) {
  const Launch l = launch_for(out);
  const int64_t n = out.numel();
  if (n == 0) return;
  with_float_type(out.dtype, op, [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVecElems<T>;
    PointwiseInputs<T, kN> in;
    T* po = mptr<T>(out);
    bool vec = n % V == 0 && aligned16(po);
    for (int k = 0; k < kN; k++) {
      in.p[k] = cptr<T>(*inputs[k]);
      vec = vec && aligned16(in.p[k]);
    }
    if (vec) pointwise_kernel<F, T, V, kN><<<pointwise_grid(n / V), kPointwiseThreads, 0, l.stream>>>(in, po, n);
    else pointwise_kernel<F, T, 1, kN><<<pointwise_grid(n), kPointwiseThreads, 0, l.stream>>>(in, po, n);
  });
  GF_CUDA_LAUNCHED();
}

// out = F(x)
template <typename F>
void launch_unary(const Tensor& x, Tensor& out, const char* op) {
  const Tensor* const inputs[1] = {&x};
  launch_pointwise<F, 1>(inputs, out, op);
}

// out = F(a, b)
template <typename F>
void launch_binary(const Tensor& a, const Tensor& b, Tensor& out, const char* op) {
  const Tensor* const inputs[2] = {&a, &b};
  launch_pointwise<F, 2>(inputs, out, op);
}

}  // namespace cuda
}  // namespace gf

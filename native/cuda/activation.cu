#include "cuda/activation.cuh"
#include "cuda/cuda_ops.h"

namespace gf {
namespace cuda {
namespace {

constexpr int kThreads = 256;

inline int grid_for(int64_t n) { return static_cast<int>(std::min<int64_t>(ceil_div(n, kThreads), 65535 * 8)); }

// out = F(x), elementwise; x and out may be the same buffer
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

// out = silu(gate) * up
template <typename T, int kVec>
__global__ void swiglu_kernel(const T* gate, const T* up, T* out, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x * kVec;
  for (int64_t i = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) * kVec; i < n; i += stride) {
    if constexpr (kVec > 1) {
      const Vec<T> g = load_vec(gate + i), u = load_vec(up + i);
      Vec<T> r;
#pragma unroll
      for (int j = 0; j < kVec; j++) r.v[j] = from_f32<T>(Silu::apply(to_f32(g.v[j])) * to_f32(u.v[j]));
      store_vec(out + i, r);
    } else {
      out[i] = from_f32<T>(Silu::apply(to_f32(gate[i])) * to_f32(up[i]));
    }
  }
}

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
      unary_kernel<F, T, V><<<grid_for(n / V), kThreads, 0, l.stream>>>(px, po, n);
    } else {
      unary_kernel<F, T, 1><<<grid_for(n), kThreads, 0, l.stream>>>(px, po, n);
    }
  });
  GF_CUDA_LAUNCHED();
}

}  // namespace

// x, out same shape
void gelu(const Tensor& x, Tensor& out, bool tanh_approx) {
  if (tanh_approx) {
    launch_unary<GeluTanh>(x, out, "gelu");
  } else {
    launch_unary<GeluExact>(x, out, "gelu");
  }
}

// x, out same shape
void silu(const Tensor& x, Tensor& out) { launch_unary<Silu>(x, out, "silu"); }

// x, out same shape
void tanh(const Tensor& x, Tensor& out) { launch_unary<Tanh>(x, out, "tanh"); }

// gate [R,F], up [R,F], out [R,F]
void swiglu(const Tensor& gate, const Tensor& up, Tensor& out) {
  const Launch l = launch_for(out);
  const int64_t n = out.numel();
  if (n == 0) return;
  with_float_type(out.dtype, "swiglu", [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVecElems<T>;
    const T* pg = cptr<T>(gate);
    const T* pu = cptr<T>(up);
    T* po = mptr<T>(out);
    if (n % V == 0 && aligned16(pg) && aligned16(pu) && aligned16(po)) {
      swiglu_kernel<T, V><<<grid_for(n / V), kThreads, 0, l.stream>>>(pg, pu, po, n);
    } else {
      swiglu_kernel<T, 1><<<grid_for(n), kThreads, 0, l.stream>>>(pg, pu, po, n);
    }
  });
  GF_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace gf

#include "cuda/cuda_ops.h"
#include "cuda/norm.cuh"

namespace gf {
namespace cuda {
namespace {

enum class NormKind { Layer, Rms };

// The value a row normalizes: with a residual, residual += x rounded to T (as the model stores it) and written
// back; without, x itself.
template <typename T>
__device__ __forceinline__ float residual_sum(const T* xr, T* rr, int c) {
  if (!rr) return to_f32(xr[c]);
  const T s = from_f32<T>(to_f32(rr[c]) + to_f32(xr[c]));
  rr[c] = s;
  return to_f32(s);
}

// The row in registers: each thread holds kVecs 16-byte vectors of it (threads × kVecs × 8 or 4 elements ≥ C),
// read once (with the residual added and stored back), reduced, normalized and written once. A decode step's
// rows are short (C of 576 to 8192), so one pass over registers is most of the kernel; x, residual and out must
// be 16-byte aligned rows (C a multiple of the vector). out may alias x or residual: every element is read
// before the block reduction and written after it.
template <NormKind kKind, typename T, int kVecs>
__global__ void __launch_bounds__(256) norm_rows_kernel(const T* x, T* residual, WeightRef weight, WeightRef bias, float eps,
                                                        T* out, int C) {
  constexpr int V = kVecElems<T>;
  __shared__ float scratch[32];
  const int64_t base = int64_t(blockIdx.x) * C;
  float v[kVecs][V];
  float sum = 0.0f;
#pragma unroll
  for (int j = 0; j < kVecs; j++) {
    const int c0 = (j * blockDim.x + threadIdx.x) * V;
    if (c0 >= C) {
#pragma unroll
      for (int e = 0; e < V; e++) v[j][e] = 0.0f;
      continue;
    }
    Vec<T> xv = *reinterpret_cast<const Vec<T>*>(x + base + c0);  // plain loads: out may alias x
    if (residual) {
      Vec<T> rv = *reinterpret_cast<const Vec<T>*>(residual + base + c0);
#pragma unroll
      for (int e = 0; e < V; e++) rv.v[e] = from_f32<T>(to_f32(rv.v[e]) + to_f32(xv.v[e]));
      *reinterpret_cast<Vec<T>*>(residual + base + c0) = rv;
      xv = rv;
    }
#pragma unroll
    for (int e = 0; e < V; e++) {
      v[j][e] = to_f32(xv.v[e]);
      sum += kKind == NormKind::Rms ? v[j][e] * v[j][e] : v[j][e];
    }
  }
  sum = block_sum(sum, scratch);
  float mean = 0.0f, inv;
  if constexpr (kKind == NormKind::Layer) {
    mean = sum / C;
    float var = 0.0f;  // second pass around the mean, from registers: no cancellation when |mean| ≫ std
#pragma unroll
    for (int j = 0; j < kVecs; j++) {
      if ((j * blockDim.x + threadIdx.x) * V >= C) continue;
#pragma unroll
      for (int e = 0; e < V; e++) var += (v[j][e] - mean) * (v[j][e] - mean);
    }
    inv = rsqrtf(block_sum(var, scratch) / C + eps);
  } else {
    inv = rsqrtf(sum / C + eps);
  }
#pragma unroll
  for (int j = 0; j < kVecs; j++) {
    const int c0 = (j * blockDim.x + threadIdx.x) * V;
    if (c0 >= C) continue;
    Vec<T> o;
#pragma unroll
    for (int e = 0; e < V; e++) {
      float y = (v[j][e] - mean) * inv * load_weight(weight, c0 + e);
      if (bias.p) y += load_weight(bias, c0 + e);
      o.v[e] = from_f32<T>(y);
    }
    *reinterpret_cast<Vec<T>*>(out + base + c0) = o;
  }
}

// Any row: x [R,C], residual [R,C] or null, weight [C], bias [C] or null, out [R,C]; one block per row, the row
// read up to three times (sum, variance, write; the later reads hit L1/L2).
template <NormKind kKind, typename T>
__global__ void norm_kernel(const T* x, T* residual, WeightRef weight, WeightRef bias, float eps,
                            T* out, int C) {  // out may alias x or residual
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  const T* xr = x + row * C;
  T* rr = residual ? residual + row * C : nullptr;
  T* orow = out + row * C;
  const T* src = rr ? rr : xr;

  float sum = 0.0f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    const float v = residual_sum(xr, rr, c);  // rr[c] is read back below by this same thread only
    sum += kKind == NormKind::Rms ? v * v : v;
  }
  sum = block_sum(sum, scratch);

  float mean = 0.0f, inv;
  if constexpr (kKind == NormKind::Layer) {
    mean = sum / C;
    float var = 0.0f;  // second pass around the mean: no cancellation when |mean| ≫ std
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
      const float d = to_f32(src[c]) - mean;
      var += d * d;
    }
    var = block_sum(var, scratch) / C;
    inv = rsqrtf(var + eps);
  } else {
    inv = rsqrtf(sum / C + eps);
  }

  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    float y = (to_f32(src[c]) - mean) * inv * load_weight(weight, c);
    if (bias.p) y += load_weight(bias, c);
    orow[c] = from_f32<T>(y);
  }
}

template <NormKind kKind, typename T, int kVecs>
void launch_rows(unsigned rows, int threads, const T* x, T* r, WeightRef w, WeightRef b, float eps, T* o, int C, cudaStream_t s) {
  norm_rows_kernel<kKind, T, kVecs><<<rows, threads, 0, s>>>(x, r, w, b, eps, o, C);
}

template <NormKind kKind>
void launch_norm(const Tensor& x, Tensor* residual, const Tensor& weight, const Tensor* bias, float eps, Tensor& out,
                 const char* op) {
  const Launch l = launch_for(out);
  const int64_t R = x.dim(0), C = x.dim(1);
  if (R == 0 || C == 0) return;
  GF_CHECK_INPUT(R <= 0x7fffffff, op, ": too many rows (", R, ")");
  with_float_type(x.dtype, op, [&](auto tag) {
    using T = decltype(tag);
    const T* px = cptr<T>(x);
    T* pr = residual ? mptr<T>(*residual) : nullptr;
    T* po = mptr<T>(out);
    const WeightRef w = weight_ref(&weight), b = weight_ref(bias);
    constexpr int V = kVecElems<T>;
    // the register path when rows are whole 16-byte vectors and fit in 256 threads × 8 vectors; which path
    // serves a row depends on C and the buffers alone, never on R (batch invariance)
    const int64_t vecs = C / V;
    const bool vec_ok = C % V == 0 && aligned16(px) && aligned16(po) && (!pr || aligned16(pr)) && vecs <= 256 * 8;
    if (vec_ok) {
      const int threads = static_cast<int>(std::min<int64_t>(256, (vecs + 31) / 32 * 32));
      const int64_t per = ceil_div(vecs, threads);
      const unsigned rows = static_cast<unsigned>(R);
      if (per <= 1) launch_rows<kKind, T, 1>(rows, threads, px, pr, w, b, eps, po, static_cast<int>(C), l.stream);
      else if (per <= 2) launch_rows<kKind, T, 2>(rows, threads, px, pr, w, b, eps, po, static_cast<int>(C), l.stream);
      else if (per <= 4) launch_rows<kKind, T, 4>(rows, threads, px, pr, w, b, eps, po, static_cast<int>(C), l.stream);
      else launch_rows<kKind, T, 8>(rows, threads, px, pr, w, b, eps, po, static_cast<int>(C), l.stream);
    } else {
      const int threads = C >= 4096 ? 1024 : C >= 1024 ? 512 : C >= 256 ? 256 : 128;
      norm_kernel<kKind, T><<<static_cast<unsigned>(R), threads, 0, l.stream>>>(px, pr, w, b, eps, po, static_cast<int>(C));
    }
  });
  GF_CUDA_LAUNCHED();
}

}  // namespace

// x [R,C], residual [R,C] optional (+= x in place), weight [C], bias [C] optional, out [R,C]
void layer_norm(const Tensor& x, Tensor* residual, const Tensor& weight, const Tensor* bias, float eps, Tensor& out) {
  launch_norm<NormKind::Layer>(x, residual, weight, bias, eps, out, "layer_norm");
}

// x [R,C], residual [R,C] optional (+= x in place), weight [C], out [R,C]
void rms_norm(const Tensor& x, Tensor* residual, const Tensor& weight, float eps, Tensor& out) {
  launch_norm<NormKind::Rms>(x, residual, weight, nullptr, eps, out, "rms_norm");
}

}  // namespace cuda
}  // namespace gf

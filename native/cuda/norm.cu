#include "cuda/cuda_ops.h"
#include "cuda/norm.cuh"

namespace gf {
namespace cuda {
namespace {

enum class NormKind { Layer, Rms };

// x [R,C], residual [R,C] or null, weight [C], bias [C] or null, out [R,C]; one block per row.
// The row is read up to three times (sum, variance, write); the later reads hit L1/L2, and rows are small.
template <NormKind kKind, typename T>
__global__ void norm_kernel(const T* x, T* residual, WeightRef weight, WeightRef bias, float eps,
                            T* out, int C) {  // out may alias x or residual
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  const T* xr = x + row * C;
  T* rr = residual ? residual + row * C : nullptr;
  T* orow = out + row * C;
  // The normalized value is the one stored: with a residual, the sum rounded to T (as the model stores it).
  const T* src = rr ? rr : xr;

  float sum = 0.0f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    float v;
    if (rr) {
      const T s = from_f32<T>(to_f32(rr[c]) + to_f32(xr[c]));
      rr[c] = s;  // read back below by this same thread only
      v = to_f32(s);
    } else {
      v = to_f32(xr[c]);
    }
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

template <NormKind kKind>
void launch_norm(const Tensor& x, Tensor* residual, const Tensor& weight, const Tensor* bias, float eps, Tensor& out,
                 const char* op) {
  const Launch l = launch_for(out);
  const int64_t R = x.dim(0), C = x.dim(1);
  if (R == 0 || C == 0) return;
  GF_CHECK_INPUT(R <= 0x7fffffff, op, ": too many rows (", R, ")");
  const int threads = C >= 4096 ? 1024 : C >= 1024 ? 512 : C >= 256 ? 256 : 128;
  with_float_type(x.dtype, op, [&](auto tag) {
    using T = decltype(tag);
    norm_kernel<kKind, T><<<static_cast<unsigned>(R), threads, 0, l.stream>>>(
        cptr<T>(x), residual ? mptr<T>(*residual) : nullptr, weight_ref(&weight), weight_ref(bias), eps, mptr<T>(out),
        static_cast<int>(C));
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

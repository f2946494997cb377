// LayerNorm and RMSNorm, each optionally fused with the residual add that precedes it in a pre-norm block.
// One row per task; statistics in two passes (mean first, then squared deviations) for stability.
#include <cmath>

#include "core/thread_pool.h"
#include "cpu/cpu_ops.h"
#include "cpu/parallel_rows.h"
#include "cpu/rows_io.h"
#include "cpu/vecmath.h"

namespace gf {
namespace cpu {
namespace {

// Runs fn(src_row, out_row) per row, where src_row is x, or residual after residual += x.
template <typename RowFn>
void for_each_norm_row(const Tensor& x, Tensor* residual, Tensor& out, RowFn fn) {
  const int64_t R = x.dim(0), C = x.dim(1);
  const float* px = x.data<float>();
  float* pr = residual ? residual->data<float>() : nullptr;
  float* po = out.data<float>();
  parallel_for(R, rows_grain(C), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) {
      const float* xr = px + r * C;
      const float* src = xr;
      if (pr) {
        float* rr = pr + r * C;
        for (int64_t c = 0; c < C; c++) rr[c] += xr[c];
        src = rr;
      }
      fn(src, po + r * C, C);
    }
  });
}

}  // namespace

// x [R,C], residual [R,C] optional (residual += x, then the sum is normalized), weight/bias [C], out [R,C]
void layer_norm(const Tensor& x, Tensor* residual, const Tensor& weight, const Tensor* bias, float eps,
                Tensor& out) {
  const std::vector<float> w = weight_f32(weight);
  const std::vector<float> b = bias ? weight_f32(*bias) : std::vector<float>(w.size(), 0.0f);
  for_each_norm_row(x, residual, out, [&](const float* src, float* dst, int64_t C) {
    const float mean = vec_ops().sum(src, C) / static_cast<float>(C);
    const float sq = vec_ops().sum_sq(src, mean, C);
    const float rstd = 1.0f / std::sqrt(sq / static_cast<float>(C) + eps);
    for (int64_t c = 0; c < C; c++) dst[c] = (src[c] - mean) * rstd * w[c] + b[c];
  });
}

// x [R,C], residual [R,C] optional, weight [C], out [R,C]: out = x / sqrt(mean(x²) + eps) * weight
void rms_norm(const Tensor& x, Tensor* residual, const Tensor& weight, float eps, Tensor& out) {
  const std::vector<float> w = weight_f32(weight);
  for_each_norm_row(x, residual, out, [&](const float* src, float* dst, int64_t C) {
    const float sq = vec_ops().sum_sq(src, 0.0f, C);
    const float rstd = 1.0f / std::sqrt(sq / static_cast<float>(C) + eps);
    for (int64_t c = 0; c < C; c++) dst[c] = src[c] * rstd * w[c];
  });
}

}  // namespace cpu
}  // namespace gf

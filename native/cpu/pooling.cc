// Sentence-embedding heads: pooling over packed sequences and L2 normalization.
#include <cmath>
#include <cstring>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/convert.h"
#include "cpu/cpu_ops.h"
#include "cpu/parallel_rows.h"

namespace gf {
namespace cpu {

// x f32 [T,C] packed by cu_seqlens i32 [B+1], out f32 [B,C]: mean of each sequence's rows, its first row
// (CLS) or its last row. An empty sequence pools to zeros.
void pool(const Tensor& x, const Tensor& cu_seqlens, Pooling mode, Tensor& out) {
  const int64_t B = cu_seqlens.dim(0) - 1, C = x.dim(1);
  const int32_t* cu = cu_seqlens.data<int32_t>();
  const float* px = x.data<float>();
  float* po = out.data<float>();
  parallel_for(B, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; b++) {
      float* dst = po + b * C;
      const int64_t first = cu[b], n = cu[b + 1] - cu[b];
      if (n == 0) {
        std::memset(dst, 0, sizeof(float) * C);
      } else if (mode == Pooling::Cls) {
        std::memcpy(dst, px + first * C, sizeof(float) * C);
      } else if (mode == Pooling::Last) {
        std::memcpy(dst, px + (first + n - 1) * C, sizeof(float) * C);
      } else {
        std::memset(dst, 0, sizeof(float) * C);
        for (int64_t t = first; t < first + n; t++) {
          const float* row = px + t * C;
          for (int64_t c = 0; c < C; c++) dst[c] += row[c];
        }
        const float inv = 1.0f / static_cast<float>(n);
        for (int64_t c = 0; c < C; c++) dst[c] *= inv;
      }
    }
  });
}

// x [R,C] (any float dtype), out [R,C] same dtype: out[r] = x[r] / max(‖x[r]‖₂, 1e-12)
void l2_normalize(const Tensor& x, Tensor& out) {
  const int64_t R = x.dim(0), C = x.dim(1);
  const size_t row_bytes = dtype_bytes(x.dtype, C);
  const char* px = static_cast<const char*>(x.raw());
  char* po = static_cast<char*>(out.raw());
  parallel_for(R, rows_grain(C), [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(C));
    for (int64_t r = begin; r < end; r++) {
      convert(px + r * row_bytes, x.dtype, row.data(), DType::F32, C);
      double sq = 0;
      for (int64_t c = 0; c < C; c++) sq += static_cast<double>(row[c]) * row[c];
      const float inv = static_cast<float>(1.0 / std::max(std::sqrt(sq), 1e-12));
      for (int64_t c = 0; c < C; c++) row[c] *= inv;
      convert(row.data(), DType::F32, po + r * row_bytes, out.dtype, C);
    }
  });
}

}  // namespace cpu
}  // namespace gf

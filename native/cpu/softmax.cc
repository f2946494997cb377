// Row softmax: max, exp(x − max) with its sum, then one scaling pass, all vectorized (vecmath.h).
#include "core/thread_pool.h"
#include "cpu/cpu_ops.h"
#include "cpu/parallel_rows.h"
#include "cpu/vecmath.h"

namespace gf {
namespace cpu {

// x [R,C], out [R,C]: out[r] = exp(x[r] − max x[r]) / Σ exp(x[r] − max x[r])
void softmax(const Tensor& x, Tensor& out) {
  const int64_t R = x.dim(0), C = x.dim(1);
  const float* px = x.data<float>();
  float* po = out.data<float>();
  const VecOps& v = vec_ops();
  parallel_for(R, rows_grain(C), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) {
      const float m = v.max(px + r * C, C);
      const float sum = v.exp_shift_sum(px + r * C, m, po + r * C, C);
      v.scale(po + r * C, 1.0f / sum, C);
    }
  });
}

}  // namespace cpu
}  // namespace gf

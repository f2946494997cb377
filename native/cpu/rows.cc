// Row gather (e.g. the last token of each sequence before the LM head).
#include <cstring>

#include "core/thread_pool.h"
#include "cpu/cpu_ops.h"
#include "cpu/parallel_rows.h"

namespace gf {
namespace cpu {

// x [R,C], idx i32 [N] (checked < R), out [N,C]: out[n] = x[idx[n]]
void gather_rows(const Tensor& x, const Tensor& idx, Tensor& out) {
  const int64_t N = idx.dim(0), C = x.dim(1);
  const int32_t* ix = idx.data<int32_t>();
  const float* px = x.data<float>();
  float* po = out.data<float>();
  parallel_for(N, rows_grain(C), [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; n++) std::memcpy(po + n * C, px + ix[n] * C, sizeof(float) * C);
  });
}

}  // namespace cpu
}  // namespace gf

// Rotary position embedding, in place. Angles are formed in double precision: pos · inv_freq reaches 1e5
// radians at long contexts, where an f32 product would already be off by ~1e-2.
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/cpu_ops.h"

namespace gf {
namespace cpu {

// xs[i] [T,H_i,D] rotated in place (q and k of rope_kv_cache_write share each token's angles, computed once),
// positions i32 [T], inv_freq f32 [R/2]: pair (a, b) of frequency i is (i, i + R/2) (rotate-half) or
// (2i, 2i + 1) (interleaved); a' = a cos − b sin, b' = b cos + a sin
void rope_rows(std::initializer_list<Tensor*> xs, const Tensor& positions, const Tensor& inv_freq, bool interleaved) {
  const Tensor& first = **xs.begin();
  const int64_t T = first.dim(0), D = first.dim(2), half = inv_freq.dim(0);
  int64_t heads = 0;  // all tensors' heads: a token's work
  for (const Tensor* x : xs) heads += x->dim(1);
  const int32_t* pos = positions.data<int32_t>();
  const float* freq = inv_freq.data<float>();
  const int64_t stride = interleaved ? 2 : 1;           // distance between pair starts
  const int64_t partner = interleaved ? 1 : half;       // offset of b from a
  parallel_for(T, std::max<int64_t>(1, 4096 / (heads * D)), [&](int64_t begin, int64_t end) {
    std::vector<float> cs(static_cast<size_t>(half)), sn(static_cast<size_t>(half));
    for (int64_t t = begin; t < end; t++) {
      for (int64_t i = 0; i < half; i++) {
        const double angle = static_cast<double>(pos[t]) * static_cast<double>(freq[i]);
        cs[i] = static_cast<float>(std::cos(angle));
        sn[i] = static_cast<float>(std::sin(angle));
      }
      for (Tensor* x : xs) {
        const int64_t H = x->dim(1);
        float* px = x->data<float>();
        for (int64_t h = 0; h < H; h++) {
          float* row = px + (t * H + h) * D;
          for (int64_t i = 0; i < half; i++) {
            float* a = row + i * stride;
            float* b = a + partner;
            const float va = *a, vb = *b;
            *a = va * cs[i] - vb * sn[i];
            *b = vb * cs[i] + va * sn[i];
          }
        }
      }
    }
  });
}

void rope(Tensor& x, const Tensor& positions, const Tensor& inv_freq, bool interleaved) {
  rope_rows({&x}, positions, inv_freq, interleaved);
}

}  // namespace cpu
}  // namespace gf

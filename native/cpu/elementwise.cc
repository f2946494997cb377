// add and copy: flat, memory-bound loops split across the pool.
#include <cstring>

#include "core/thread_pool.h"
#include "cpu/cpu_ops.h"
#include "cpu/parallel_rows.h"

namespace gf {
namespace cpu {

// a, b, out [N] f32: out = a + b (out may alias a or b: each element is read before it is written)
void add(const Tensor& a, const Tensor& b, Tensor& out) {
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* po = out.data<float>();
  parallel_for(out.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) po[i] = pa[i] + pb[i];
  });
}

// x, out: same dtype and numel (any dtype, quantized included): out = x byte for byte
void copy(const Tensor& x, Tensor& out) {
  const char* src = static_cast<const char*>(x.raw());
  char* dst = static_cast<char*>(out.raw());
  const int64_t bytes = static_cast<int64_t>(x.nbytes());
  if (src == dst) return;
  parallel_for(bytes, int64_t{1} << 20, [&](int64_t begin, int64_t end) {
    std::memmove(dst + begin, src + begin, static_cast<size_t>(end - begin));
  });
}

}  // namespace cpu
}  // namespace gf

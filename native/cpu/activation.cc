// Pointwise activations over flat f32 buffers, through the vectorized row primitives of vecmath.h.
#include <cmath>

#include "core/thread_pool.h"
#include "cpu/cpu_ops.h"
#include "cpu/parallel_rows.h"
#include "cpu/vecmath.h"

namespace gf {
namespace cpu {

// x, out same shape: out = x · Φ(x) (erf form) or its tanh approximation
void gelu(const Tensor& x, Tensor& out, bool tanh_approx) {
  const float* px = x.data<float>();
  float* po = out.data<float>();
  parallel_for(x.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
    vec_ops().gelu(px + begin, po + begin, end - begin, tanh_approx);
  });
}

// x, out same shape: out = x · sigmoid(x)
void silu(const Tensor& x, Tensor& out) {
  const float* px = x.data<float>();
  float* po = out.data<float>();
  parallel_for(x.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
    vec_ops().silu(px + begin, po + begin, end - begin);
  });
}

// x, out same shape: out = tanh(x). Only BERT's pooler uses it (one row per sequence), so plain std::tanh.
void tanh(const Tensor& x, Tensor& out) {
  const float* px = x.data<float>();
  float* po = out.data<float>();
  parallel_for(x.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) po[i] = std::tanh(px[i]);
  });
}

// gate [R,F], up [R,F], out [R,F]: out = silu(gate) · up
void swiglu(const Tensor& gate, const Tensor& up, Tensor& out) {
  const float* pg = gate.data<float>();
  const float* pu = up.data<float>();
  float* po = out.data<float>();
  parallel_for(gate.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
    vec_ops().swiglu(pg + begin, pu + begin, po + begin, end - begin);
  });
}

}  // namespace cpu
}  // namespace gf

#include "cuda/activation.cuh"
#include "cuda/cuda_ops.h"
#include "cuda/pointwise.cuh"

namespace gf {
namespace cuda {
namespace {

// silu(gate) · up
struct SwiGlu {
  static __device__ __forceinline__ float apply(float gate, float up) { return Silu::apply(gate) * up; }
};

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
void swiglu(const Tensor& gate, const Tensor& up, Tensor& out) { launch_binary<SwiGlu>(gate, up, out, "swiglu"); }

}  // namespace cuda
}  // namespace gf

// cpu::linear: the bias becomes f32, then the tiled matmul (gemm.h) does the rest, for every number of rows
// and every weight dtype (a row's result never depends on M: native/cpu/linear_kernels.h).
#include <vector>

#include "cpu/convert.h"
#include "cpu/cpu_ops.h"
#include "cpu/gemm.h"

namespace gf {
namespace cpu {

void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  // x [M,K] · w [N,K]ᵀ + bias [N] → out [M,N]
  const int64_t M = x.dim(0), K = x.dim(1), N = w.dim(0);
  if (M == 0 || N == 0) return;
  std::vector<float> bias_f32;
  if (bias) {
    bias_f32.resize(static_cast<size_t>(N));
    to_f32(bias->raw(), bias->dtype, bias_f32.data(), N);
  }
  float* o = out.data<float>();
  if (K == 0) {  // an empty sum: out is the bias (or zero) in every row
    for (int64_t m = 0; m < M; m++) {
      for (int64_t n = 0; n < N; n++) o[m * N + n] = bias ? bias_f32[n] : 0.0f;
    }
    return;
  }
  const MatmulArgs args{x.data<float>(), w.raw(), w.dtype, bias ? bias_f32.data() : nullptr, o, M, N, K};
  gemm(args);
}

// The batch-invariant mode asked for by name (the op's batchInvariant, which CUDA needs): on the CPU linear()
// already computes every row by the same arithmetic whatever M is.
void linear_batch_invariant(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  cpu::linear(x, w, bias, out);  // qualified: ADL would also find gf::linear
}

}  // namespace cpu
}  // namespace gf

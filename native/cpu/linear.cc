// cpu::linear: the bias becomes f32, then the tiled matmul (gemm.h) does the rest, for every number of rows
// and every weight dtype (a row's result never depends on M: native/cpu/linear_kernels.h).
#include <vector>

#include "cpu/convert.h"
#include "cpu/cpu_ops.h"
#include "cpu/gemm.h"

namespace gf {
namespace cpu {

void linears(const Tensor& x, const std::vector<Tensor>& ws, const std::vector<const Tensor*>& biases,
             std::vector<Tensor>& outs, bool /*batch_invariant: the CPU always is*/) {
  // x [M,K] · ws[i] [N_i,K]ᵀ + biases[i] [N_i] → outs[i] [M,N_i]
  const int64_t M = x.dim(0), K = x.dim(1);
  std::vector<std::vector<float>> bias_f32(ws.size());
  std::vector<MatmulArgs> parts;
  for (size_t i = 0; i < ws.size(); i++) {
    const int64_t N = ws[i].dim(0);
    const Tensor* bias = biases.empty() ? nullptr : biases[i];
    if (bias) {
      bias_f32[i].resize(static_cast<size_t>(N));
      to_f32(bias->raw(), bias->dtype, bias_f32[i].data(), N);
    }
    float* o = outs[i].data<float>();
    if (M == 0 || N == 0) continue;
    if (K == 0) {  // an empty sum: out is the bias (or zero) in every row
      for (int64_t m = 0; m < M; m++) {
        for (int64_t n = 0; n < N; n++) o[m * N + n] = bias ? bias_f32[i][n] : 0.0f;
      }
      continue;
    }
    parts.push_back({x.data<float>(), ws[i].raw(), ws[i].dtype, bias ? bias_f32[i].data() : nullptr, o, M, N, K});
  }
  if (!parts.empty()) gemm_group(parts.data(), static_cast<int>(parts.size()));
}

void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  std::vector<Tensor> outs{out};
  cpu::linears(x, {w}, {bias}, outs, false);  // qualified: ADL would also find gf::linears
}

// The batch-invariant mode asked for by name (the op's batchInvariant, which CUDA needs): on the CPU linear()
// already computes every row by the same arithmetic whatever M is.
void linear_batch_invariant(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  cpu::linear(x, w, bias, out);  // qualified: ADL would also find gf::linear
}

}  // namespace cpu
}  // namespace gf

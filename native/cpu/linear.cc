// cpu::linear: picks the matmul strategy (gemm.h) by the number of rows and prepares the bias as f32.
#include <algorithm>
#include <vector>

#include "cpu/convert.h"
#include "cpu/cpu_ops.h"
#include "cpu/gemm.h"

namespace gf {
namespace cpu {
namespace {

// Up to this many rows the unpacked dot-product tiles (gemv.cc) beat the GEMM, whose weight packing costs
// as much as the multiply for few rows: f32 weights up to ~48 rows, f16/bf16 up to ~8 (the tiles convert
// each weight vector once per 3 rows, the packer once per task), quantized weights up to 8 (integer block
// dot products). Measured at all-MiniLM-L6-v2 shapes on 1 and 2 threads (bench/kernels/cpu-gemm.mjs, its
// rows sweep).
int64_t gemv_max_rows(DType w_dtype) { return w_dtype == DType::F32 ? 48 : 8; }

}  // namespace

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
  if (M <= gemv_max_rows(w.dtype)) {
    gemv(args);
  } else {
    gemm(args);
  }
}

}  // namespace cpu
}  // namespace gf

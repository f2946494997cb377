// cpu::linear and cpu::linears: the bias as f32, then the tiled matmul (gemm.h) does the rest, for every number
// of rows and every weight dtype (a row's result never depends on M: native/cpu/linear_kernels.h).
#include <algorithm>
#include <vector>

#include "cpu/convert.h"
#include "cpu/cpu_ops.h"
#include "cpu/gemm.h"

namespace gf {
namespace cpu {

namespace {

// One weight's matmul as a gemm part: x [M,K] · w [N,K]ᵀ + bias [N] → out [M,N]. An f32 bias is read in place,
// another one converted into `storage`. Returns false when nothing is left to multiply (no rows or columns, or
// K = 0, when out is the bias, or zero, in every row).
bool matmul_part(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out, std::vector<float>& storage,
                 MatmulArgs& part) {
  const int64_t M = x.dim(0), K = x.dim(1), N = w.dim(0);
  if (M == 0 || N == 0) return false;
  const float* b = nullptr;
  if (bias && bias->dtype == DType::F32) {
    b = bias->data<float>();
  } else if (bias) {
    storage.resize(static_cast<size_t>(N));
    to_f32(bias->raw(), bias->dtype, storage.data(), N);
    b = storage.data();
  }
  float* o = out.data<float>();
  if (K == 0) {  // an empty sum
    for (int64_t m = 0; m < M; m++) {
      for (int64_t n = 0; n < N; n++) o[m * N + n] = b ? b[n] : 0.0f;
    }
    return false;
  }
  part = {x.data<float>(), w.raw(), w.dtype, b, o, M, N, K, w.packed_rows != 0};
  return true;
}

}  // namespace

void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  std::vector<float> storage;
  MatmulArgs part;
  if (matmul_part(x, w, bias, out, storage, part)) gemm(part);
}

void linears(const Tensor& x, const std::vector<Tensor>& ws, const std::vector<const Tensor*>& biases,
             std::vector<Tensor>& outs, bool /*batch_invariant: the CPU always is*/) {
  std::vector<std::vector<float>> storage(ws.size());
  std::vector<MatmulArgs> parts(ws.size());
  int count = 0;
  for (size_t i = 0; i < ws.size(); i++) {
    if (matmul_part(x, ws[i], biases.empty() ? nullptr : biases[i], outs[i], storage[i], parts[count])) count++;
  }
  // one group per weight layout (packed or not: a weight whose rows do not fill whole groups stays unpacked)
  const auto packed = std::stable_partition(parts.begin(), parts.begin() + count, [](const MatmulArgs& p) { return p.w_packed; });
  const int n_packed = static_cast<int>(packed - parts.begin());
  if (n_packed > 0) gemm_group(parts.data(), n_packed);
  if (count > n_packed) gemm_group(parts.data() + n_packed, count - n_packed);
}

// The batch-invariant mode asked for by name (the op's batchInvariant, which CUDA needs): on the CPU linear()
// already computes every row by the same arithmetic whatever M is.
void linear_batch_invariant(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  cpu::linear(x, w, bias, out);  // qualified: ADL would also find gf::linear
}

}  // namespace cpu
}  // namespace gf

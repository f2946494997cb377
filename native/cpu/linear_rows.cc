// linear_batch_invariant on the CPU: each row of x is its own one-row product, so a row's arithmetic is that of
// linear() at M = 1 whatever M is (the blocked GEMM of larger M adds in another order). Slower than linear()
// for many rows (every row reads the weights again): the mode is for runs that must not depend on batching.
#include "cpu/cpu_ops.h"

namespace gf {
namespace cpu {

// x [M,K], w [N,K], bias [N] optional, out [M,N]
void linear_batch_invariant(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  const int64_t M = x.dim(0), K = x.dim(1), N = w.dim(0);
  for (int64_t m = 0; m < M; m++) {
    Tensor row = x.view(m * K, {1, K});
    Tensor row_out = out.view(m * N, {1, N});
    cpu::linear(row, w, bias, row_out);  // qualified: ADL would also find gf::linear
  }
}

}  // namespace cpu
}  // namespace gf

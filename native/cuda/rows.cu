#include "cuda/cuda_ops.h"
#include "cuda/device_faults.cuh"
#include "cuda/rows.cuh"

namespace gf {
namespace cuda {
namespace {

// x [R,C], idx [N], out [N,C]: one block per output row, copied in 16-byte words when rows allow it.
template <typename W>
__global__ void gather_rows_kernel(const W* __restrict__ x, const int32_t* __restrict__ idx, W* __restrict__ out,
                                   int64_t words_per_row, int R, DeviceFault* faults) {
  const int n = blockIdx.x;
  const int r = checked_index(faults, FaultKind::GatherIndex, n, idx[n], R);
  const W* src = x + r * words_per_row;
  W* dst = out + int64_t(n) * words_per_row;
  for (int64_t i = threadIdx.x; i < words_per_row; i += blockDim.x) dst[i] = src[i];
}

}  // namespace

// x [R,C], idx i32 [N] (each < R), out [N,C]
void gather_rows(const Tensor& x, const Tensor& idx, Tensor& out) {
  const Launch l = launch_for(out);
  const int64_t N = idx.dim(0), R = x.dim(0);
  const int64_t row_bytes = static_cast<int64_t>(dtype_bytes(x.dtype, x.dim(1)));
  if (N == 0 || row_bytes == 0) return;
  GF_CHECK_INPUT(R >= 1, "gather_rows: 'x' has no rows to gather from");
  GF_CHECK_INPUT(N <= 0x7fffffff && R <= 0x7fffffff, "gather_rows: too many rows");
  const bool wide = row_bytes % 16 == 0 && aligned16(x.raw()) && aligned16(out.raw());
  if (wide) {
    gather_rows_kernel<uint4><<<static_cast<unsigned>(N), 128, 0, l.stream>>>(
        cptr<uint4>(x), cptr<int32_t>(idx), mptr<uint4>(out), row_bytes / 16, static_cast<int>(R), l.faults);
  } else if (row_bytes % 2 == 0) {
    gather_rows_kernel<uint16_t><<<static_cast<unsigned>(N), 128, 0, l.stream>>>(
        cptr<uint16_t>(x), cptr<int32_t>(idx), mptr<uint16_t>(out), row_bytes / 2, static_cast<int>(R), l.faults);
  } else {
    gather_rows_kernel<uint8_t><<<static_cast<unsigned>(N), 128, 0, l.stream>>>(
        cptr<uint8_t>(x), cptr<int32_t>(idx), mptr<uint8_t>(out), row_bytes, static_cast<int>(R), l.faults);
  }
  GF_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace gf

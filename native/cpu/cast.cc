// cpu::cast: element conversion (convert.h) split into block-aligned chunks across the pool.
#include <algorithm>

#include "core/thread_pool.h"
#include "cpu/convert.h"
#include "cpu/cpu_ops.h"
#include "cpu/gemm.h"

namespace gf {
namespace cpu {

void cast(const Tensor& x, Tensor& out) {
  // x [any] (float or quantized) → out [same numel] (float, or quantized from float: convert.h)
  constexpr int64_t kChunk = 1 << 16;  // elements per task: a multiple of the quantized block size
  const int64_t n = x.numel();
  const void* src = x.raw();
  char* dst = static_cast<char*>(out.raw());
  if (x.packed_rows != 0) {  // weights packed for linear: each row as it was written, then converted
    const int64_t K = x.dim(1);
    parallel_for(x.dim(0), std::max<int64_t>(1, kChunk / K), [&](int64_t begin, int64_t end) {
      convert_packed_rows(x, begin, end, dst + dtype_bytes(out.dtype, begin * K), out.dtype);
    });
    return;
  }
  parallel_for((n + kChunk - 1) / kChunk, 1, [&](int64_t begin, int64_t end) {
    const int64_t first = begin * kChunk, count = std::min(n, end * kChunk) - first;
    convert(element_ptr(src, x.dtype, first), x.dtype, dst + dtype_bytes(out.dtype, first), out.dtype, count);
  });
}

}  // namespace cpu
}  // namespace gf

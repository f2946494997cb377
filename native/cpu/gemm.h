// The matmul driver behind cpu::linear: tiles of R activation rows × C weight rows (linear_kernels.h) over
// the output, the same kernels for every number of rows M, so that a row's result never depends on M.
// Float weights (f32, f16) are read in place by eight-lane dot products, bf16 ones meet the activations
// rounded to bf16 (AVX512-BF16's dot product where the CPU has it); quantized weights (Q8_0,
// Q4_0, Q4_1) meet the activations quantized once to 8-bit blocks in integer block dot products.
#pragma once
#include <cstdint>

#include "gpuformer/dtype.h"
#include "gpuformer/tensor.h"

namespace gf {
namespace cpu {

// out [M,N] = x [M,K] · w [N,K]ᵀ (+ bias [N] when not null). x, out, bias f32; w any float or quantized
// dtype (K a multiple of 32 when quantized). All arrays contiguous.
struct MatmulArgs {
  const float* x;
  const void* w;
  DType w_dtype;
  const float* bias;
  float* out;
  int64_t M, N, K;
  bool w_packed = false;  // w packed for the tier's packed tiles (pack_linear_weight); every part of a group alike
};

// Packs a CPU linear weight [N, K] (contiguous, its storage held by nothing else) in place, in the layout the
// active tier's packed tiles read (repack_linear), when the tier has them for its dtype and N is a multiple of
// their group: on AVX-512, f32 and bf16 weights in row pairs (one 512-bit load per weight pair instead of two
// halves and an insert, a tenth of the GEMM) and quantized ones in groups of 16 rows, transposed (a block's
// scales and quants loaded as whole vectors instead of sixteen rows' words shuffled together). Returns
// whether it did; Tensor::packed_rows says so afterwards. The same bits from linear either way; views of whole
// groups keep the layout (Tensor::view).
bool pack_linear_weight(Tensor& w);
// Rows [r0, r1) of a weight packed by pack_linear_weight as they were written, converted to dst_dtype
// (convert.h) into dst: what cast and the embedding lookup (rows_io.h) read.
void convert_packed_rows(const Tensor& t, int64_t r0, int64_t r1, void* dst, DType dst_dtype);

void gemm(const MatmulArgs& a);
// Several matmuls of one x (the same x, M and K, one weight dtype; their own w, bias, out and N): x converted
// once, every output tile of all of them in one parallel region. Each out is what gemm() gives for its part.
void gemm_group(const MatmulArgs* parts, int count);

}  // namespace cpu
}  // namespace gf

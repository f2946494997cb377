// The kernel tables of linear_kernels.h for this process's tier (native/core/cpu_isa.h decides it at load).
#include "cpu/linear_kernels.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/simd.h"

namespace gf {
namespace cpu {

void finish_activation_block(BlockQ8Act& out, DType wt, int xsum) {
  if (wt == DType::Q4_1) out.s = out.d * static_cast<float>(xsum);
  else out.offset = (wt == DType::Q4_0 ? -8 : -128) * xsum;
}

void finish_activation_block(BlockQ8Act& out, DType wt) {
  int xsum = 0;
  for (int e = 0; e < kQuantBlock; e++) xsum += out.qs[e];
  finish_activation_block(out, wt, xsum);
}

namespace {

// Where row o of a packed group (linear_kernels.h) keeps its bytes: copy(plain, packed, n) for every run of n
// bytes at `plain` in the row as written and at `packed` from the group's start.
template <class Copy>
void place_row(DType dtype, int64_t K, int group_rows, int64_t o, Copy copy) {
  const int64_t row_bytes = static_cast<int64_t>(dtype_bytes(dtype, K));
  if (!is_quantized(dtype)) {  // row pairs: 32-byte groups of columns interleaved, then the two tails
    const int64_t groups = row_bytes / 32, tail = row_bytes - groups * 32;
    for (int64_t c = 0; c < groups; c++) copy(c * 32, c * 64 + o * 32, 32);
    copy(groups * 32, groups * 64 + o * tail, tail);
    return;
  }
  // quantized blocks: `scales` f16 words (d, and m for Q4_1), then the quants as dwords
  const int64_t block = static_cast<int64_t>(dtype_bytes(dtype, kQuantBlock)), R = group_rows;
  const int64_t scales = dtype == DType::Q4_1 ? 2 : 1, dwords = (block - 2 * scales) / 4;
  for (int64_t b = 0; b < K / kQuantBlock; b++) {
    const int64_t plain = b * block, packed = b * R * block;
    for (int64_t j = 0; j < scales; j++) copy(plain + 2 * j, packed + j * 2 * R + 2 * o, 2);
    for (int64_t i = 0; i < dwords; i++) copy(plain + 2 * scales + 4 * i, packed + scales * 2 * R + i * 4 * R + 4 * o, 4);
  }
}

}  // namespace

void repack_linear(char* rows, int64_t N, DType dtype, int64_t K, int group_rows, bool to_packed) {
  const int64_t row_bytes = static_cast<int64_t>(dtype_bytes(dtype, K));
  std::vector<char> scratch(static_cast<size_t>(group_rows * row_bytes));  // one group as it was
  for (int64_t g = 0; g + group_rows <= N; g += group_rows) {
    char* group = rows + g * row_bytes;
    std::memcpy(scratch.data(), group, scratch.size());
    for (int64_t o = 0; o < group_rows; o++) {
      place_row(dtype, K, group_rows, o, [&](int64_t plain, int64_t packed, int64_t n) {
        if (to_packed) std::memcpy(group + packed, scratch.data() + o * row_bytes + plain, static_cast<size_t>(n));
        else std::memcpy(group + o * row_bytes + plain, scratch.data() + packed, static_cast<size_t>(n));
      });
    }
  }
}

void read_packed_row(const char* rows, int64_t row, DType dtype, int64_t K, int group_rows, char* dst) {
  const int64_t row_bytes = static_cast<int64_t>(dtype_bytes(dtype, K)), o = row % group_rows;
  const char* group = rows + (row - o) * row_bytes;
  place_row(dtype, K, group_rows, o, [&](int64_t plain, int64_t packed, int64_t n) {
    std::memcpy(dst + plain, group + packed, static_cast<size_t>(n));
  });
}

const FloatTiles& active_float_tiles(DType wt) {
#if defined(__x86_64__)
  if (use_avx512()) return avx512::float_tiles(wt);
  if (use_avx2()) return avx2::float_tiles(wt);
#elif defined(__aarch64__)
  if (use_neon()) return neon::float_tiles(wt);
#endif
  return portable::float_tiles(wt);
}

const Bf16Tiles& active_bf16_tiles() {
#if defined(__x86_64__)
  if (use_avx512()) return avx512::bf16_tiles(use_avx512_bf16());
  if (use_avx2()) return avx2::bf16_tiles();
#elif defined(__aarch64__)
  if (use_neon()) return neon::bf16_tiles();
#endif
  return portable::bf16_tiles();
}

const QuantTiles& active_quant_tiles(DType wt) {
#if defined(__x86_64__)
  if (use_avx512()) return avx512::quant_tiles(wt, use_vnni());
  if (use_avx2()) return avx2::quant_tiles(wt, use_vnni());
#elif defined(__aarch64__)
  if (use_neon()) return neon::quant_tiles(wt, use_dotprod());
#endif
  return portable::quant_tiles(wt);
}

QuantizeFn active_quantize() {
#if defined(__x86_64__)
  if (use_avx2()) return avx2::quantize_activations;
#endif
  return portable::quantize_activations;
}

RoundBf16Fn active_round_bf16() {
#if defined(__x86_64__)
  if (use_avx512() && use_avx512_bf16()) return avx512::round_activations_bf16;
  if (use_avx2()) return avx2::round_activations_bf16;
#endif
  return portable::round_activations_bf16;
}

}  // namespace cpu
}  // namespace gf

// The kernel tables of linear_kernels.h for this process's tier (native/core/cpu_isa.h decides it at load).
#include "cpu/linear_kernels.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/simd.h"

namespace gf {
namespace cpu {

void finish_activation_block(BlockQ8Act& out, DType wt) {
  int xsum = 0;
  for (int e = 0; e < kQuantBlock; e++) xsum += out.qs[e];
  if (wt == DType::Q4_1) out.s = out.d * static_cast<float>(xsum);
  else out.offset = (wt == DType::Q4_0 ? -8 : -128) * xsum;
}

namespace {

// The bytes of one group (group_rows rows of row_bytes) moved between the rows as written and the packed layout
// (linear_kernels.h), with the group copied to scratch first. place(copy): copy(plain, packed, n) for every
// run of n bytes at `plain` in the rows and `packed` in the layout.
template <class Place>
void repack_groups(char* rows, int64_t N, int64_t group_rows, int64_t row_bytes, bool to_packed, Place place) {
  std::vector<char> scratch(static_cast<size_t>(group_rows * row_bytes));
  for (int64_t g = 0; g + group_rows <= N; g += group_rows) {
    char* group = rows + g * row_bytes;
    std::memcpy(scratch.data(), group, scratch.size());
    place([&](int64_t plain, int64_t packed, int64_t n) {
      if (to_packed) std::memcpy(group + packed, scratch.data() + plain, static_cast<size_t>(n));
      else std::memcpy(group + plain, scratch.data() + packed, static_cast<size_t>(n));
    });
  }
}

}  // namespace

void repack_linear(char* rows, int64_t N, DType dtype, int64_t K, int group_rows, bool to_packed) {
  const int64_t row_bytes = static_cast<int64_t>(dtype_bytes(dtype, K));
  if (!is_quantized(dtype)) {  // row pairs
    const int64_t groups = row_bytes / 32, tail = row_bytes - groups * 32;
    repack_groups(rows, N, 2, row_bytes, to_packed, [&](auto copy) {
      for (int64_t r = 0; r < 2; r++) {
        for (int64_t c = 0; c < groups; c++) copy(r * row_bytes + c * 32, c * 64 + r * 32, 32);
        copy(r * row_bytes + groups * 32, groups * 64 + r * tail, tail);
      }
    });
    return;
  }
  // quantized blocks: `scales` f16 words (d, and m for Q4_1), then the quants, in both layouts
  const int64_t block = static_cast<int64_t>(dtype_bytes(dtype, kQuantBlock)), blocks = K / kQuantBlock;
  const int64_t scales = dtype == DType::Q4_1 ? 2 : 1, dwords = (block - 2 * scales) / 4, R = group_rows;
  repack_groups(rows, N, R, row_bytes, to_packed, [&](auto copy) {
    for (int64_t b = 0; b < blocks; b++) {
      const int64_t packed = b * R * block;
      for (int64_t o = 0; o < R; o++) {
        const int64_t plain = o * row_bytes + b * block;
        for (int64_t j = 0; j < scales; j++) copy(plain + 2 * j, packed + j * 2 * R + 2 * o, 2);
        for (int64_t i = 0; i < dwords; i++) copy(plain + 2 * scales + 4 * i, packed + scales * 2 * R + i * 4 * R + 4 * o, 4);
      }
    }
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
  if (use_avx2()) return avx2::round_activations_bf16;
#endif
  return portable::round_activations_bf16;
}

}  // namespace cpu
}  // namespace gf

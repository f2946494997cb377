// The kernel tables of linear_kernels.h for this process's tier (native/core/cpu_isa.h decides it at load).
#include "cpu/linear_kernels.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "cpu/simd.h"

namespace gf {
namespace cpu {

void finish_activation_block(BlockQ8Act& out, DType wt) {
  int xsum = 0;
  for (int e = 0; e < kQuantBlock; e++) xsum += out.qs[e];
  if (wt == DType::Q4_1) out.s = out.d * static_cast<float>(xsum);
  else out.offset = (wt == DType::Q4_0 ? -8 : -128) * xsum;
}

void repack_row_pairs(char* rows, int64_t N, int64_t row_bytes, char* scratch, bool to_pairs) {
  const int64_t groups = row_bytes / 32, tail = row_bytes - groups * 32;
  for (int64_t p = 0; p + 1 < N; p += 2) {
    char* pair = rows + p * row_bytes;
    std::memcpy(scratch, pair, static_cast<size_t>(2 * row_bytes));
    // the n bytes at `plain` of the two rows and at `packed` of the pair, copied one way or the other
    const auto move = [&](int64_t plain, int64_t packed, int64_t n) {
      if (to_pairs) std::memcpy(pair + packed, scratch + plain, static_cast<size_t>(n));
      else std::memcpy(pair + plain, scratch + packed, static_cast<size_t>(n));
    };
    for (int64_t r = 0; r < 2; r++) {
      for (int64_t g = 0; g < groups; g++) move(r * row_bytes + g * 32, g * 64 + r * 32, 32);
      move(r * row_bytes + groups * 32, groups * 64 + r * tail, tail);
    }
  }
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

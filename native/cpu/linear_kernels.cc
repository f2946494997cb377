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

void pack_row_pairs(char* rows, int64_t N, int64_t row_bytes, char* scratch) {
  const int64_t groups = row_bytes / 32, tail = row_bytes - groups * 32;
  for (int64_t p = 0; p + 1 < N; p += 2) {
    char* pair = rows + p * row_bytes;
    std::memcpy(scratch, pair, static_cast<size_t>(2 * row_bytes));
    char* o = pair;
    for (int64_t g = 0; g < groups; g++, o += 64) {
      std::memcpy(o, scratch + g * 32, 32);
      std::memcpy(o + 32, scratch + row_bytes + g * 32, 32);
    }
    std::memcpy(o, scratch + groups * 32, static_cast<size_t>(tail));
    std::memcpy(o + tail, scratch + row_bytes + groups * 32, static_cast<size_t>(tail));
  }
}

void unpack_row_pairs(char* rows, int64_t N, int64_t row_bytes, char* scratch) {
  const int64_t groups = row_bytes / 32, tail = row_bytes - groups * 32;
  for (int64_t p = 0; p + 1 < N; p += 2) {
    char* pair = rows + p * row_bytes;
    std::memcpy(scratch, pair, static_cast<size_t>(2 * row_bytes));
    const char* in = scratch;
    for (int64_t g = 0; g < groups; g++, in += 64) {
      std::memcpy(pair + g * 32, in, 32);
      std::memcpy(pair + row_bytes + g * 32, in + 32, 32);
    }
    std::memcpy(pair + groups * 32, in, static_cast<size_t>(tail));
    std::memcpy(pair + row_bytes + groups * 32, in + tail, static_cast<size_t>(tail));
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

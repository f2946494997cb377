// The reference block quantizers (quantize.h). Scalar on purpose: bit-exactness with ggml's reference is the
// point, and loading is bound by reading the file, not by this loop (tens of millions of values per second
// per core; the pool spreads a tensor's blocks over the cores).
#include "cpu/quantize.h"

#include <cmath>
#include <cstring>

#include "core/thread_pool.h"
#include "cpu/convert.h"
#include "gpuformer/error.h"

namespace gf {
namespace cpu {
namespace {

// The reference rounds x · id to f32 before adding 8.5 (or 0.5). Where the compiler may fuse a multiply and
// an add (FMA in the baseline instruction set: arm64, or x86 built with -mfma) the product goes through memory
// so that it is rounded on its own, as the C code reads.
#if defined(__FP_FAST_FMAF) || defined(__FP_FAST_FMA)
inline float rounded(float v) {
  volatile float r = v;
  return r;
}
#else
inline float rounded(float v) { return v; }
#endif

// (int8_t) v of the reference for the values it defines, clamped at MIN(15, ·); saturating where it is not.
inline uint8_t nibble(float v) {
  if (!(v > 0.0f)) return 0;  // NaN, and values in (−1, 0] that truncate to 0
  if (v >= 15.0f) return 15;
  return static_cast<uint8_t>(static_cast<int>(v));
}

inline int8_t q8(float v) {
  if (std::isnan(v)) return 0;
  const float r = std::roundf(v);  // half away from zero, as the reference's roundf
  return static_cast<int8_t>(r >= 127.0f ? 127 : r <= -127.0f ? -127 : r);
}

void q8_0_block(const float* x, BlockQ8_0* y) {
  float amax = 0.0f;
  for (int j = 0; j < kQuantBlock; j++) amax = std::fmax(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  y->d = f32_to_f16(d);
  for (int j = 0; j < kQuantBlock; j++) y->qs[j] = q8(x[j] * id);
}

void q4_0_block(const float* x, BlockQ4_0* y) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kQuantBlock; j++) {
    if (amax < std::fabs(x[j])) {  // strictly greater: the first of equal magnitudes wins
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  const float d = max / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  y->d = f32_to_f16(d);
  for (int j = 0; j < kQuantBlock / 2; j++) {
    const uint8_t lo = nibble(rounded(x[j] * id) + 8.5f);
    const uint8_t hi = nibble(rounded(x[j + kQuantBlock / 2] * id) + 8.5f);
    y->qs[j] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

void q4_1_block(const float* x, BlockQ4_1* y) {
  float min = x[0], max = x[0];  // the reference starts from ±FLT_MAX; for finite blocks the same
  for (int j = 1; j < kQuantBlock; j++) {
    if (x[j] < min) min = x[j];
    if (x[j] > max) max = x[j];
  }
  const float d = (max - min) / 15.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  y->d = f32_to_f16(d);
  y->m = f32_to_f16(min);
  for (int j = 0; j < kQuantBlock / 2; j++) {
    const uint8_t lo = nibble(rounded((x[j] - min) * id) + 0.5f);
    const uint8_t hi = nibble(rounded((x[j + kQuantBlock / 2] - min) * id) + 0.5f);
    y->qs[j] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

bool is_inf_half(uint16_t h) { return (h & 0x7c00) == 0x7c00; }

// What blocks cannot hold: a value that is not finite, or a scale / minimum past f16's range.
void check_block(const float* x, const void* block, DType t) {
  for (int j = 0; j < kQuantBlock; j++) {
    GF_CHECK_INPUT(std::isfinite(x[j]), "cannot quantize to ", dtype_name(t), ": a value is ", x[j],
                   " (blocks hold finite numbers only)");
  }
  uint16_t d = 0, m = 0;
  std::memcpy(&d, block, 2);
  if (t == DType::Q4_1) std::memcpy(&m, static_cast<const char*>(block) + 2, 2);
  if (!is_inf_half(d) && !is_inf_half(m)) return;
  float lo = x[0], hi = x[0];
  for (int j = 1; j < kQuantBlock; j++) {
    lo = std::fmin(lo, x[j]);
    hi = std::fmax(hi, x[j]);
  }
  fail(ErrorCode::Input, "cannot quantize to ", dtype_name(t), ": a block holds values from ", lo, " to ", hi,
       ", whose ", is_inf_half(d) ? "scale" : "minimum", " overflows f16 (largest 65504)");
}

}  // namespace

void quantize_row(const float* x, void* dst, DType dst_dtype, int64_t n) {
  const int64_t blocks = n / kQuantBlock;
  switch (dst_dtype) {
    case DType::Q8_0:
      for (int64_t b = 0; b < blocks; b++) q8_0_block(x + b * kQuantBlock, static_cast<BlockQ8_0*>(dst) + b);
      return;
    case DType::Q4_0:
      for (int64_t b = 0; b < blocks; b++) q4_0_block(x + b * kQuantBlock, static_cast<BlockQ4_0*>(dst) + b);
      return;
    case DType::Q4_1:
      for (int64_t b = 0; b < blocks; b++) q4_1_block(x + b * kQuantBlock, static_cast<BlockQ4_1*>(dst) + b);
      return;
    default:
      fail(ErrorCode::Unsupported, "quantize: ", dtype_name(dst_dtype), " is not a block format");
  }
}

void quantize(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t n) {
  GF_CHECK(is_float(src_dtype) && is_quantized(dst_dtype), Unsupported, "quantize: cannot quantize ",
           dtype_name(src_dtype), " to ", dtype_name(dst_dtype));
  GF_CHECK_INPUT(n % kQuantBlock == 0, "quantize: ", n, " elements are not whole 32-element blocks");
  constexpr int64_t kBlocksPerBuffer = 32;     // f32 staging of one inner step: 4 kB on the stack
  constexpr int64_t kBlocksPerTask = 1 << 12;  // 128 Ki elements per pool task
  const int64_t blocks = n / kQuantBlock;
  parallel_for((blocks + kBlocksPerTask - 1) / kBlocksPerTask, 1, [&](int64_t begin, int64_t end) {
    float buf[kBlocksPerBuffer * kQuantBlock];
    const int64_t last = std::min(blocks, end * kBlocksPerTask);
    for (int64_t b = begin * kBlocksPerTask; b < last; b += kBlocksPerBuffer) {
      const int64_t nb = std::min(kBlocksPerBuffer, last - b);
      to_f32(element_ptr(src, src_dtype, b * kQuantBlock), src_dtype, buf, nb * kQuantBlock);
      char* out = static_cast<char*>(dst) + dtype_bytes(dst_dtype, b * kQuantBlock);
      quantize_row(buf, out, dst_dtype, nb * kQuantBlock);
      for (int64_t i = 0; i < nb; i++) check_block(buf + i * kQuantBlock, out + i * dtype_unit_bytes(dst_dtype), dst_dtype);
    }
  });
}

}  // namespace cpu
}  // namespace gf

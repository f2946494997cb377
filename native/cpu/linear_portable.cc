// The portable kernels of linear_kernels.h: the reference every tier matches bit for bit. Eight lanes are
// eight floats, every fused multiply-add is std::fma (the FMA instruction where the CPU has one, through
// glibc), and the integer dot products are written out from the contract.
#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "cpu/linear_kernels.h"

namespace gf {
namespace cpu {
namespace portable {

void quantize_activations(const float* x, BlockQ8Act* out, int64_t K, DType wt) {
  for (int64_t b = 0; b < K / kQuantBlock; b++, x += kQuantBlock) {
    float amax = 0;
    for (int j = 0; j < kQuantBlock; j++) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
    for (int j = 0; j < kQuantBlock; j++) out[b].qs[j] = static_cast<int8_t>(std::nearbyint(x[j] * id));
    out[b].d = d;
    finish_activation_block(out[b], wt);
  }
}

namespace {

template <DType WT> struct WeightBlock;
template <> struct WeightBlock<DType::Q8_0> { using type = BlockQ8_0; };
template <> struct WeightBlock<DType::Q4_0> { using type = BlockQ4_0; };
template <> struct WeightBlock<DType::Q4_1> { using type = BlockQ4_1; };

struct V {
  static constexpr int kOut = 1;
  static constexpr bool kFinishRow = false;  // rows end output by output (sum_lanes)
  struct F { float v[8]; };
  struct I { int32_t v[8]; };

  static F splat(float s) {
    F f;
    std::fill(f.v, f.v + 8, s);
    return f;
  }
  static F zero() { return splat(0.0f); }
  static F mul(const F& a, const F& b) {
    F f;
    for (int j = 0; j < 8; j++) f.v[j] = a.v[j] * b.v[j];
    return f;
  }
  static F fma(const F& a, const F& b, const F& c) {
    F f;
    for (int j = 0; j < 8; j++) f.v[j] = std::fma(a.v[j], b.v[j], c.v[j]);
    return f;
  }
  static void sum_lanes(const F& l, float (&out)[kOut]) {
    const float* v = l.v;
    out[0] = ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
  }

  // ---- float weights
  static F load_x8(const float* x) {
    F f;
    std::copy(x, x + 8, f.v);
    return f;
  }
  template <DType WT>
  static F load_w8(const char* const* rows, int64_t k) {
    F f;
    for (int j = 0; j < 8; j++) f.v[j] = weight_f32<WT>(rows[0], k + j);
    return f;
  }

  // ---- bf16 weights: the contract's D steps and T(L) with every result flushed explicitly
  static float flush(float v) { return std::fabs(v) < std::numeric_limits<float>::min() ? std::copysign(0.0f, v) : v; }
  struct Bf16X { float v[16]; };
  using Bf16W = Bf16X;
  static Bf16X load_x16_bf16(const uint16_t* x) {
    Bf16X f;
    for (int e = 0; e < 16; e++) f.v[e] = flush(bf16_to_f32(x[e]));
    return f;
  }
  static Bf16W load_w16_bf16(const char* const* rows, int64_t k) {
    Bf16W f;
    for (int e = 0; e < 16; e++) f.v[e] = flush(weight_f32<DType::BF16>(rows[0], k + e));
    return f;
  }
  static F dot_bf16(const F& acc, const Bf16W& w, const Bf16X& x) {
    F f;
    for (int j = 0; j < 8; j++) {
      const float odd = flush(std::fma(x.v[2 * j + 1], w.v[2 * j + 1], acc.v[j]));
      f.v[j] = flush(std::fma(x.v[2 * j], w.v[2 * j], odd));
    }
    return f;
  }
  static void sum_lanes_flushed(const F& l, float (&out)[kOut]) {
    const float* v = l.v;
    const auto add = [](float a, float b) { return flush(a + b); };
    out[0] = add(add(add(v[0], v[1]), add(v[2], v[3])), add(add(v[4], v[5]), add(v[6], v[7])));
  }

  // ---- quantized weights: the block's integers wq in element order (Q8_0: q; Q4_0: q − 8; Q4_1: q)
  template <DType WT>
  struct QW {
    int wq[32];
    F d, m;
  };
  template <DType WT>
  static QW<WT> load_qw(const char* const* rows, int64_t b) {
    QW<WT> w;
    const auto& blk = reinterpret_cast<const typename WeightBlock<WT>::type*>(rows[0])[b];
    if constexpr (WT == DType::Q8_0) {
      for (int e = 0; e < 32; e++) w.wq[e] = blk.qs[e];
    } else {
      const int offset = WT == DType::Q4_0 ? 8 : 0;
      for (int e = 0; e < 16; e++) {
        w.wq[e] = (blk.qs[e] & 0x0f) - offset;
        w.wq[e + 16] = (blk.qs[e] >> 4) - offset;
      }
    }
    w.d = splat(f16_to_f32(blk.d));
    if constexpr (WT == DType::Q4_1) w.m = splat(f16_to_f32(blk.m));
    return w;
  }

  template <DType WT>
  struct QX {
    const int8_t* q;
    F d, s;
  };
  template <DType WT>
  static QX<WT> load_qx(const BlockQ8Act& xb) {
    QX<WT> x{xb.qs, splat(xb.d), {}};
    if constexpr (WT == DType::Q4_1) std::copy(xb.s, xb.s + 8, x.s.v);
    return x;
  }

  template <DType WT>
  static I dot(const QW<WT>& w, const QX<WT>& x) {
    I s;
    for (int j = 0; j < 8; j++) {
      s.v[j] = 0;
      for (int e = 4 * j; e < 4 * j + 4; e++) s.v[j] += w.wq[e] * x.q[e];
    }
    return s;
  }
  static F to_float(const I& i) {
    F f;
    for (int j = 0; j < 8; j++) f.v[j] = static_cast<float>(i.v[j]);
    return f;
  }
};

#include "cpu/linear_tile.inc"

}  // namespace

const FloatTiles& float_tiles(DType wt) { return float_table<2, 2>(wt); }
const Bf16Tiles& bf16_tiles() { return bf16_table<2, 2>(); }
const QuantTiles& quant_tiles(DType wt) { return quant_table<2, 2>(wt); }

}  // namespace portable
}  // namespace cpu
}  // namespace gf

// The portable kernels of linear_kernels.h: the reference every tier matches bit for bit. Eight lanes are
// eight floats (a quantized tile's eight outputs too), every fused multiply-add is std::fma (the FMA instruction where the CPU has one, through
// glibc), and the integer dot products are written out from the contract.
#include <algorithm>
#include <cmath>
#include <cstddef>
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

void round_activations_bf16(const float* x, uint16_t* out, int64_t K) {
  for (int64_t k = 0; k < K; k++) {
    const float v = std::fabs(x[k]) < std::numeric_limits<float>::min() ? std::copysign(0.0f, x[k]) : x[k];
    out[k] = f32_to_bf16(v);
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

  // ---- quantized weights: kQOut outputs' accumulators as floats, each block's integers wq in element order
  // (Q8_0: q; Q4_0: q − 8; Q4_1: q)
  static constexpr int kQOut = 8;
  struct QF { float v[kQOut]; };
  struct QI { int32_t v[kQOut]; };
  static QF qsplat(float s) {
    QF f;
    std::fill(f.v, f.v + kQOut, s);
    return f;
  }
  static QF qzero() { return qsplat(0.0f); }
  static QF qmul(const QF& a, const QF& b) {
    QF f;
    for (int o = 0; o < kQOut; o++) f.v[o] = a.v[o] * b.v[o];
    return f;
  }
  static QF qfma(const QF& a, const QF& b, const QF& c) {
    QF f;
    for (int o = 0; o < kQOut; o++) f.v[o] = std::fma(a.v[o], b.v[o], c.v[o]);
    return f;
  }
  static QF qto_float(const QI& i) {
    QF f;
    for (int o = 0; o < kQOut; o++) f.v[o] = static_cast<float>(i.v[o]);
    return f;
  }
  struct QRows { const char* row[kQOut]; };
  static QRows qrows(const char* w, int64_t ldw, int C) {
    QRows r;
    for (int o = 0; o < kQOut; o++) r.row[o] = w + std::min(o, C - 1) * ldw;
    return r;
  }
  template <DType WT>
  struct QB {
    int wq[kQOut][32];
    QF d, m;
  };
  template <DType WT>
  static QB<WT> load_qblock(const QRows& rows, int64_t b) {
    QB<WT> w;
    for (int o = 0; o < kQOut; o++) {
      const auto& blk = reinterpret_cast<const typename WeightBlock<WT>::type*>(rows.row[o])[b];
      if constexpr (WT == DType::Q8_0) {
        for (int e = 0; e < 32; e++) w.wq[o][e] = blk.qs[e];
      } else {
        const int offset = WT == DType::Q4_0 ? 8 : 0;
        for (int e = 0; e < 16; e++) {
          w.wq[o][e] = (blk.qs[e] & 0x0f) - offset;
          w.wq[o][e + 16] = (blk.qs[e] >> 4) - offset;
        }
      }
      w.d.v[o] = f16_to_f32(blk.d);
      if constexpr (WT == DType::Q4_1) w.m.v[o] = f16_to_f32(blk.m);
    }
    return w;
  }
  template <DType WT>
  static QI isum(const QB<WT>& w, const BlockQ8Act& x) {
    QI s;
    for (int o = 0; o < kQOut; o++) {
      s.v[o] = 0;
      for (int e = 0; e < 32; e++) s.v[o] += w.wq[o][e] * x.qs[e];
    }
    return s;
  }
  static void qstore(const QF& l, int C, const float* bias, float* out) {
    for (int c = 0; c < C; c++) out[c] = bias ? l.v[c] + bias[c] : l.v[c];
  }
};

#include "cpu/linear_tile.inc"

}  // namespace

const FloatTiles& float_tiles(DType wt) { return float_table<2, 2>(wt); }
const Bf16Tiles& bf16_tiles() { return bf16_table<2, 2>(); }
const QuantTiles& quant_tiles(DType wt) { return quant_table<2>(wt); }

}  // namespace portable
}  // namespace cpu
}  // namespace gf

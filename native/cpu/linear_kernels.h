// The kernels behind cpu::linear (out [M,N] = x [M,K] · w [N,K]ᵀ + bias), one table per CPU tier, and the
// arithmetic every implementation must reproduce bit for bit. A new tier adds a table here and meets the same
// contract; test/ops/linear.test.ts checks it on every tier the machine has (the Arm tiers, under emulation:
// test/ops/small-shapes.test.ts and scripts/test-arm64.sh).
//
// ---------------------------------------------------------------------------------------------------------
// THE CONTRACT: batch invariance. Row m of out depends only on row m of x, w and the bias: never on M, on
// the other rows, on how the work is cut into tiles or threads, or on the tier (portable, avx2, avx512, neon).
// Every output is one fixed sequence of IEEE f32 operations on eight lanes L[0..7]:
//
//   T(L) = ((L0 + L1) + (L2 + L3)) + ((L4 + L5) + (L6 + L7))          the lanes' sum, always in this order
//
// Float weights (f32, f16; f16 converts to f32 exactly). K8 = K rounded down to a multiple of 8:
//     L[j] = +0;  for k = j, j + 8, … < K8 in order:  L[j] = fma(x[m][k], w[n][k], L[j])
//     s = T(L);   for k = K8 … K − 1 in order:        s = fma(x[m][k], w[n][k], s)
//     out[m][n] = s + bias[n]   (s alone without a bias)
//
// BF16 weights meet bf16 activations, as bf16 models compute (PyTorch, llama.cpp) and as AVX512-BF16's
// vdpbf16ps multiplies: x is rounded per element to bf16 (round_activations_bf16: nearest even; values below
// the smallest normal f32 become zeros of their sign), and every f32 operation below flushes as vdpbf16ps
// does: D(a, b, c) = flush(fma(flush(a), flush(b), c)) and A(a, b) = flush(flush(a) + flush(b)), flush(v) =
// v, or a zero of v's sign when |v| < FLT_MIN. K16 = K rounded down to a multiple of 16:
//     L[j] = +0;  for s = 0, 16, … < K16 in order:  L[j] = D(x[s+2j+1], w[s+2j+1], L[j]);  L[j] = D(x[s+2j], w[s+2j], L[j])
//     s = T(L) with A for every +;  for k = K16 … K − 1 in order:  s = D(x[k], w[k], s)
//     out[m][n] = A(s, bias[n])   (s alone without a bias)
//   (vdpbf16ps on lane j of one output's 16 bf16 pairs is exactly the two D steps; the other tiers run FMAs
//   with MXCSR's flush-to-zero and denormals-are-zero set, the portable and NEON ones flush explicitly:
//   AArch64's FPCR.FZ decides tininess before rounding, where flush looks at the rounded result.)
//
// Quantized weights (Q8_0, Q4_0, Q4_1): x is quantized per row to 8-bit blocks of 32 (quantize_activations,
// identical on every tier): d_x = max|x_block| / 127, q_x = nearbyint(x · (1 / d_x)) (ties to even).
// The weight block's integers are wq = q (Q8_0), q − 8 (Q4_0), the unsigned nibble q (Q4_1); its scales
// d_w (and m_w for Q4_1) are f16 read as f32. Each output has one f32 accumulator (no lanes: a block's
// integer dot is exact, so it is summed whole): L = +0, then for each block b = 0 … K/32 − 1 in order:
//         isum = Σ_{e = 0 … 31} wq[e] · q_x[e]                          (exact, in int32)
//         L = fma(d_w · d_x, (float) isum, L)                          (d_w · d_x rounded to f32 first)
//         Q4_1 only:  L = fma(m_w, s, L),  s = d_x · (float) Σ_{e = 0 … 31} q_x[e]  (f32)
//     out[m][n] = L + bias[n]   (L alone without a bias)
//   Element e of a block is its e-th weight in GGUF order (Q4: byte i holds element i in its low nibble
//   and element i + 16 in its high one). The integer dot may be computed any exact way and in any order
//   (vpdpbusd, maddubs + madd, offsets folded in, SDOT, smull + pairwise adds). With one accumulator per
//   output, a SIMD tier holds one output per lane: it transposes a block of kQOut weight rows once and
//   meets every activation row of the tile with whole-vector integer dots, instead of reducing lanes per
//   output (an earlier form of this contract kept eight lanes per output, which cost five vector
//   operations per output, block and row).
//
// The float lanes are the same numbers however they are held: AVX2 keeps one output's lanes in a ymm,
// AVX-512 two outputs' in a zmm, portable code eight floats (with std::fma), NEON two q registers; a
// quantized output's accumulator is one lane of a vector of outputs. So all tiers agree exactly, and a
// kernel may tile M and N any way it likes without changing a bit.
// ---------------------------------------------------------------------------------------------------------
#pragma once
#include <cstdint>

#include "gpuformer/dtype.h"

namespace gf {
namespace cpu {

// Element k of a row of float weights (f32, f16 or bf16), as f32 (exact).
template <DType WT>
inline float weight_f32(const void* row, int64_t k) {
  if constexpr (WT == DType::F16) return f16_to_f32(static_cast<const uint16_t*>(row)[k]);
  if constexpr (WT == DType::BF16) return bf16_to_f32(static_cast<const uint16_t*>(row)[k]);
  return static_cast<const float*>(row)[k];
}

// 32 activations as x ≈ d · qs (qs in [-127, 127]), and what the weight type needs from their sum
// xsum = Σ_e qs[e], computed once per activation block rather than once per weight row:
//   Q4_1: s = d · (float) xsum (f32)     Q4_0: offset = −8 · xsum     Q8_0: offset = −128 · xsum
// (the offsets fold the weights' −8, or a kernel's +128 bias on its unsigned operand, into isum).
struct BlockQ8Act {
  float d;
  int8_t qs[32];
  union {
    float s;
    int32_t offset;
  };
};

// One tile: out[r * ldo + c] for r < R activation rows and c < C weight rows, by the contract above (bias[c]
// added when bias is not null). w: the first weight row, rows ldw bytes apart (a packed table's tiles: the first
// group, groups ldw bytes apart; TileTable::group_rows);
// x: the first activation row, rows ldx elements apart (floats, or quantized blocks for quantized weights).
// K is in weight elements. next: null, or the first of C weight rows (ldw apart) to prefetch into L2 while
// this tile computes — the driver passes a later tile's, for weights that stream from DRAM or L3 (decode, a
// short input): the hardware prefetcher alone falls behind on C interleaved row streams.
template <typename X>
using TileFn = void (*)(const void* w, int64_t ldw, const X* x, int64_t ldx, int64_t K, const float* bias, float* out,
                        int64_t ldo, const void* next);

constexpr int kMaxTileR = 8, kMaxTileC = 16;

template <typename X>
struct TileTable {
  int r = 0, c = 0;                                      // the full tile (smaller ones serve the edges)
  TileFn<X> tile[kMaxTileR + 1][kMaxTileC + 1] = {};   // tile[R][C], 1 ≤ R ≤ r, 1 ≤ C ≤ c
  // Rows behind each pointer a tile is given: 1 for weights read in place (w: a tile's first row, ldw: the
  // row stride); in a packed table, the rows of one packed group (w: the tile's first group, ldw: the group
  // stride, group_rows times a row's bytes).
  int group_rows = 1;
  // null, or the same tiles on weights packed for them (repack_linear): the layout this tier reads faster
  const TileTable* packed = nullptr;
};

// Packed layouts for a tier's packed tiles (TileTable::packed): weight rows [N, K] of dtype, N a multiple of
// group_rows, moved in place to the packed layout (to_packed) or back. Each group of group_rows rows keeps its
// group_rows · row_bytes at the same place (so a row's offset still finds its group), laid out as:
//   f32 / bf16, group_rows 2 (row pairs): each 32-byte group of columns of the first row followed by the same
//     group of the second (eight f32 or sixteen bf16 columns: one step of the float or bf16 tiles), then the
//     first row's last row_bytes % 32 bytes, then the second's;
//   Q8_0 / Q4_0 / Q4_1, group_rows 16: block by block, the sixteen rows' block b as their sixteen d (f16),
//     for Q4_1 then their sixteen m, then the quants as dword vectors: vector i holds dword i of each row's qs
//     (row o at bytes 4o..4o + 3; Q4: 4 vectors, Q8_0: 8), so a block loads as whole vectors, transposed.
void repack_linear(char* rows, int64_t N, DType dtype, int64_t K, int group_rows, bool to_packed);
// Row `row` of packed weight rows (rows: the first row's place) as it was written: row_bytes bytes into dst.
void read_packed_row(const char* rows, int64_t row, DType dtype, int64_t K, int group_rows, char* dst);

using FloatTiles = TileTable<float>;     // f32, f16 weights
using Bf16Tiles = TileTable<uint16_t>;    // bf16 weights (activations rounded to bf16)
using QuantTiles = TileTable<BlockQ8Act>;  // Q8_0, Q4_0, Q4_1 weights

// x [K] (K a multiple of 32) → K / 32 blocks for weights of type wt, identically on every tier.
using QuantizeFn = void (*)(const float* x, BlockQ8Act* out, int64_t K, DType wt);

// x [K] → bf16 [K] by the contract's rounding (nearest even, zeros for values below FLT_MIN, NaN stays NaN),
// identically on every tier.
using RoundBf16Fn = void (*)(const float* x, uint16_t* out, int64_t K);

// Fills out.s / out.offset for weight type wt from out.d and out.qs (shared by every tier: an integer sum
// and one f32 multiply).
void finish_activation_block(BlockQ8Act& out, DType wt);
// The same with xsum = Σ_e out.qs[e] already summed (a SIMD tier has the quants in registers).
void finish_activation_block(BlockQ8Act& out, DType wt, int xsum);

// ---- the tables, per tier (each in its own file); wt is any float or quantized weight dtype
namespace portable {
const FloatTiles& float_tiles(DType wt);
const Bf16Tiles& bf16_tiles();
const QuantTiles& quant_tiles(DType wt);
void quantize_activations(const float* x, BlockQ8Act* out, int64_t K, DType wt);
void round_activations_bf16(const float* x, uint16_t* out, int64_t K);
}  // namespace portable
#if defined(__x86_64__)
namespace avx2 {
const FloatTiles& float_tiles(DType wt);
const Bf16Tiles& bf16_tiles();
const QuantTiles& quant_tiles(DType wt, bool vnni);
void quantize_activations(const float* x, BlockQ8Act* out, int64_t K, DType wt);
void round_activations_bf16(const float* x, uint16_t* out, int64_t K);
}  // namespace avx2
namespace avx512 {
const FloatTiles& float_tiles(DType wt);
const Bf16Tiles& bf16_tiles(bool dot);  // dot: vdpbf16ps (AVX512-BF16), else FMAs under MXCSR's flush
const QuantTiles& quant_tiles(DType wt, bool vnni);
void round_activations_bf16(const float* x, uint16_t* out, int64_t K);  // AVX512-BF16's vcvtneps2bf16
}  // namespace avx512
#endif
#if defined(__aarch64__)
namespace neon {
const FloatTiles& float_tiles(DType wt);
const Bf16Tiles& bf16_tiles();
const QuantTiles& quant_tiles(DType wt, bool dotprod);
}  // namespace neon
#endif

// The tables for this process's tier (native/core/cpu_isa.h decides it at load).
const FloatTiles& active_float_tiles(DType wt);
const Bf16Tiles& active_bf16_tiles();
const QuantTiles& active_quant_tiles(DType wt);
QuantizeFn active_quantize();
RoundBf16Fn active_round_bf16();

}  // namespace cpu
}  // namespace gf

// Checks native/cuda/attention_tiles.h, the index arithmetic of the prefill attention kernels, on the host:
//   - key tiles and masks against a brute-force loop over every (query, key) pair;
//   - the pages a paged key tile loads;
//   - the wgmma shared-memory descriptors the Hopper kernel builds, decoded by the PTX ISA's bit layout and
//     read through its canonical layouts ("Shared Memory Matrix Layout": K-major and MN-major, 128-byte
//     swizzle), land on the element the TMA wrote there for every (row, k) of every k-step;
//   - the wgmma accumulator and A-register layouts, as the PTX ISA's fragment figures give them;
//   - the epilogue's staging of the output through the swizzled Q tile: one place per element, and no
//     shared-memory bank conflict among the 32 stores of a warp.
// The layout definitions below are written from the PTX ISA independently of the header, so a slip in
// either shows. Built and run by attention-tiles.test.ts; prints "ok" and exits 0 when everything holds.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <vector>

#include "cuda/attention_tiles.h"

namespace t = gf::cuda::tiles;

static int failures = 0;
#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (!(cond)) {                                         \
      if (failures++ < 20) {                               \
        std::fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond); \
        std::fprintf(stderr, __VA_ARGS__);                 \
        std::fprintf(stderr, "\n");                        \
      }                                                    \
    }                                                      \
  } while (0)

// ------------------------------------------------------------------------------ tiles and masks
static bool visible_plain(int qpos, int key, int kv_len, bool causal, int window_left) {
  if (key < 0 || key >= kv_len) return false;
  if (causal && key > qpos) return false;
  if (window_left >= 0 && key < qpos - window_left) return false;
  return true;
}

static void check_tiles() {
  const int lens[] = {1, 2, 7, 63, 64, 65, 127, 128, 129, 300, 513};
  const int windows[] = {-1, 0, 1, 5, 63, 64, 200};
  const int blocks_m[] = {64, 128};
  const int blocks_n[] = {32, 64, 128};
  for (int kv_len : lens) {
    for (int n_q : {1, 3, kv_len / 2 + 1, kv_len}) {
      if (n_q > kv_len || n_q < 1) continue;
      for (bool causal : {true, false}) {
        for (int window : windows) {
          for (int bm : blocks_m) {
            for (int bn : blocks_n) {
              t::Mask m;
              m.kv_len = kv_len;
              m.causal = causal;
              m.window_left = window;
              const int q_offset = kv_len - n_q;
              for (int q0 = 0; q0 < n_q; q0 += bm) {
                const int q_last = (q0 + bm < n_q ? q0 + bm : n_q) - 1;
                const int qpos_first = q_offset + q0, qpos_last = q_offset + q_last;
                const t::KeyTiles kt = t::key_tiles(m, qpos_first, qpos_last, bn);
                CHECK(kt.first_key % bn == 0, "first key %d", kt.first_key);
                const int lo = kt.first_key, hi = kt.first_key + kt.count * bn;
                std::vector<bool> tile_used(kt.count > 0 ? kt.count : 1, false);
                for (int qp = qpos_first; qp <= qpos_last; qp++) {
                  int vlo, vhi;
                  t::visible_keys(m, qp, &vlo, &vhi);
                  for (int key = 0; key < kv_len + bn; key++) {
                    const bool vis = visible_plain(qp, key, kv_len, causal, window);
                    CHECK(t::key_visible(m, qp, key) == vis, "key_visible qpos %d key %d", qp, key);
                    CHECK((key >= vlo && key < vhi) == vis, "visible_keys qpos %d key %d", qp, key);
                    if (vis) {
                      CHECK(key >= lo && key < hi, "kv %d nq %d causal %d win %d bm %d bn %d: visible key %d of qpos %d "
                            "outside tiles [%d, %d)", kv_len, n_q, causal, window, bm, bn, key, qp, lo, hi);
                      if (key >= lo && key < hi) tile_used[(key - lo) / bn] = true;
                    }
                  }
                }
                for (int i = 0; i < kt.count; i++) {
                  // no tile is visited for nothing, and a tile without a mask has every pair visible
                  CHECK(tile_used[i], "kv %d nq %d causal %d win %d bm %d bn %d: tile %d of %d has no visible key",
                        kv_len, n_q, causal, window, bm, bn, i, kt.count);
                  const int key0 = lo + i * bn;
                  if (!t::tile_needs_mask(m, qpos_first, qpos_last, key0, bn)) {
                    for (int qp = qpos_first; qp <= qpos_last; qp++) {
                      for (int key = key0; key < key0 + bn; key++) {
                        CHECK(visible_plain(qp, key, kv_len, causal, window),
                              "unmasked tile at key %d: qpos %d does not see key %d", key0, qp, key);
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

static void check_pages() {
  for (int bs : {8, 16, 32, 64, 128}) {
    for (int kv_len = 1; kv_len < 700; kv_len += 13) {
      for (int key0 = 0; key0 < kv_len; key0 += 128) {
        int want = 0;
        for (int p = 0; p < 128 / bs; p++) want += key0 + p * bs < kv_len;
        CHECK(t::pages_to_load(key0, 128, bs, kv_len) == want, "bs %d kv %d key0 %d", bs, kv_len, key0);
      }
    }
  }
}

// ---------------------------------------------------------------------- shared memory, from the PTX ISA
// 128-byte swizzle: the 16-byte unit index (address bits 4-6) XOR the 128-byte row index within the
// 1024-byte pattern (address bits 7-9).
static uint32_t swizzled(uint32_t addr) {
  const uint32_t unit = (addr / 16) % 8, row = (addr / 128) % 8;
  return addr - unit * 16 + ((unit ^ row) * 16);
}

// Where the TMA puts element (row, col) of a tile of `rows` rows loaded as 64-column boxes (box c at
// tile + c·rows·128, each box row 128 bytes, CU_TENSOR_MAP_SWIZZLE_128B).
static uint32_t tma_addr(uint32_t tile, int rows, int row, int col) {
  const uint32_t box = tile + uint32_t(col / 64) * rows * 128;
  return swizzled(box + uint32_t(row) * 128 + uint32_t(col % 64) * 2);
}

struct Desc {
  uint32_t start, lbo, sbo, base_offset, layout;
};
static Desc decode(uint64_t d) {
  Desc r;
  r.start = uint32_t(d & 0x3FFF) << 4;
  r.lbo = uint32_t((d >> 16) & 0x3FFF) << 4;
  r.sbo = uint32_t((d >> 32) & 0x3FFF) << 4;
  r.base_offset = uint32_t((d >> 49) & 7);
  r.layout = uint32_t(d >> 62);
  return r;
}

// Canonical layouts for 16-bit elements with 128-byte swizzle (in bytes, before the swizzle), for one
// wgmma k16 operand: K-major ((8,m),(8,2)) : ((128, SBO), (2, 16)); MN-major ((64,n),(8,2)) : ((2, LBO), (128, SBO)).
static uint32_t read_k_major(const Desc& d, int mn, int k) {
  return swizzled(d.start + uint32_t(mn % 8) * 128 + uint32_t(mn / 8) * d.sbo + uint32_t(k % 8) * 2 + uint32_t(k / 8) * 16);
}
static uint32_t read_mn_major(const Desc& d, int mn, int k) {
  return swizzled(d.start + uint32_t(mn % 64) * 2 + uint32_t(mn / 64) * d.lbo + uint32_t(k % 8) * 128 + uint32_t(k / 8) * d.sbo);
}

static void check_descriptors() {
  const uint32_t base = 3 * 1024;  // any 1024-byte boundary of the shared window
  for (int D : {64, 128}) {
    const int block_m = 128, block_n = 128;
    const uint32_t q = base, k = q + block_m * D * 2, v = k + 3 * block_n * D * 2;
    // Q as A of S = Q·Kᵀ: warpgroup wg's 64 rows, k-step ks over the head dim
    for (int wg = 0; wg < 2; wg++) {
      for (int ks = 0; ks < D / 16; ks++) {
        const Desc d = decode(t::desc_k_major(q, block_m, 64 * wg, ks));
        CHECK(d.layout == 1 && d.base_offset == 0 && d.start % 16 == 0, "Q descriptor fields");
        for (int m = 0; m < 64; m++) {
          for (int kk = 0; kk < 16; kk++) {
            CHECK(read_k_major(d, m, kk) == tma_addr(q, block_m, 64 * wg + m, 16 * ks + kk),
                  "D %d Q wg %d ks %d: A(%d, %d)", D, wg, ks, m, kk);
          }
        }
      }
    }
    // K as B of S: n = key, k = head dim
    for (int ks = 0; ks < D / 16; ks++) {
      const Desc d = decode(t::desc_k_major(k, block_n, 0, ks));
      CHECK(d.layout == 1 && d.base_offset == 0, "K descriptor fields");
      for (int n = 0; n < block_n; n++) {
        for (int kk = 0; kk < 16; kk++) {
          CHECK(read_k_major(d, n, kk) == tma_addr(k, block_n, n, 16 * ks + kk), "D %d K ks %d: B(%d, %d)", D, ks, n, kk);
        }
      }
    }
    // V as B of O = P·V: k = key (16 per k-step), n = head dim
    for (int kk = 0; kk < block_n / 16; kk++) {
      const Desc d = decode(t::desc_mn_major(v, block_n, kk));
      CHECK(d.layout == 1 && d.base_offset == 0, "V descriptor fields");
      for (int n = 0; n < D; n++) {
        for (int key = 0; key < 16; key++) {
          CHECK(read_mn_major(d, n, key) == tma_addr(v, block_n, 16 * kk + key, n), "D %d V kk %d: B(%d, %d)", D, kk, key, n);
        }
      }
    }
    // the header's own address function is the TMA's
    for (int row = 0; row < block_m; row++) {
      for (int col = 0; col < D; col++) {
        CHECK(base + t::swizzle128(t::tile_offset(block_m, row, col)) == tma_addr(base, block_m, row, col),
              "tile_offset/swizzle128 (%d, %d)", row, col);
      }
    }
  }
}

// --------------------------------------------------------------------------------- register layouts
static void check_fragments() {
  for (int N : {64, 128}) {
    // accumulator of m64nNk16 (PTX ISA figure "WGMMA .m64nNk16 register fragment layout for accumulator
    // matrix D"): a bijection of (warp, lane, element) onto the 64 × N tile
    std::set<std::pair<int, int>> seen;
    for (int w = 0; w < 4; w++) {
      for (int lane = 0; lane < 32; lane++) {
        for (int e = 0; e < N / 2; e++) {
          const int row = 16 * w + lane / 4 + 8 * ((e % 4) / 2), col = 8 * (e / 4) + 2 * (lane % 4) + e % 2;
          CHECK(t::acc_row(w, lane, e) == row && t::acc_col(lane, e) == col, "acc N %d w %d lane %d e %d", N, w, lane, e);
          seen.insert({row, col});
        }
      }
    }
    CHECK(int(seen.size()) == 64 * N, "accumulator covers %zu of %d elements", seen.size(), 64 * N);
  }
  // A in registers (16-bit; figure "WGMMA .m64nNk16 register fragment layout for matrix A"): register r of
  // lane l holds row 16w + l/4 + 8(r%2), columns 8(r/2) + 2(l%4) and +1. P·V's k-step kk must find there the
  // accumulator element of S at (that row, 16kk + that column).
  for (int w = 0; w < 4; w++) {
    for (int lane = 0; lane < 32; lane++) {
      for (int kk = 0; kk < 8; kk++) {
        for (int r = 0; r < 4; r++) {
          for (int half = 0; half < 2; half++) {
            const int row = 16 * w + lane / 4 + 8 * (r % 2), col = 8 * (r / 2) + 2 * (lane % 4) + half;
            const int e = t::p_frag_index(kk, r) + half;
            CHECK(t::acc_row(w, lane, e) == row && t::acc_col(lane, e) == 16 * kk + col,
                  "P fragment w %d lane %d kk %d r %d", w, lane, kk, r);
          }
        }
      }
    }
  }
  // The epilogue stages (row, col) pairs through the swizzled Q tile: distinct places, and the 32 four-byte
  // stores of a warp (one element pair each) hit 32 distinct banks.
  for (int D : {64, 128}) {
    std::set<uint32_t> places;
    for (int wg = 0; wg < 2; wg++) {
      for (int w = 0; w < 4; w++) {
        for (int e = 0; e < D / 2; e += 2) {
          std::set<uint32_t> banks;
          for (int lane = 0; lane < 32; lane++) {
            const uint32_t off = t::swizzle128(t::tile_offset(128, 64 * wg + t::acc_row(w, lane, e), t::acc_col(lane, e)));
            places.insert(off);
            banks.insert((off / 4) % 32);
          }
          CHECK(banks.size() == 32, "D %d warp %d element %d: %zu banks", D, w, e, banks.size());
        }
      }
    }
    CHECK(int(places.size()) == 128 * D / 2, "D %d: %zu places for %d pairs", D, places.size(), 128 * D / 2);
  }
}

int main() {
  check_tiles();
  check_pages();
  check_descriptors();
  check_fragments();
  if (failures) {
    std::fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  std::printf("ok\n");
  return 0;
}

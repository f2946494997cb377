// The CPU flash-attention loop shared by attention (keys contiguous in the packed batch) and paged_attention
// (keys in cache blocks). FlashAttention-2 on a CPU: a task owns a block of query rows and streams tiles of
// kKeyTile keys past them with an online softmax, so no S×S matrix ever exists.
//
// Query rows of one task all read the same kv head: with GQA the G = Hq / Hkv query heads of a kv head are
// interleaved into the block (row r = token r / G, head g·G + r % G), so every K/V row loaded from memory
// serves G heads — what makes decode with GQA cheap. Short batches with long contexts (decode at batch 1)
// also split each block's key range over several tasks and merge the partial softmax states afterwards
// (split-K flash decoding), so every core has work.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/vecmath.h"

namespace gf {
namespace cpu {

// One sequence of the batch: its query tokens in the packed q/out, where the first query sits, and how many
// keys (positions 0..n_keys-1) it attends over.
struct FlashSeq {
  int64_t q_start;  // first query token (row of q [T,Hq,D])
  int64_t n_q;      // query tokens
  int64_t q_pos0;   // position of the first query among the keys
  int64_t n_keys;   // keys of this sequence
};

struct FlashParams {
  int64_t Hq, Hkv, D;
  float scale;
  bool causal;
  int64_t window_left;  // −1: none
  const float* alibi_slopes;  // [Hq] or null
};

namespace flash_detail {

constexpr int kKeyTile = 64;          // keys per tile: S tile of a block stays in L1
constexpr int kRowTarget = 32;        // query rows per task
constexpr int64_t kMinSplitKeys = 256;  // split a key range only into pieces at least this long

struct Task {
  int64_t seq, g;          // sequence, kv head
  int64_t r0, nr;          // query rows [r0, r0 + nr) of the (token, head-in-group) row space
  int64_t k_begin, k_end;  // keys this task visits
  int64_t part;            // index into the partial-state scratch when the block is split, else −1
};

struct Block {  // a query block whose key range was split over parts tasks; merged after the parallel loop
  int64_t seq, g, r0, nr;
  int64_t first_part, parts;
};

// Per-thread buffers, grown on demand and reused across calls.
struct Scratch {
  std::vector<float> q, s, o, m, l, slope;
  std::vector<int64_t> qpos, lo, hi;
  std::vector<const float*> k, v;  // row addresses of the current and the next key tile
  void reserve(int64_t rows, int64_t D) {
    auto grow = [](auto& vec, int64_t n) { if (static_cast<int64_t>(vec.size()) < n) vec.resize(static_cast<size_t>(n)); };
    grow(q, rows * D); grow(o, rows * D); grow(s, rows * kKeyTile);
    grow(m, rows); grow(l, rows); grow(slope, rows); grow(qpos, rows); grow(lo, rows); grow(hi, rows);
    grow(k, 2 * kKeyTile); grow(v, 2 * kKeyTile);
  }
};

inline Scratch& thread_scratch() {
  thread_local Scratch s;
  return s;
}

// The key range [lo, hi] a query at position qpos may see.
inline void visible_keys(const FlashParams& p, int64_t qpos, int64_t n_keys, int64_t* lo, int64_t* hi) {
  *hi = p.causal ? std::min(qpos, n_keys - 1) : n_keys - 1;
  *lo = p.window_left >= 0 ? std::max<int64_t>(0, qpos - p.window_left) : 0;
}

// Runs one task: leaves the unnormalized output rows in sc.o and the softmax state in sc.m / sc.l.
template <class KeyRows>
void run_task(const FlashParams& p, const FlashSeq& sq, const Task& t, const float* q, const KeyRows& key_rows,
              Scratch& sc) {
  const VecOps& vo = vec_ops();
  const int64_t G = p.Hq / p.Hkv, D = p.D;
  for (int64_t r = 0; r < t.nr; r++) {
    const int64_t row = t.r0 + r, h = t.g * G + row % G;
    const float* src = q + ((sq.q_start + row / G) * p.Hq + h) * D;
    float* dst = sc.q.data() + r * D;
    for (int64_t d = 0; d < D; d++) dst[d] = src[d] * p.scale;  // scale folded into q once
    sc.qpos[r] = sq.q_pos0 + row / G;
    sc.slope[r] = p.alibi_slopes ? p.alibi_slopes[h] : 0.0f;
    visible_keys(p, sc.qpos[r], sq.n_keys, &sc.lo[r], &sc.hi[r]);
    sc.m[r] = -INFINITY;
    sc.l[r] = 0;
  }
  std::fill(sc.o.begin(), sc.o.begin() + t.nr * D, 0.0f);

  // Row addresses of the next tile are found one tile ahead and prefetched: the cache rows of one kv head are
  // strided (and paged), which the hardware prefetcher does not follow; decode is bound by these loads.
  auto fetch = [&](int64_t k0, int slot) {
    const int nk = static_cast<int>(std::min<int64_t>(kKeyTile, t.k_end - k0));
    const float** kr = sc.k.data() + slot * kKeyTile;
    const float** vr = sc.v.data() + slot * kKeyTile;
    key_rows(sq, t.seq, t.g, k0, nk, kr, vr);
    for (int j = 0; j < nk; j++) {
      for (int64_t d = 0; d < D; d += 16) {
        __builtin_prefetch(kr[j] + d);
        __builtin_prefetch(vr[j] + d);
      }
    }
  };
  if (t.k_begin < t.k_end) fetch(t.k_begin, 0);
  int slot = 0;
  for (int64_t k0 = t.k_begin; k0 < t.k_end; k0 += kKeyTile, slot ^= 1) {
    const int nk = static_cast<int>(std::min<int64_t>(kKeyTile, t.k_end - k0));
    if (k0 + kKeyTile < t.k_end) fetch(k0 + kKeyTile, slot ^ 1);
    const float* const* krows = sc.k.data() + slot * kKeyTile;
    const float* const* vrows = sc.v.data() + slot * kKeyTile;
    vo.qk_tile(sc.q.data(), static_cast<int>(t.nr), krows, nk, static_cast<int>(D), sc.s.data(), kKeyTile);
    for (int64_t r = 0; r < t.nr; r++) {
      float* s = sc.s.data() + r * kKeyTile;
      if (p.alibi_slopes) {
        for (int j = 0; j < nk; j++) s[j] -= sc.slope[r] * static_cast<float>(sc.qpos[r] - (k0 + j));
      }
      if (k0 < sc.lo[r] || k0 + nk - 1 > sc.hi[r]) {
        for (int j = 0; j < nk; j++) {
          if (k0 + j < sc.lo[r] || k0 + j > sc.hi[r]) s[j] = -INFINITY;
        }
      }
      const float m_new = std::max(sc.m[r], vo.max(s, nk));
      if (m_new == -INFINITY) {  // nothing visible to this row yet: contributes nothing
        std::fill(s, s + nk, 0.0f);
        continue;
      }
      const float sum = vo.exp_shift_sum(s, m_new, s, nk);
      const float alpha = std::exp(sc.m[r] - m_new);  // 0 on the first visible tile
      if (alpha != 1.0f) vo.scale(sc.o.data() + r * D, alpha, D);
      sc.l[r] = sc.l[r] * alpha + sum;
      sc.m[r] = m_new;
    }
    vo.pv_tile(sc.s.data(), kKeyTile, static_cast<int>(t.nr), vrows, nk, static_cast<int>(D), sc.o.data());
  }
}

inline float* out_row(const FlashParams& p, const FlashSeq& sq, int64_t g, int64_t row, float* out) {
  const int64_t G = p.Hq / p.Hkv;
  return out + ((sq.q_start + row / G) * p.Hq + g * G + row % G) * p.D;
}

}  // namespace flash_detail

// out [T,Hq,D] for every query row of seqs. key_rows(seq, b, g, k0, nk, k, v) fills k[j], v[j] with the
// addresses of key/value k0 + j (D floats each) of kv head g of sequence b.
template <class KeyRows>
void flash_attention(const FlashParams& p, const std::vector<FlashSeq>& seqs, const float* q, float* out,
                     const KeyRows& key_rows) {
  using namespace flash_detail;
  const int64_t G = p.Hq / p.Hkv, D = p.D;
  const int64_t rows_per_block = std::max<int64_t>(1, kRowTarget / G) * G;

  // Query blocks with the key range their rows can see.
  struct Range { int64_t seq, g, r0, nr, k_lo, k_hi; };
  std::vector<Range> ranges;
  for (int64_t b = 0; b < static_cast<int64_t>(seqs.size()); b++) {
    const FlashSeq& sq = seqs[b];
    const int64_t rows = sq.n_q * G;
    for (int64_t g = 0; g < p.Hkv; g++) {
      for (int64_t r0 = 0; r0 < rows; r0 += rows_per_block) {
        const int64_t nr = std::min(rows_per_block, rows - r0);
        int64_t lo_first, hi_first, lo_last, hi_last;
        visible_keys(p, sq.q_pos0 + r0 / G, sq.n_keys, &lo_first, &hi_first);
        visible_keys(p, sq.q_pos0 + (r0 + nr - 1) / G, sq.n_keys, &lo_last, &hi_last);
        ranges.push_back({b, g, r0, nr, std::min(lo_first, lo_last), std::max(hi_first, hi_last) + 1});
      }
    }
  }

  // Split long key ranges when there are too few blocks to keep every thread busy.
  const int64_t want_tasks = 4 * static_cast<int64_t>(num_threads());
  const int64_t split_goal = ranges.empty() ? 1 : (want_tasks + ranges.size() - 1) / ranges.size();
  std::vector<Task> tasks;
  std::vector<Block> blocks;
  int64_t parts_total = 0;
  for (const Range& rg : ranges) {
    const int64_t len = std::max<int64_t>(0, rg.k_hi - rg.k_lo);
    const int64_t parts = std::max<int64_t>(1, std::min(split_goal, len / kMinSplitKeys));
    if (parts == 1) {
      tasks.push_back({rg.seq, rg.g, rg.r0, rg.nr, rg.k_lo, rg.k_hi, -1});
      continue;
    }
    const int64_t tiles = (len + kKeyTile - 1) / kKeyTile;
    blocks.push_back({rg.seq, rg.g, rg.r0, rg.nr, parts_total, parts});
    for (int64_t i = 0; i < parts; i++) {
      const int64_t b0 = rg.k_lo + (tiles * i / parts) * kKeyTile;
      const int64_t b1 = std::min(rg.k_hi, rg.k_lo + (tiles * (i + 1) / parts) * kKeyTile);
      tasks.push_back({rg.seq, rg.g, rg.r0, rg.nr, b0, b1, parts_total + i});
    }
    parts_total += parts;
  }
  // Partial states of split blocks: per part, rows_per_block × (D outputs + m + l).
  const int64_t part_stride = rows_per_block * (D + 2);
  std::vector<float> partials(static_cast<size_t>(parts_total * part_stride));

  parallel_for(static_cast<int64_t>(tasks.size()), 1, [&](int64_t begin, int64_t end) {
    Scratch& sc = thread_scratch();
    sc.reserve(rows_per_block, D);
    for (int64_t i = begin; i < end; i++) {
      const Task& t = tasks[i];
      const FlashSeq& sq = seqs[t.seq];
      run_task(p, sq, t, q, key_rows, sc);
      for (int64_t r = 0; r < t.nr; r++) {
        const float* o = sc.o.data() + r * D;
        if (t.part < 0) {
          float* dst = out_row(p, sq, t.g, t.r0 + r, out);
          const float inv = sc.l[r] > 0 ? 1.0f / sc.l[r] : 0.0f;
          for (int64_t d = 0; d < D; d++) dst[d] = o[d] * inv;
        } else {
          float* dst = partials.data() + t.part * part_stride + r * (D + 2);
          std::copy(o, o + D, dst);
          dst[D] = sc.m[r];
          dst[D + 1] = sc.l[r];
        }
      }
    }
  });

  // Merge split blocks: out = Σ_parts e^(m_i − M) o_i / Σ_parts e^(m_i − M) l_i.
  parallel_for(static_cast<int64_t>(blocks.size()), 1, [&](int64_t begin, int64_t end) {
    std::vector<float> weight;
    for (int64_t i = begin; i < end; i++) {
      const Block& bk = blocks[i];
      weight.resize(static_cast<size_t>(bk.parts));
      for (int64_t r = 0; r < bk.nr; r++) {
        auto state = [&](int64_t part) { return partials.data() + (bk.first_part + part) * part_stride + r * (D + 2); };
        float M = -INFINITY;
        for (int64_t j = 0; j < bk.parts; j++) M = std::max(M, state(j)[D]);
        float L = 0;
        for (int64_t j = 0; j < bk.parts; j++) {
          weight[j] = M == -INFINITY ? 0.0f : std::exp(state(j)[D] - M);
          L += weight[j] * state(j)[D + 1];
        }
        float* dst = out_row(p, seqs[bk.seq], bk.g, bk.r0 + r, out);
        const float inv = L > 0 ? 1.0f / L : 0.0f;
        for (int64_t d = 0; d < D; d++) {
          float acc = 0;
          for (int64_t j = 0; j < bk.parts; j++) acc += weight[j] * state(j)[d];
          dst[d] = acc * inv;
        }
      }
    }
  });
}

}  // namespace cpu
}  // namespace gf

// The flash loop of attention_flash.h: blocks of query rows × tiles and segments of keys at absolute positions,
// online softmax per row, segment states folded in key order (the invariance contract is stated in the header).
#include "cpu/attention_flash.h"

#include <algorithm>
#include <cmath>

#include "core/thread_pool.h"
#include "cpu/vecmath.h"

namespace gf {
namespace cpu {
namespace {

constexpr int kKeyTile = 64;            // keys per tile: a block's score tile stays in L1
constexpr int64_t kSegmentKeys = 256;   // keys per segment: the unit a block's key range is split into
constexpr int kRowTarget = 32;          // query rows per block
static_assert(kSegmentKeys % kKeyTile == 0, "segments are whole tiles");

// A block of query rows (rows [r0, r0 + nr) of the (token, head-in-group) row space of kv head g of sequence
// seq), the keys its rows can see, and the segments of them this task visits.
struct Task {
  int64_t seq, g, r0, nr;
  int64_t k_lo, k_hi;           // keys visible to some row of the block: [k_lo, k_hi)
  int64_t seg_begin, seg_end;   // segments [seg_begin, seg_end) visited by this task
  int64_t slot;                 // split block: partial-state slot of segment seg_begin; −1: this task writes out
};

struct SplitBlock {  // a block whose segments were spread over several tasks; folded after the parallel loop
  int64_t seq, g, r0, nr;
  int64_t first_slot, segments;
};

template <class T>
void grow(std::vector<T>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
}

// A softmax state per row: running max m, sum l, unnormalized output o [D].
struct RowStates {
  std::vector<float> o, m, l;
  void reserve(int64_t rows, int64_t D) {
    grow(o, rows * D);
    grow(m, rows);
    grow(l, rows);
  }
  void clear(int64_t rows, int64_t D) {
    std::fill(o.begin(), o.begin() + rows * D, 0.0f);
    std::fill(m.begin(), m.begin() + rows, -INFINITY);
    std::fill(l.begin(), l.begin() + rows, 0.0f);
  }
};

// Per-thread buffers, grown on demand and reused across calls.
struct Scratch {
  std::vector<float> q, s, slope;
  std::vector<int64_t> qpos, lo, hi;
  std::vector<const float*> k, v;  // row addresses of the current and the next key tile
  RowStates seg, acc;              // the current segment's states and the fold of the segments before it
  void reserve(int64_t rows, int64_t D) {
    grow(q, rows * D); grow(s, rows * kKeyTile);
    grow(slope, rows); grow(qpos, rows); grow(lo, rows); grow(hi, rows);
    grow(k, 2 * kKeyTile); grow(v, 2 * kKeyTile);
    seg.reserve(rows, D);
    acc.reserve(rows, D);
  }
};

Scratch& thread_scratch() {
  thread_local Scratch s;
  return s;
}

// The key range [lo, hi] a query at position qpos may see.
void visible_keys(const FlashParams& p, int64_t qpos, int64_t n_keys, int64_t* lo, int64_t* hi) {
  *hi = p.causal ? std::min(qpos, n_keys - 1) : n_keys - 1;
  *lo = p.window_left >= 0 ? std::max<int64_t>(0, qpos - p.window_left) : 0;
}

// Folds a segment's state (m_s, l_s, o_s) into a row's running state (m, l, o); segments come in key order.
// The one place states of segments are combined: a task folding its segments as it goes and the merge after
// a split run this function on the same states in the same order, hence the same bits.
void fold_state(float* m, float* l, float* o, float m_s, float l_s, const float* o_s, int64_t D) {
  if (m_s == -INFINITY) return;  // the row sees no key of this segment
  if (*m == -INFINITY) {         // the first segment with keys: its state as it is
    *m = m_s;
    *l = l_s;
    std::copy(o_s, o_s + D, o);
    return;
  }
  const float m_new = std::max(*m, m_s);
  const float a = std::exp(*m - m_new), b = std::exp(m_s - m_new);
  *l = *l * a + l_s * b;
  for (int64_t d = 0; d < D; d++) o[d] = o[d] * a + o_s[d] * b;
  *m = m_new;
}

// out row = o / l (0 for a row that saw no key).
void write_row(const float* o, float l, int64_t D, float* dst) {
  const float inv = l > 0 ? 1.0f / l : 0.0f;
  for (int64_t d = 0; d < D; d++) dst[d] = o[d] * inv;
}

float* out_row(const FlashParams& p, const FlashSeq& sq, int64_t g, int64_t row, float* out) {
  const int64_t G = p.Hq / p.Hkv;
  return out + ((sq.q_start + row / G) * p.Hq + g * G + row % G) * p.D;
}

// One tile of keys k0 .. k0 + nk − 1 (all in one segment) through the online softmax of the task's rows: their
// segment states in sc.seg are updated.
void run_tile(const FlashParams& p, const Task& t, int64_t k0, int nk, const float* const* krows,
              const float* const* vrows, Scratch& sc) {
  const VecOps& vo = vec_ops();
  const int64_t D = p.D;
  vo.qk_tile(sc.q.data(), static_cast<int>(t.nr), krows, nk, static_cast<int>(D), sc.s.data(), kKeyTile);
  for (int64_t r = 0; r < t.nr; r++) {
    float* s = sc.s.data() + r * kKeyTile;
    float& m = sc.seg.m[r];
    if (p.alibi_slopes) {
      for (int j = 0; j < nk; j++) s[j] -= sc.slope[r] * static_cast<float>(sc.qpos[r] - (k0 + j));
    }
    if (k0 < sc.lo[r] || k0 + nk - 1 > sc.hi[r]) {
      for (int j = 0; j < nk; j++) {
        if (k0 + j < sc.lo[r] || k0 + j > sc.hi[r]) s[j] = -INFINITY;
      }
    }
    const float m_new = std::max(m, vo.max(s, nk));
    if (m_new == -INFINITY) {  // nothing visible to this row yet: contributes nothing
      std::fill(s, s + nk, 0.0f);
      continue;
    }
    const float sum = vo.exp_shift_sum(s, m_new, s, nk);
    const float alpha = std::exp(m - m_new);  // 0 on the first visible tile
    if (alpha != 1.0f) vo.scale(sc.seg.o.data() + r * D, alpha, D);
    sc.seg.l[r] = sc.seg.l[r] * alpha + sum;
    m = m_new;
  }
  vo.pv_tile(sc.s.data(), kKeyTile, static_cast<int>(t.nr), vrows, nk, static_cast<int>(D), sc.seg.o.data());
}

// Runs one task: the tiles of its segments in key order. Each finished segment is folded into the rows' running
// states (written to out at the end) or, for a split block, stored in its partial-state slot for the merge.
void run_task(const FlashParams& p, const FlashSeq& sq, const Task& t, const float* q, float* out,
              const KeySource& keys, float* partials, int64_t slot_stride, Scratch& sc) {
  const int64_t G = p.Hq / p.Hkv, D = p.D;
  for (int64_t r = 0; r < t.nr; r++) {
    const int64_t row = t.r0 + r, h = t.g * G + row % G;
    const float* src = q + ((sq.q_start + row / G) * p.Hq + h) * D;
    float* dst = sc.q.data() + r * D;
    for (int64_t d = 0; d < D; d++) dst[d] = src[d] * p.scale;  // scale folded into q once
    sc.qpos[r] = sq.q_pos0 + row / G;
    sc.slope[r] = p.alibi_slopes ? p.alibi_slopes[h] : 0.0f;
    visible_keys(p, sc.qpos[r], sq.n_keys, &sc.lo[r], &sc.hi[r]);
  }
  if (t.slot < 0) sc.acc.clear(t.nr, D);
  auto finish_segment = [&](int64_t seg) {
    for (int64_t r = 0; r < t.nr; r++) {
      const float* o = sc.seg.o.data() + r * D;
      if (t.slot < 0) {
        fold_state(&sc.acc.m[r], &sc.acc.l[r], sc.acc.o.data() + r * D, sc.seg.m[r], sc.seg.l[r], o, D);
      } else {
        float* dst = partials + (t.slot + seg - t.seg_begin) * slot_stride + r * (D + 2);
        std::copy(o, o + D, dst);
        dst[D] = sc.seg.m[r];
        dst[D + 1] = sc.seg.l[r];
      }
    }
  };

  // Tiles start at absolute multiples of kKeyTile, so none straddles a segment boundary.
  const int64_t first = std::max(t.k_lo, t.seg_begin * kSegmentKeys);
  const int64_t begin = first - first % kKeyTile;
  const int64_t end = std::min(t.k_hi, t.seg_end * kSegmentKeys);
  // Row addresses of the next tile are found one tile ahead and prefetched (across segment boundaries too): the
  // cache rows of one kv head are strided (and paged), which the hardware prefetcher does not follow; decode is
  // bound by these loads.
  auto fetch = [&](int64_t k0, int slot) {
    const int nk = static_cast<int>(std::min<int64_t>(kKeyTile, end - k0));
    const float** kr = sc.k.data() + slot * kKeyTile;
    const float** vr = sc.v.data() + slot * kKeyTile;
    keys.rows(sq, t.seq, t.g, k0, nk, kr, vr);
    for (int j = 0; j < nk; j++) {
      for (int64_t d = 0; d < D; d += 16) {
        __builtin_prefetch(kr[j] + d);
        __builtin_prefetch(vr[j] + d);
      }
    }
  };
  if (begin < end) fetch(begin, 0);
  int64_t seg = t.seg_begin;
  sc.seg.clear(t.nr, D);
  int slot = 0;
  for (int64_t k0 = begin; k0 < end; k0 += kKeyTile, slot ^= 1) {
    if (k0 >= (seg + 1) * kSegmentKeys) {  // a new segment starts afresh
      finish_segment(seg);
      seg = k0 / kSegmentKeys;
      sc.seg.clear(t.nr, D);
    }
    if (k0 + kKeyTile < end) fetch(k0 + kKeyTile, slot ^ 1);
    run_tile(p, t, k0, static_cast<int>(std::min<int64_t>(kKeyTile, end - k0)), sc.k.data() + slot * kKeyTile,
             sc.v.data() + slot * kKeyTile, sc);
  }
  if (begin < end) finish_segment(seg);
  if (t.slot < 0) {
    for (int64_t r = 0; r < t.nr; r++) write_row(sc.acc.o.data() + r * D, sc.acc.l[r], D, out_row(p, sq, t.g, t.r0 + r, out));
  }
}

}  // namespace

void flash_attention(const FlashParams& p, const std::vector<FlashSeq>& seqs, const float* q, float* out,
                     const KeySource& keys) {
  const int64_t G = p.Hq / p.Hkv, D = p.D;
  const int64_t rows_per_block = std::max<int64_t>(1, kRowTarget / G) * G;

  // Query blocks with the keys their rows can see.
  std::vector<Task> blocks;
  for (int64_t b = 0; b < static_cast<int64_t>(seqs.size()); b++) {
    const FlashSeq& sq = seqs[b];
    const int64_t rows = sq.n_q * G;
    for (int64_t g = 0; g < p.Hkv; g++) {
      for (int64_t r0 = 0; r0 < rows; r0 += rows_per_block) {
        const int64_t nr = std::min(rows_per_block, rows - r0);
        int64_t lo_first, hi_first, lo_last, hi_last;
        visible_keys(p, sq.q_pos0 + r0 / G, sq.n_keys, &lo_first, &hi_first);
        visible_keys(p, sq.q_pos0 + (r0 + nr - 1) / G, sq.n_keys, &lo_last, &hi_last);
        const int64_t k_lo = std::min(lo_first, lo_last), k_hi = std::max(hi_first, hi_last) + 1;
        const int64_t seg_begin = k_lo / kSegmentKeys;
        const int64_t seg_end = k_hi > k_lo ? (k_hi + kSegmentKeys - 1) / kSegmentKeys : seg_begin;
        blocks.push_back({b, g, r0, nr, k_lo, k_hi, seg_begin, seg_end, -1});
      }
    }
  }

  // Spread the segments of a block over several tasks when there are too few blocks to keep every thread
  // busy. Only the schedule depends on this choice (fold_state makes the result the same).
  const int64_t want_tasks = 4 * static_cast<int64_t>(num_threads());
  const int64_t split_goal = blocks.empty() ? 1 : (want_tasks + blocks.size() - 1) / blocks.size();
  std::vector<Task> tasks;
  std::vector<SplitBlock> splits;
  int64_t slots = 0;
  for (const Task& bk : blocks) {
    const int64_t segments = bk.seg_end - bk.seg_begin;
    const int64_t parts = std::max<int64_t>(1, std::min(split_goal, segments));
    if (parts == 1) {
      tasks.push_back(bk);
      continue;
    }
    splits.push_back({bk.seq, bk.g, bk.r0, bk.nr, slots, segments});
    for (int64_t i = 0; i < parts; i++) {
      Task t = bk;
      t.seg_begin = bk.seg_begin + segments * i / parts;
      t.seg_end = bk.seg_begin + segments * (i + 1) / parts;
      t.slot = slots + (t.seg_begin - bk.seg_begin);
      tasks.push_back(t);
    }
    slots += segments;
  }
  // Segment states of split blocks: per slot, rows_per_block × (D outputs + m + l).
  const int64_t slot_stride = rows_per_block * (D + 2);
  std::vector<float> partials(static_cast<size_t>(slots * slot_stride));

  parallel_for(static_cast<int64_t>(tasks.size()), 1, [&](int64_t begin, int64_t end) {
    Scratch& sc = thread_scratch();
    sc.reserve(rows_per_block, D);
    for (int64_t i = begin; i < end; i++) {
      const Task& t = tasks[i];
      run_task(p, seqs[t.seq], t, q, out, keys, partials.data(), slot_stride, sc);
    }
  });

  // Fold the segments of split blocks, in key order, exactly as an unsplit task does.
  parallel_for(static_cast<int64_t>(splits.size()), 1, [&](int64_t begin, int64_t end) {
    std::vector<float> o(static_cast<size_t>(D));
    for (int64_t i = begin; i < end; i++) {
      const SplitBlock& bk = splits[i];
      for (int64_t r = 0; r < bk.nr; r++) {
        float m = -INFINITY, l = 0;
        std::fill(o.begin(), o.end(), 0.0f);
        for (int64_t s = 0; s < bk.segments; s++) {
          const float* st = partials.data() + (bk.first_slot + s) * slot_stride + r * (D + 2);
          fold_state(&m, &l, o.data(), st[D], st[D + 1], st, D);
        }
        write_row(o.data(), l, D, out_row(p, seqs[bk.seq], bk.g, bk.r0 + r, out));
      }
    }
  });
}

}  // namespace cpu
}  // namespace gf

// The CPU flash-attention loop shared by attention (keys contiguous in the packed batch) and paged_attention
// (keys in cache blocks). FlashAttention-2 on a CPU: a task owns a block of query rows and streams tiles of keys
// past them with an online softmax, so no S×S matrix ever exists.
//
// Query rows of one task all read the same kv head: with GQA the G = Hq / Hkv query heads of a kv head are
// interleaved into the block (row r = token r / G, head g·G + r % G), so every K/V row loaded from memory
// serves G heads — what makes decode with GQA cheap. Short batches with long contexts (decode at batch 1)
// also spread a block's key segments over several tasks and fold their softmax states afterwards (split-K
// flash decoding), so every core has work.
//
// Batch invariance (the contract): the output of a query row is a function of that row's query, its position,
// its sequence's keys and values and the op's parameters alone. It is bit for bit the same whether the row is
// computed in a full prefill, in a prefill chunk over cached blocks of any size, after a prefix-cache hit, as a
// decode step, beside any other rows and sequences, at any thread count, through attention() or
// paged_attention() (within one process: one instruction-set tier). What makes it so:
// - keys are visited in tiles of kKeyTile at absolute key positions (tile i holds keys [64·i, 64·i + 64)), and
//   a row's online softmax is updated tile after tile in key order. Keys a row may not see are masked to −inf,
//   which leaves its state bit for bit unchanged, so the other rows of a task (which widen its key range) and
//   the end of the tile cannot change it;
// - the key axis is cut into segments of kSegmentKeys at absolute positions; every segment's softmax state
//   starts afresh and segments are folded in key order by one function (fold_state), whether one task visits
//   them one after the other or several tasks visit them in parallel: how a block is split is a scheduling
//   choice (thread count, batch size) that never reaches the arithmetic;
// - the tile primitives of vecmath.h form each (row, key) score and each output element with the same
//   operations whatever the number of rows and keys in the tile (see there);
// - the loop itself is compiled once (attention_flash.cc), so both ops run the same machine code.
#pragma once
#include <cstdint>
#include <vector>

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

// Where a sequence's keys and values live: rows(sq, b, g, k0, nk, k, v) fills k[j], v[j] with the addresses
// of key / value k0 + j (D floats each) of kv head g of sequence b (sq = seqs[b]), for j < nk.
class KeySource {
 public:
  virtual void rows(const FlashSeq& sq, int64_t b, int64_t g, int64_t k0, int nk, const float** k,
                    const float** v) const = 0;

 protected:
  ~KeySource() = default;
};

// A KeySource over a callable with the signature of rows() (the ops pass lambdas).
template <class F>
class KeyRows final : public KeySource {
 public:
  explicit KeyRows(const F& f) : f_(f) {}
  void rows(const FlashSeq& sq, int64_t b, int64_t g, int64_t k0, int nk, const float** k,
            const float** v) const override {
    f_(sq, b, g, k0, nk, k, v);
  }

 private:
  const F& f_;
};

// out [T,Hq,D] for every query row of seqs; q [T,Hq,D].
void flash_attention(const FlashParams& p, const std::vector<FlashSeq>& seqs, const float* q, float* out,
                     const KeySource& keys);

}  // namespace cpu
}  // namespace gf

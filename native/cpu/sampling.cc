// Token selection: argmax, and seeded temperature / min-p / top-k / top-p sampling. One row per task; rows of
// any float dtype are read as f32.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/convert.h"
#include "cpu/cpu_ops.h"
#include "cpu/sample_rng.h"

namespace gf {
namespace cpu {
namespace {

void load_row(const Tensor& logits, int64_t b, std::vector<float>& row) {
  const int64_t V = logits.dim(1);
  row.resize(static_cast<size_t>(V));
  convert(static_cast<const char*>(logits.raw()) + dtype_bytes(logits.dtype, b * V), logits.dtype, row.data(),
          DType::F32, V);
}

// The first index of the largest value; NaNs are never chosen (index 0 when nothing compares). Two passes: the
// largest value by a max the compiler vectorizes (NaN never compares greater, as in the one-pass scan), then
// the first index holding it; a 49152-token row took ~45 µs as one scalar pass with a branch per element.
int32_t argmax_row(const float* x, int64_t n) {
  float m = -INFINITY;
  for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
  if (!(m > -INFINITY)) return 0;
  int64_t i = 0;
  while (x[i] != m) i++;
  return static_cast<int32_t>(i);
}

// The weight of a logit relative to the row's largest, m: exp((x − m) / temperature), in double; 0 for NaN
// and for tokens below min_p (vLLM's min-p: probability < min_p × the largest probability, i.e. weight <
// min_p; the largest token's weight is 1, so it always stays). The CUDA sampler computes exactly this.
inline double sample_weight(float x, float m, float temperature, double min_p) {
  if (std::isnan(x)) return 0.0;
  const double w = std::exp(static_cast<double>(x - m) / temperature);
  return w < min_p ? 0.0 : w;
}

// A candidate token and its weight; `before` is the order of decreasing probability, lower index first on
// ties: the order top-k and top-p cut, and the final draw walks.
struct Candidate {
  double w;
  int32_t i;
};
inline bool before(const Candidate& a, const Candidate& b) { return a.w > b.w || (a.w == b.w && a.i < b.i); }

// Weights bucketed by their leading bits, buckets in the weights' order: the exponent and 5 mantissa bits of
// weights in [2^-63, 1] (32 buckets per power of two; no weight exceeds the largest token's, 1), and bucket 0
// for the smaller ones and the zeros.
constexpr int kMantissaBits = 5;
constexpr uint64_t kLowestLead = uint64_t{1023 - 63} << kMantissaBits;  // the leading bits of 2^-63
constexpr int kBuckets = (63 << kMantissaBits) + 2;                      // up to 1.0's bucket
inline int bucket_of(double w) {
  uint64_t bits;
  std::memcpy(&bits, &w, sizeof bits);
  const uint64_t lead = bits >> (52 - kMantissaBits);
  return lead < kLowestLead ? 0 : static_cast<int>(lead - kLowestLead) + 1;
}

// What sample_row reuses from row to row: the weights and each bucket's count and mass (one pass over the
// vocabulary), and the candidates: the tokens of the buckets from the top down to one chosen from those
// counts or masses, placed bucket by bucket (each in index order), a bucket put in order only when a walk
// down the order reaches it.
struct SampleScratch {
  std::vector<double> w;
  std::vector<int64_t> count;
  std::vector<double> mass;
  std::vector<int64_t> cursor;
  std::vector<Candidate> cand;
  std::vector<size_t> bucket_end;  // where each placed bucket ends in cand
  size_t sorted = 0, next_bucket = 0;

  void place(int64_t V, int lowest) {
    size_t n = 0;
    bucket_end.clear();
    cursor.resize(kBuckets);
    for (int b = kBuckets - 1; b >= lowest; b--) {
      if (count[b] == 0) continue;
      cursor[b] = static_cast<int64_t>(n);
      n += static_cast<size_t>(count[b]);
      bucket_end.push_back(n);
    }
    cand.resize(n);
    for (int64_t i = 0; i < V; i++) {
      const int b = bucket_of(w[i]);
      if (b >= lowest) cand[cursor[b]++] = {w[i], static_cast<int32_t>(i)};
    }
    sorted = next_bucket = 0;
  }
  // cand[0..n] in `before` order (n < cand.size())
  void sort_through(size_t n) {
    while (sorted <= n) {
      const size_t e = bucket_end[next_bucket++];
      std::sort(cand.begin() + sorted, cand.begin() + e, before);
      sorted = e;
    }
  }
};

// The token drawn from softmax(x / temperature) without the tokens min_p drops, restricted to the top_k most
// likely tokens and then to the smallest most-likely prefix whose mass reaches top_p (each relative to what
// is left), with uniform u.
//
// Only the most likely tokens are ever put in order, and only as far as the cuts and the draw walk (a
// histogram of the weights picks them, as vLLM's and llama.cpp's samplers do): the buckets from the top until
// they hold top_k tokens, or without top-k top_p of the mass with a margin for rounding (all of them, should
// rounding still leave the goal out of reach). Each sum the cuts and the draw compare is the one a full sort
// gives, added in the same order, and so is the token: masses in index order, running sums in sorted order.
int32_t sample_row(const float* x, int64_t V, float temperature, int32_t top_k, float top_p, float min_p, double u,
                   SampleScratch& s) {
  float m = -INFINITY;
  for (int64_t i = 0; i < V; i++) m = x[i] > m ? x[i] : m;  // NaN never compares greater
  // nothing above -inf, or an infinite logit (it takes all the probability): the first largest token; past
  // this every weight is in [0, 1]
  if (!(m > -INFINITY) || m == INFINITY) return argmax_row(x, V);
  const double mp = std::min(static_cast<double>(min_p), 1.0);
  s.w.resize(static_cast<size_t>(V));
  s.count.assign(kBuckets, 0);
  s.mass.assign(kBuckets, 0.0);
  double total = 0;
  for (int64_t i = 0; i < V; i++) {
    const double w = sample_weight(x[i], m, temperature, mp);
    s.w[i] = w;
    total += w;
    const int b = bucket_of(w);
    s.count[b]++;
    s.mass[b] += w;
  }

  const int64_t k = (top_k <= 0 || top_k >= V) ? V : top_k;
  const bool use_p = top_p < 1.0f;
  if (k == V && !use_p) {  // plain sampling: walk the vocabulary in index order
    const double target = u * total;
    double cum = 0;
    int64_t last = 0;
    for (int64_t i = 0; i < V; i++) {
      if (s.w[i] <= 0) continue;
      cum += s.w[i];
      last = i;
      if (cum > target) return static_cast<int32_t>(i);
    }
    return static_cast<int32_t>(last);
  }

  double mass = total;
  int lowest = kBuckets - 1;
  if (k < V) {
    int64_t held = s.count[lowest];
    for (; held < k; held += s.count[lowest]) lowest--;
    s.place(V, lowest);
    // the k-th most likely token: in the lowest bucket placed, after the held − count[lowest] above it
    const auto first = s.cand.begin() + (held - s.count[lowest]);
    std::nth_element(first, s.cand.begin() + (k - 1), first + s.count[lowest], before);
    const Candidate kth = s.cand[k - 1];
    mass = 0;  // the top k's, in index order like the whole vocabulary's
    for (int64_t i = 0; i < V; i++) {
      if (!before(kth, {s.w[i], static_cast<int32_t>(i)})) mass += s.w[i];
    }
  }
  const double need = use_p ? static_cast<double>(top_p) * mass : INFINITY;  // without top-p all k are kept
  if (k == V) {
    for (double held = s.mass[lowest]; lowest > 0 && !(held >= need * (1 + 1e-9)); held += s.mass[lowest]) lowest--;
    s.place(V, lowest);
  }

  // the smallest prefix whose mass reaches the goal (0: none within the candidates)
  auto reach = [&s, need, k]() -> int64_t {
    double cum = 0;
    const int64_t n = std::min<int64_t>(k, static_cast<int64_t>(s.cand.size()));
    for (int64_t i = 0; i < n; i++) {
      s.sort_through(static_cast<size_t>(i));
      cum += s.cand[i].w;
      if (cum >= need) return i + 1;
    }
    return 0;
  };
  int64_t keep = reach();
  if (keep == 0 && static_cast<int64_t>(s.cand.size()) < k) {  // rounding beyond the margin: every token
    s.place(V, 0);
    keep = reach();
  }
  if (keep == 0) keep = k;  // the goal is out of reach by rounding: all k are kept
  s.sort_through(static_cast<size_t>(keep - 1));
  double kept_mass = 0;
  for (int64_t i = 0; i < keep; i++) kept_mass += s.cand[i].w;
  const double target = u * kept_mass;
  double walked = 0;
  for (int64_t i = 0; i < keep; i++) {
    walked += s.cand[i].w;
    if (walked > target) return s.cand[i].i;
  }
  return s.cand[keep - 1].i;
}

}  // namespace

// logits [B,V] (any float dtype), out i32 [B]: the first index of each row's largest logit
void argmax(const Tensor& logits, Tensor& out) {
  const int64_t B = logits.dim(0), V = logits.dim(1);
  int32_t* o = out.data<int32_t>();
  parallel_for(B, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> row;
    for (int64_t b = begin; b < end; b++) {
      if (logits.dtype == DType::F32) {  // read in place
        o[b] = argmax_row(logits.data<float>() + b * V, V);
        continue;
      }
      load_row(logits, b, row);
      o[b] = argmax_row(row.data(), V);
    }
  });
}

// logits [B,V]; temperature f32 [B] (≤ 0: greedy), top_k i32 [B] (≤ 0: off), top_p f32 [B] (≥ 1: off),
// min_p f32 [B] (≤ 0: off), seeds i64 [B], steps i32 [B]; out i32 [B]. Row b's random number is
// sample_uniform(seeds[b], steps[b]).
void sample(const Tensor& logits, const Tensor& temperature, const Tensor& top_k, const Tensor& top_p,
            const Tensor& min_p, const Tensor& seeds, const Tensor& steps, Tensor& out) {
  const int64_t B = logits.dim(0), V = logits.dim(1);
  const float* temp = temperature.data<float>();
  const int32_t* tk = top_k.data<int32_t>();
  const float* tp = top_p.data<float>();
  const float* mp = min_p.data<float>();
  const int64_t* seed = seeds.data<int64_t>();
  const int32_t* step = steps.data<int32_t>();
  for (int64_t b = 0; b < B; b++) {
    GF_CHECK_INPUT(std::isfinite(temp[b]), "sample: temperature[", b, "] = ", temp[b], " is not a finite number");
    GF_CHECK_INPUT(!std::isnan(tp[b]), "sample: topP[", b, "] is NaN");
    GF_CHECK_INPUT(!std::isnan(mp[b]), "sample: minP[", b, "] is NaN");
  }
  int32_t* o = out.data<int32_t>();
  parallel_for(B, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> row;
    SampleScratch scratch;
    for (int64_t b = begin; b < end; b++) {
      load_row(logits, b, row);
      if (temp[b] <= 0.0f || tk[b] == 1) {
        o[b] = argmax_row(row.data(), V);
      } else {
        o[b] = sample_row(row.data(), V, temp[b], tk[b], tp[b], mp[b], sample_uniform(seed[b], step[b]), scratch);
      }
    }
  });
}

}  // namespace cpu
}  // namespace gf

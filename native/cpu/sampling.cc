// Token selection: argmax, and seeded temperature / min-p / top-k / top-p sampling. One row per task; rows of
// any float dtype are read as f32.
#include <algorithm>
#include <cmath>
#include <numeric>
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

// The first index of the largest value; NaNs are never chosen (index 0 when nothing compares).
int32_t argmax_row(const float* x, int64_t n) {
  int64_t best = 0;
  float best_v = -INFINITY;
  for (int64_t i = 0; i < n; i++) {
    if (x[i] > best_v) {
      best_v = x[i];
      best = i;
    }
  }
  return static_cast<int32_t>(best);
}

// The weight of a logit relative to the row's largest, m: exp((x − m) / temperature), in double; 0 for NaN
// and for tokens below min_p (vLLM's min-p: probability < min_p × the largest probability, i.e. weight <
// min_p; the largest token's weight is 1, so it always stays). The CUDA sampler computes exactly this.
inline double sample_weight(float x, float m, float temperature, double min_p) {
  if (std::isnan(x)) return 0.0;
  const double w = std::exp(static_cast<double>(x - m) / temperature);
  return w < min_p ? 0.0 : w;
}

// The token drawn from softmax(x / temperature) without the tokens min_p drops, restricted to the top_k most
// likely tokens and then to the smallest most-likely prefix whose mass reaches top_p (each relative to what
// is left), with uniform u.
int32_t sample_row(const float* x, int64_t V, float temperature, int32_t top_k, float top_p, float min_p, double u) {
  float m = -INFINITY;
  for (int64_t i = 0; i < V; i++) m = x[i] > m ? x[i] : m;  // NaN never compares greater
  if (!(m > -INFINITY)) return argmax_row(x, V);
  const double mp = std::min(static_cast<double>(min_p), 1.0);
  std::vector<double> w(static_cast<size_t>(V));
  for (int64_t i = 0; i < V; i++) w[i] = sample_weight(x[i], m, temperature, mp);

  const int64_t k = (top_k <= 0 || top_k >= V) ? V : top_k;
  const bool use_p = top_p < 1.0f;
  if (k == V && !use_p) {  // plain sampling: walk the vocabulary in index order
    const double target = u * std::accumulate(w.begin(), w.end(), 0.0);
    double cum = 0;
    int64_t last = 0;
    for (int64_t i = 0; i < V; i++) {
      if (w[i] <= 0) continue;
      cum += w[i];
      last = i;
      if (cum > target) return static_cast<int32_t>(i);
    }
    return static_cast<int32_t>(last);
  }

  // Candidates in order of decreasing probability (lower index first on ties). Only as much of the order is
  // sorted as top-p needs: chunks of growing size are selected (nth_element) and sorted until the mass is
  // reached, so a 128k vocabulary with a peaked distribution sorts a few hundred entries, not all of them.
  std::vector<int32_t> order(static_cast<size_t>(V));
  std::iota(order.begin(), order.end(), 0);
  auto before = [&w](int32_t a, int32_t b) { return w[a] > w[b] || (w[a] == w[b] && a < b); };
  if (k < V) std::nth_element(order.begin(), order.begin() + (k - 1), order.end(), before);
  double need = INFINITY;  // without top-p every one of the k candidates is kept
  if (use_p) {
    double mass = 0;
    for (int64_t i = 0; i < k; i++) mass += w[order[i]];
    need = static_cast<double>(top_p) * mass;
  }
  int64_t keep = 0, sorted = 0;
  double cum = 0;
  while (keep == 0 && sorted < k) {
    const int64_t next = std::min<int64_t>(k, std::max<int64_t>(256, sorted * 4));
    if (next < k) std::nth_element(order.begin() + sorted, order.begin() + (next - 1), order.begin() + k, before);
    std::sort(order.begin() + sorted, order.begin() + next, before);
    for (; sorted < next; sorted++) {
      cum += w[order[sorted]];
      if (cum >= need) {
        keep = sorted + 1;
        break;
      }
    }
  }
  if (keep == 0) keep = k;
  double kept_mass = 0;
  for (int64_t i = 0; i < keep; i++) kept_mass += w[order[i]];
  const double target = u * kept_mass;
  double walked = 0;
  for (int64_t i = 0; i < keep; i++) {
    walked += w[order[i]];
    if (walked > target) return order[i];
  }
  return order[keep - 1];
}

}  // namespace

// logits [B,V] (any float dtype), out i32 [B]: the first index of each row's largest logit
void argmax(const Tensor& logits, Tensor& out) {
  const int64_t B = logits.dim(0), V = logits.dim(1);
  int32_t* o = out.data<int32_t>();
  parallel_for(B, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> row;
    for (int64_t b = begin; b < end; b++) {
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
    for (int64_t b = begin; b < end; b++) {
      load_row(logits, b, row);
      if (temp[b] <= 0.0f || tk[b] == 1) {
        o[b] = argmax_row(row.data(), V);
      } else {
        o[b] = sample_row(row.data(), V, temp[b], tk[b], tp[b], mp[b], sample_uniform(seed[b], step[b]));
      }
    }
  });
}

}  // namespace cpu
}  // namespace gf

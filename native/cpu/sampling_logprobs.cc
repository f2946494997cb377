// Log-probabilities of the raw logits: each row's log-sum-exp, the sampled token's log-probability and the
// row's K most likely tokens. One row per task; only these few numbers leave the op, never the vocabulary.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/convert.h"
#include "cpu/cpu_ops.h"
#include "cpu/vecmath.h"

namespace gf {
namespace cpu {
namespace {

// The K largest values of x (most likely first; lower index first on ties), as (value, index) pairs.
void top_k_row(const float* x, int64_t V, int64_t K, std::vector<std::pair<float, int32_t>>& top) {
  top.clear();
  for (int64_t i = 0; i < V; i++) {
    const float v = x[i];
    if (static_cast<int64_t>(top.size()) == K && !(v > top.back().first)) continue;
    // after every entry ≥ v: an equal value found earlier (lower index) stays ahead
    auto at = std::find_if(top.begin(), top.end(), [v](const auto& e) { return e.first < v; });
    if (static_cast<int64_t>(top.size()) == K) top.pop_back();
    top.insert(at, {v, static_cast<int32_t>(i)});
  }
}

}  // namespace

// logits [S,V] (any float), tokens i32 [S] → token_logprobs f32 [S]; top_ids i32 [S,K], top_logprobs f32 [S,K]
void logprobs(const Tensor& logits, const Tensor& tokens, Tensor& token_logprobs, Tensor* top_ids, Tensor* top_logprobs) {
  const int64_t S = logits.dim(0), V = logits.dim(1);
  const int64_t K = top_ids ? top_ids->dim(1) : 0;
  const int32_t* tok = tokens.data<int32_t>();
  float* lp = token_logprobs.data<float>();
  const VecOps& vec = vec_ops();
  parallel_for(S, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> x(static_cast<size_t>(V)), e(static_cast<size_t>(V));
    std::vector<std::pair<float, int32_t>> top;
    top.reserve(static_cast<size_t>(K) + 1);
    for (int64_t b = begin; b < end; b++) {
      to_f32(element_ptr(logits.raw(), logits.dtype, b * V), logits.dtype, x.data(), V);
      for (float& v : x) v = std::isnan(v) ? -INFINITY : v;
      const float m = vec.max(x.data(), V);
      // log Σ exp(x − m): the exponentials in f32, their sum in double
      double lse = -INFINITY;
      if (std::isfinite(m)) {
        vec.exp_shift_sum(x.data(), m, e.data(), V);
        double sum[4] = {0, 0, 0, 0};
        int64_t i = 0;
        for (; i + 4 <= V; i += 4) {
          for (int k = 0; k < 4; k++) sum[k] += e[i + k];
        }
        for (; i < V; i++) sum[0] += e[i];
        lse = static_cast<double>(m) + std::log((sum[0] + sum[1]) + (sum[2] + sum[3]));
      }
      // a row with no finite maximum (all -inf, or +inf) has no distribution: every log-probability is -inf
      auto logprob = [&](float v) { return std::isfinite(lse) ? static_cast<float>(static_cast<double>(v) - lse) : -INFINITY; };
      lp[b] = logprob(x[tok[b]]);
      if (K > 0) {
        top_k_row(x.data(), V, K, top);
        int32_t* ids = top_ids->data<int32_t>() + b * K;
        float* tl = top_logprobs->data<float>() + b * K;
        for (int64_t k = 0; k < K; k++) {
          ids[k] = top[k].second;
          tl[k] = logprob(top[k].first);
        }
      }
    }
  });
}

}  // namespace cpu
}  // namespace gf

// Log-probabilities of the raw logits on the device, one block per row: the row's maximum and log-sum-exp
// (exponentials summed in double, as the CPU does), the sampled token's log-probability and the row's K most
// likely tokens — each thread keeps its own K best in registers, then K rounds of a block-wide argmax over
// the threads' heads merge them. Only S × (K + 1) numbers leave the device.
#include <climits>

#include "cuda/cuda_ops.h"
#include "cuda/device_faults.cuh"
#include "cuda/sampling.cuh"

namespace gf {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxTop = static_cast<int>(kMaxTopLogprobs);

__device__ __forceinline__ float finite_or_neg_inf(float v) { return isnan(v) ? -INFINITY : v; }

// Is (v, i) ahead of (w, j) in the order of the top list: larger value first, lower index first on ties.
__device__ __forceinline__ bool ahead(float v, int64_t i, float w, int64_t j) { return v > w || (v == w && i < j); }

struct Scratch {
  double sum[kWarps];
  float value[kWarps];
  int64_t index[kWarps];
  int owner[kWarps];
};

template <typename T>
__global__ void __launch_bounds__(kThreads)
    logprobs_kernel(const T* __restrict__ logits, int64_t V, const int32_t* tokens, int K, float* token_logprobs,
                    int32_t* top_ids, float* top_logprobs, DeviceFault* faults) {
  __shared__ float red[32];
  __shared__ Scratch sh;
  const int64_t b = blockIdx.x;
  const T* x = logits + b * V;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;

  // the row's maximum, and each thread's K best (its indices ascend, so a tie keeps the earlier one ahead)
  float best_v[kMaxTop];
  int64_t best_i[kMaxTop];
  int held = 0;
  float m = -INFINITY;
  for (int64_t i = threadIdx.x; i < V; i += kThreads) {
    const float v = finite_or_neg_inf(to_f32(x[i]));
    m = fmaxf(m, v);
    if (K == 0 || (held == K && !(v > best_v[K - 1]))) continue;
    int at = held < K ? held : K - 1;
    while (at > 0 && best_v[at - 1] < v) {
      best_v[at] = best_v[at - 1];
      best_i[at] = best_i[at - 1];
      at--;
    }
    best_v[at] = v;
    best_i[at] = i;
    if (held < K) held++;
  }
  m = block_max(m, red);

  // log Σ exp(x − m): exponentials in f32, their sum in double
  double local = 0;
  if (isfinite(m)) {
    for (int64_t i = threadIdx.x; i < V; i += kThreads) local += expf(finite_or_neg_inf(to_f32(x[i])) - m);
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) local += __shfl_xor_sync(0xffffffffu, local, o);
  if (lane == 0) sh.sum[warp] = local;
  __syncthreads();
  double total = 0;
  for (int w = 0; w < kWarps; w++) total += sh.sum[w];  // same order in every thread
  const double lse = isfinite(m) ? static_cast<double>(m) + log(total) : -INFINITY;
  // a row with no finite maximum has no distribution: every log-probability is -inf (as on the CPU)
  auto logprob = [&](float v) { return isfinite(lse) ? static_cast<float>(static_cast<double>(v) - lse) : -INFINITY; };

  if (threadIdx.x == 0) {
    int32_t t = tokens[b];
    if (t < 0 || t >= V) {
      report_fault(faults, FaultKind::LogprobsToken, b, t, V);
      t = 0;
    }
    token_logprobs[b] = logprob(finite_or_neg_inf(to_f32(x[t])));
  }

  // K rounds: the best head among the threads' lists wins and its thread moves to its next entry
  int head = 0;
  for (int k = 0; k < K; k++) {
    float v = head < held ? best_v[head] : -INFINITY;
    int64_t i = head < held ? best_i[head] : LLONG_MAX;
    int owner = threadIdx.x;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, v, o);
      const int64_t oi = __shfl_xor_sync(0xffffffffu, i, o);
      const int oo = __shfl_xor_sync(0xffffffffu, owner, o);
      if (ahead(ov, oi, v, i)) {
        v = ov;
        i = oi;
        owner = oo;
      }
    }
    __syncthreads();  // the previous round's winner has been read
    if (lane == 0) {
      sh.value[warp] = v;
      sh.index[warp] = i;
      sh.owner[warp] = owner;
    }
    __syncthreads();
    int win = 0;
    for (int w = 1; w < kWarps; w++) {
      if (ahead(sh.value[w], sh.index[w], sh.value[win], sh.index[win])) win = w;
    }
    if (threadIdx.x == sh.owner[win]) head++;
    if (threadIdx.x == 0) {
      top_ids[b * K + k] = static_cast<int32_t>(sh.index[win]);
      top_logprobs[b * K + k] = logprob(sh.value[win]);
    }
  }
}

}  // namespace

// logits [S,V] (any float), tokens i32 [S] → token_logprobs f32 [S]; top_ids i32 [S,K], top_logprobs f32 [S,K]
void logprobs(const Tensor& logits, const Tensor& tokens, Tensor& token_logprobs, Tensor* top_ids, Tensor* top_logprobs) {
  const Launch l = launch_for(token_logprobs);
  const int64_t S = logits.dim(0), V = logits.dim(1);
  if (S == 0) return;
  const int K = top_ids ? static_cast<int>(top_ids->dim(1)) : 0;
  with_float_type(logits.dtype, "logprobs", [&](auto tag) {
    using T = decltype(tag);
    logprobs_kernel<T><<<static_cast<unsigned>(S), kThreads, 0, l.stream>>>(
        cptr<T>(logits), V, cptr<int32_t>(tokens), K, mptr<float>(token_logprobs),
        top_ids ? mptr<int32_t>(*top_ids) : nullptr, top_logprobs ? mptr<float>(*top_logprobs) : nullptr, l.faults);
  });
  GF_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace gf

#include <climits>

#include "cpu/sample_rng.h"
#include "cuda/cuda_ops.h"
#include "cuda/device_faults.cuh"
#include "cuda/sampling.cuh"

namespace gf {
namespace cuda {
namespace {

constexpr int kThreads = 512;

// Order-preserving 32-bit key of a logit; NaN sorts lowest (the CPU gives it no weight).
__device__ __forceinline__ uint32_t order_key(float v) {
  if (isnan(v)) return 0u;
  const uint32_t b = __float_as_uint(v);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

// Elements with key > key, or key == key and index ≤ idx: a prefix of the sorted order.
struct Cut {
  uint32_t key;
  int64_t idx;
  __device__ __forceinline__ bool has(uint32_t k, int64_t i) const { return k > key || (k == key && i <= idx); }
};
constexpr int64_t kAllIdx = LLONG_MAX;

template <typename T>
struct Row {
  const T* x;
  int64_t V;
  float m;       // the row's largest logit
  float temp;
  double min_p;  // weights below it count as 0 (min(min_p, 1): the largest token always stays)
  __device__ __forceinline__ float val(int64_t i) const { return to_f32(x[i]); }
  // exactly the CPU's weight (sample_weight): exp(double(x - m) / temperature), 0 for NaN and below min_p
  __device__ __forceinline__ double weight(float v) const {
    if (isnan(v)) return 0.0;
    const double w = exp(static_cast<double>(v - m) / static_cast<double>(temp));
    return w < min_p ? 0.0 : w;
  }
};

struct BlockScratch {
  double hist[256];
  double red[32];
  int64_t idx[32];
  uint32_t key;
  double value;
  int64_t index;
  int flag;
};

__device__ double block_sum_d(double v, BlockScratch& sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();
  if (lane == 0) sh.red[warp] = v;
  __syncthreads();
  double t = 0;
  for (int w = 0; w < kThreads / 32; w++) t += sh.red[w];  // same order in every thread: identical results
  return t;
}

// Exclusive prefix (in thread order) of one double per thread.
__device__ double block_exclusive_scan_d(double v, BlockScratch& sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  double incl = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const double n = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += n;
  }
  __syncthreads();
  if (lane == 31) sh.red[warp] = incl;
  __syncthreads();
  double before = 0;
  for (int w = 0; w < warp; w++) before += sh.red[w];
  return before + incl - v;
}

__device__ int64_t block_max_i64(int64_t v, BlockScratch& sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = max(v, static_cast<int64_t>(__shfl_xor_sync(0xffffffffu, v, o)));
  __syncthreads();
  if (lane == 0) sh.idx[warp] = v;
  __syncthreads();
  int64_t t = LLONG_MIN;
  for (int w = 0; w < kThreads / 32; w++) t = max(t, sh.idx[w]);
  return t;
}

// The first index of the row's largest value (NaN never chosen; 0 when nothing compares).
template <typename T>
__device__ int64_t block_argmax(const T* x, int64_t V, BlockScratch& sh, float* max_out) {
  float best = -INFINITY;
  int64_t best_i = LLONG_MAX;
  for (int64_t i = threadIdx.x; i < V; i += kThreads) {
    const float v = to_f32(x[i]);
    if (v > best) {  // strided walk: a thread's first hit of its maximum is its lowest index
      best = v;
      best_i = i;
    }
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, best, o);
    const int64_t oi = __shfl_xor_sync(0xffffffffu, best_i, o);
    if (ov > best || (ov == best && oi < best_i)) {
      best = ov;
      best_i = oi;
    }
  }
  __syncthreads();
  if (lane == 0) {
    sh.red[warp] = best;
    sh.idx[warp] = best_i;
  }
  __syncthreads();
  best = -INFINITY;
  best_i = LLONG_MAX;
  for (int w = 0; w < kThreads / 32; w++) {
    const float v = static_cast<float>(sh.red[w]);
    if (v > best || (v == best && sh.idx[w] < best_i)) {
      best = v;
      best_i = sh.idx[w];
    }
  }
  if (max_out) *max_out = best;
  return best == -INFINITY ? 0 : best_i;  // like the CPU: nothing above -inf → index 0
}

// Σ over members (in both cuts) of 1 (kMass false) or the weight (kMass true) whose key ≥ τ, as a function
// of τ: finds the largest τ where it satisfies the goal (≥ goal, or > goal when kStrict), and the sum of
// the members strictly above τ. Four passes of 8-bit histograms from the top digit down; only a digit that
// holds members can be chosen, so τ is always a member's key (a goal already met by nothing — top-p 0, whose
// mass goal is 0 — gives the largest member's key, not an empty digit above every logit). False when no τ
// satisfies the goal (rounding at the very end of the order).
template <bool kMass, bool kStrict, typename T>
__device__ bool radix_search(const Row<T>& r, Cut c1, Cut c2, double goal, BlockScratch& sh, uint32_t* tau,
                             double* above) {
  uint32_t prefix = 0, mask = 0;
  double acc = 0;
  bool found = true;
  for (int level = 0; level < 4; level++) {
    const int shift = 24 - 8 * level;
    for (int i = threadIdx.x; i < 256; i += kThreads) sh.hist[i] = 0;
    __syncthreads();
    for (int64_t i = threadIdx.x; i < r.V; i += kThreads) {
      const float v = r.val(i);
      const uint32_t k = order_key(v);
      if ((k & mask) != prefix || !c1.has(k, i) || !c2.has(k, i)) continue;
      atomicAdd(&sh.hist[(k >> shift) & 255u], kMass ? r.weight(v) : 1.0);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      double run = acc;
      int chosen = -1;
      for (int d = 255; d >= 0; d--) {
        const double with = run + sh.hist[d];
        if (sh.hist[d] > 0 && (kStrict ? with > goal : with >= goal)) {
          chosen = d;
          break;
        }
        run = with;
      }
      sh.flag = chosen >= 0;
      sh.key = chosen >= 0 ? static_cast<uint32_t>(chosen) : 0u;
      sh.value = run;
    }
    __syncthreads();
    if (!sh.flag) found = false;
    prefix |= sh.key << shift;
    mask |= 255u << shift;
    acc = sh.value;
    __syncthreads();
  }
  *tau = prefix;
  *above = acc;
  return found;
}

// Among members with key == τ, walked in index order starting from `start`, the first member whose running
// sum (of 1 or the weight, the member included) satisfies the goal — the first member at all when `start`
// already does (a goal of 0); -1 if none does. One pass: each thread takes a contiguous run of indices, the
// runs' sums and member counts are scanned, and the one thread whose run holds that member walks it. Running
// sums only grow, so that is the thread whose last member meets the goal while no member before its run did
// (there is none, or the sum before its run does not meet the goal).
template <bool kMass, bool kStrict, typename T, typename Pred>
__device__ int64_t index_order_cut(const Row<T>& r, Pred member, double start, double goal, BlockScratch& sh) {
  const int64_t chunk = (r.V + kThreads - 1) / kThreads;
  const int64_t lo = min(r.V, int64_t(threadIdx.x) * chunk), hi = min(r.V, lo + chunk);
  double local = 0;
  int count = 0;
  for (int64_t i = lo; i < hi; i++) {
    const float v = r.val(i);
    if (member(v, i)) {
      local += kMass ? r.weight(v) : 1.0;
      count++;
    }
  }
  const double before = start + block_exclusive_scan_d(local, sh);
  const double members_before = block_exclusive_scan_d(static_cast<double>(count), sh);  // exact: counts < 2^53
  auto meets = [&](double s) { return kStrict ? s > goal : s >= goal; };
  if (threadIdx.x == 0) sh.index = -1;
  __syncthreads();
  if (count > 0 && meets(before + local) && (members_before == 0 || !meets(before))) {
    double cum = before;
    int64_t last = -1;
    for (int64_t i = lo; i < hi; i++) {
      const float v = r.val(i);
      if (!member(v, i)) continue;
      cum += kMass ? r.weight(v) : 1.0;
      last = i;
      if (meets(cum)) break;
    }
    // the walk adds in another order than before + local did: at a crossing within rounding, its last member
    sh.index = last;
  }
  __syncthreads();
  const int64_t result = sh.index;
  __syncthreads();
  return result;
}

// The CPU's sample_row for one row (see sampling.cuh): returns the token.
template <typename T>
__device__ int64_t sample_row(const Row<T>& r, int32_t top_k, float top_p, double u, BlockScratch& sh) {
  const int64_t V = r.V;
  const int64_t k = (top_k <= 0 || top_k >= V) ? V : top_k;
  const bool use_p = top_p < 1.0f;
  const Cut all{0u, kAllIdx};

  if (k == V && !use_p) {  // plain sampling: index order
    double local = 0;
    int64_t last = -1;
    for (int64_t i = threadIdx.x; i < V; i += kThreads) {
      const double w = r.weight(r.val(i));
      local += w;
      if (w > 0) last = i;
    }
    const double total = block_sum_d(local, sh);
    const int64_t last_positive = block_max_i64(last, sh);
    const double target = u * total;
    const int64_t hit = index_order_cut<true, true>(
        r, [&](float v, int64_t) { return r.weight(v) > 0; }, 0.0, target, sh);
    return hit >= 0 ? hit : max(last_positive, static_cast<int64_t>(0));
  }

  // 1. the top k (by key, ties by index)
  Cut cand = all;
  if (k < V) {
    uint32_t tau;
    double above;
    radix_search<false, false>(r, all, all, static_cast<double>(k), sh, &tau, &above);
    const int64_t icut = index_order_cut<false, false>(
        r, [&](float v, int64_t) { return order_key(v) == tau; }, above, static_cast<double>(k), sh);
    cand = Cut{tau, icut >= 0 ? icut : kAllIdx};
  }
  // 2. the smallest prefix of the candidates whose mass reaches top_p · their mass
  Cut kept = all;
  if (use_p) {
    double local = 0;
    for (int64_t i = threadIdx.x; i < V; i += kThreads) {
      const float v = r.val(i);
      if (cand.has(order_key(v), i)) local += r.weight(v);
    }
    const double need = static_cast<double>(top_p) * block_sum_d(local, sh);
    uint32_t tau;
    double above;
    if (radix_search<true, false>(r, cand, all, need, sh, &tau, &above)) {
      const int64_t icut = index_order_cut<true, false>(
          r, [&](float v, int64_t i) { return order_key(v) == tau && cand.has(tau, i); }, above, need, sh);
      kept = Cut{tau, icut >= 0 ? icut : kAllIdx};
    }
  }
  // 3. the first kept token (in sorted order) whose cumulative mass passes u · kept mass
  double local = 0;
  for (int64_t i = threadIdx.x; i < V; i += kThreads) {
    const float v = r.val(i);
    const uint32_t key = order_key(v);
    if (cand.has(key, i) && kept.has(key, i)) local += r.weight(v);
  }
  const double target = u * block_sum_d(local, sh);
  uint32_t tau;
  double above;
  if (radix_search<true, true>(r, cand, kept, target, sh, &tau, &above)) {
    const int64_t hit = index_order_cut<true, true>(
        r, [&](float v, int64_t i) { return order_key(v) == tau && cand.has(tau, i) && kept.has(tau, i); }, above,
        target, sh);
    if (hit >= 0) return hit;
  }
  // Rounding left nothing past the target: the last kept token in sorted order (as the CPU does).
  uint32_t low_key = 0xffffffffu;
  for (int64_t i = threadIdx.x; i < V; i += kThreads) {
    const uint32_t key = order_key(r.val(i));
    if (cand.has(key, i) && kept.has(key, i)) low_key = min(low_key, key);
  }
  low_key = static_cast<uint32_t>(-block_max_i64(-static_cast<int64_t>(low_key), sh));
  int64_t last = -1;
  for (int64_t i = threadIdx.x; i < V; i += kThreads) {
    const uint32_t key = order_key(r.val(i));
    if (key == low_key && cand.has(key, i) && kept.has(key, i)) last = max(last, i);
  }
  return max(block_max_i64(last, sh), static_cast<int64_t>(0));
}

template <typename T>
__global__ void __launch_bounds__(kThreads) argmax_kernel(const T* __restrict__ logits, int64_t V, int32_t* out) {
  __shared__ BlockScratch sh;
  const int64_t b = blockIdx.x;
  const int64_t best = block_argmax(logits + b * V, V, sh, nullptr);
  if (threadIdx.x == 0) out[b] = static_cast<int32_t>(best);
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    sample_kernel(const T* __restrict__ logits, int64_t V, const float* temperature, const int32_t* top_k,
                  const float* top_p, const float* min_p, const int64_t* seeds, const int32_t* steps, int32_t* out,
                  DeviceFault* faults) {
  __shared__ BlockScratch sh;
  const int64_t b = blockIdx.x;
  const T* x = logits + b * V;
  float temp = temperature[b], p = top_p[b], mp = min_p[b];
  if (!isfinite(temp)) {
    if (threadIdx.x == 0) report_fault(faults, FaultKind::SampleTemperature, b, 0, 0);
    temp = 0.0f;
  }
  if (isnan(p)) {
    if (threadIdx.x == 0) report_fault(faults, FaultKind::SampleTopP, b, 0, 0);
    p = 1.0f;
  }
  if (isnan(mp)) {
    if (threadIdx.x == 0) report_fault(faults, FaultKind::SampleMinP, b, 0, 0);
    mp = 0.0f;
  }
  float m;
  const int64_t best = block_argmax(x, V, sh, &m);
  int64_t token = best;
  if (!(temp <= 0.0f || top_k[b] == 1) && m > -INFINITY) {
    const Row<T> r{x, V, m, temp, fmin(static_cast<double>(mp), 1.0)};
    token = sample_row(r, top_k[b], p, sample_uniform(seeds[b], steps[b]), sh);
  }
  if (threadIdx.x == 0) out[b] = static_cast<int32_t>(token);
}

}  // namespace

// logits [B,V] (any float), out i32 [B]
void argmax(const Tensor& logits, Tensor& out) {
  const Launch l = launch_for(out);
  const int64_t B = logits.dim(0), V = logits.dim(1);
  if (B == 0) return;
  with_float_type(logits.dtype, "argmax", [&](auto tag) {
    using T = decltype(tag);
    argmax_kernel<T><<<static_cast<unsigned>(B), kThreads, 0, l.stream>>>(cptr<T>(logits), V, mptr<int32_t>(out));
  });
  GF_CUDA_LAUNCHED();
}

// logits [B,V]; temperature f32 [B], top_k i32 [B], top_p f32 [B], min_p f32 [B], seeds i64 [B], steps i32 [B];
// out i32 [B]
void sample(const Tensor& logits, const Tensor& temperature, const Tensor& top_k, const Tensor& top_p,
            const Tensor& min_p, const Tensor& seeds, const Tensor& steps, Tensor& out) {
  const Launch l = launch_for(out);
  const int64_t B = logits.dim(0), V = logits.dim(1);
  if (B == 0) return;
  with_float_type(logits.dtype, "sample", [&](auto tag) {
    using T = decltype(tag);
    sample_kernel<T><<<static_cast<unsigned>(B), kThreads, 0, l.stream>>>(
        cptr<T>(logits), V, cptr<float>(temperature), cptr<int32_t>(top_k), cptr<float>(top_p), cptr<float>(min_p),
        cptr<int64_t>(seeds), cptr<int32_t>(steps), mptr<int32_t>(out), l.faults);
  });
  GF_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace gf

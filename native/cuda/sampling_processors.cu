// The logits processors and the token counts they read, on the device: the CPU's arithmetic element for
// element (native/cpu/sampling_processors.cc), one block per row. Bad indices are reported through the
// device fault record and skipped, never read out of bounds.
#include "cuda/cuda_ops.h"
#include "cuda/device_faults.cuh"
#include "cuda/sampling.cuh"

namespace gf {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// process_logits' tensors as raw pointers (null where a group is absent) and their sizes.
struct ProcessArgs {
  const uint32_t* mask_words;
  const int32_t* mask_rows;
  int64_t mask_count, words;
  const int32_t* bias_offsets;
  const int32_t* bias_tokens;
  const float* bias_values;
  int64_t bias_count;
  const uint32_t* counts;
  const int32_t* slots;
  const float* repetition;
  const float* frequency;
  const float* presence;
  int64_t slot_count;
};

// A row index of [-1, n) (-1: none), or -1 with a fault when it is outside.
__device__ __forceinline__ int64_t checked_row(DeviceFault* f, FaultKind kind, int64_t where, int32_t v, int64_t n) {
  if (v < -1 || v >= n) {
    if (threadIdx.x == 0) report_fault(f, kind, where, v, n);
    return -1;
  }
  return v;
}

// Entries [lo, hi) of row b of an offsets list over n entries, clamped and reported when broken.
__device__ __forceinline__ void checked_range(DeviceFault* f, FaultKind kind, const int32_t* off, int64_t b, int64_t n,
                                              int64_t* lo, int64_t* hi) {
  const int64_t a = off[b], e = off[b + 1];
  if (threadIdx.x == 0) {
    if (b == 0 && a != 0) report_fault(f, kind, 0, a, n);
    if (e < a || e > n) report_fault(f, kind, b + 1, e, n);
  }
  *lo = a < 0 ? 0 : (a > n ? n : a);
  *hi = e < *lo ? *lo : (e > n ? n : e);
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    process_logits_kernel(const T* __restrict__ logits, int64_t V, ProcessArgs a, float* __restrict__ out,
                          DeviceFault* faults) {
  const int64_t b = blockIdx.x;
  const T* x = logits + b * V;
  float* o = out + b * V;

  // 1. the token mask
  const uint32_t* mask = nullptr;
  if (a.mask_rows) {
    const int64_t r = checked_row(faults, FaultKind::MaskRow, b, a.mask_rows[b], a.mask_count);
    if (r >= 0) mask = a.mask_words + r * a.words;
  }
  for (int64_t i = threadIdx.x; i < V; i += kThreads) {
    float v = to_f32(x[i]);
    if (mask && !((mask[i >> 5] >> (i & 31)) & 1u)) v = -INFINITY;
    o[i] = v;
  }
  __syncthreads();  // the bias and the penalties read what other threads wrote

  // 2. the logit bias (tokens distinct within a row, so no two threads add to one logit)
  if (a.bias_offsets) {
    int64_t lo, hi;
    checked_range(faults, FaultKind::BiasOffsets, a.bias_offsets, b, a.bias_count, &lo, &hi);
    for (int64_t j = lo + threadIdx.x; j < hi; j += kThreads) {
      const int32_t t = a.bias_tokens[j];
      if (t < 0 || t >= V) {
        report_fault(faults, FaultKind::BiasToken, j, t, V);
        continue;
      }
      o[t] += a.bias_values[j];
    }
    __syncthreads();
  }

  // 3. the penalties
  if (a.slots) {
    const int64_t slot = checked_row(faults, FaultKind::PenaltySlot, b, a.slots[b], a.slot_count);
    const float rep = a.repetition[b], freq = a.frequency[b], pres = a.presence[b];
    const bool ok = isfinite(rep) && rep > 0 && isfinite(freq) && isfinite(pres);
    if (slot >= 0 && !ok && threadIdx.x == 0) report_fault(faults, FaultKind::PenaltyValue, b, 0, 0);
    if (slot >= 0 && ok) {
      const uint32_t* c = a.counts + slot * V;
      for (int64_t i = threadIdx.x; i < V; i += kThreads) {
        const uint32_t n = c[i];
        if (n == 0) continue;
        const uint32_t out_n = n & kOutputCountMask;
        float v = o[i];
        // the CPU's operations one by one: IEEE division and no fused multiply-add despite --use_fast_math
        v = v > 0 ? __fdiv_rn(v, rep) : __fmul_rn(v, rep);
        v = __fsub_rn(v, __fmul_rn(freq, static_cast<float>(out_n)));
        if (out_n > 0) v = __fsub_rn(v, pres);
        o[i] = v;
      }
    }
  }
}

__global__ void __launch_bounds__(kThreads)
    count_tokens_kernel(uint32_t* __restrict__ counts, int64_t C, int64_t V, const int32_t* slots, const int32_t* reset,
                        const int32_t* offsets, const int32_t* tokens, int64_t N, DeviceFault* faults) {
  const int64_t r = blockIdx.x;
  const int64_t slot = checked_row(faults, FaultKind::CountSlot, r, slots[r], C);
  if (slot < 0) return;
  uint32_t* row = counts + slot * V;
  if (reset && reset[r]) {
    for (int64_t i = threadIdx.x; i < V; i += kThreads) row[i] = 0u;
    __syncthreads();
  }
  int64_t lo, hi;
  checked_range(faults, FaultKind::CountOffsets, offsets, r, N, &lo, &hi);
  for (int64_t j = lo + threadIdx.x; j < hi; j += kThreads) {
    const int32_t e = tokens[j];
    const int32_t t = e < 0 ? ~e : e;
    if (t >= V) {
      report_fault(faults, FaultKind::CountToken, j, e, V);
      continue;
    }
    if (e < 0) atomicOr(row + t, kPromptTokenBit);
    else atomicAdd(row + t, 1u);
  }
}

}  // namespace

// logits [S,V] (any float) → out f32 [S,V]
void process_logits(const Tensor& logits, const LogitsProcessors& p, Tensor& out) {
  const Launch l = launch_for(out);
  const int64_t S = logits.dim(0), V = logits.dim(1);
  if (S == 0) return;
  ProcessArgs a{};
  if (p.mask_words) {
    a.mask_words = reinterpret_cast<const uint32_t*>(p.mask_words->raw());
    a.mask_rows = cptr<int32_t>(*p.mask_rows);
    a.mask_count = p.mask_words->dim(0);
    a.words = p.mask_words->dim(1);
  }
  if (p.bias_offsets) {
    a.bias_offsets = cptr<int32_t>(*p.bias_offsets);
    a.bias_tokens = cptr<int32_t>(*p.bias_tokens);
    a.bias_values = cptr<float>(*p.bias_values);
    a.bias_count = p.bias_tokens->dim(0);
  }
  if (p.counts) {
    a.counts = reinterpret_cast<const uint32_t*>(p.counts->raw());
    a.slots = cptr<int32_t>(*p.penalty_slots);
    a.repetition = cptr<float>(*p.repetition);
    a.frequency = cptr<float>(*p.frequency);
    a.presence = cptr<float>(*p.presence);
    a.slot_count = p.counts->dim(0);
  }
  with_float_type(logits.dtype, "process_logits", [&](auto tag) {
    using T = decltype(tag);
    process_logits_kernel<T><<<static_cast<unsigned>(S), kThreads, 0, l.stream>>>(cptr<T>(logits), V, a,
                                                                                  mptr<float>(out), l.faults);
  });
  GF_CUDA_LAUNCHED();
}

// counts i32 [C,V]; slots, reset (optional) i32 [R]; offsets i32 [R+1]; tokens i32 [N]
void count_tokens(Tensor& counts, const Tensor& slots, const Tensor* reset, const Tensor& offsets, const Tensor& tokens) {
  const Launch l = launch_for(counts);
  const int64_t R = slots.dim(0);
  if (R == 0) return;
  count_tokens_kernel<<<static_cast<unsigned>(R), kThreads, 0, l.stream>>>(
      reinterpret_cast<uint32_t*>(counts.raw()), counts.dim(0), counts.dim(1), cptr<int32_t>(slots),
      cptr_or_null<int32_t>(reset), cptr<int32_t>(offsets), cptr<int32_t>(tokens), tokens.dim(0), l.faults);
  GF_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace gf

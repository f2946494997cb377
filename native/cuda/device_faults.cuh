// The device side of device_faults.h: how a kernel reports a bad value.
#pragma once
#include "cuda/device_faults.h"

namespace gf {
namespace cuda {

// Records the first fault of the stream's current work; later ones are dropped (one message is enough).
__device__ __forceinline__ void report_fault(DeviceFault* f, FaultKind kind, int64_t index, int64_t value,
                                             int64_t limit) {
  if (atomicCAS(&f->set, 0u, 1u) == 0u) {
    f->kind = static_cast<int32_t>(kind);
    f->index = index;
    f->value = value;
    f->limit = limit;
    __threadfence_system();
  }
}

// An index that must lie in [0, n): reported when it does not, and clamped so the caller never reads out
// of bounds.
__device__ __forceinline__ int checked_index(DeviceFault* f, FaultKind kind, int64_t where, int value, int n) {
  if (value < 0 || value >= n) {
    report_fault(f, kind, where, value, n);
    return value < 0 ? 0 : n - 1;
  }
  return value;
}

}  // namespace cuda
}  // namespace gf

namespace gf {
namespace cuda {

// Tokens [start, end) of sequence b in a packed batch of T tokens described by cu_seqlens [B+1]. Reports a
// cu_seqlens that is not 0 = cu[0] ≤ … ≤ cu[B] = T, and clamps so the caller stays inside the batch.
__device__ __forceinline__ void checked_seq_bounds(DeviceFault* f, const int32_t* cu, int b, int B, int64_t T,
                                                   int64_t* start, int64_t* end) {
  const int64_t s = cu[b], e = cu[b + 1];
  if (b == 0 && s != 0) report_fault(f, FaultKind::CuSeqlens, 0, s, T);
  if (b == B - 1 && e != T) report_fault(f, FaultKind::CuSeqlens, B, e, T);
  if (e < s || s < 0 || e > T) report_fault(f, FaultKind::CuSeqlens, b + 1, e, T);
  *start = s < 0 ? 0 : (s > T ? T : s);
  *end = e < *start ? *start : (e > T ? T : e);
}

}  // namespace cuda
}  // namespace gf

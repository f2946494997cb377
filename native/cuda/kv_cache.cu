#include "cuda/cuda_ops.h"
#include "cuda/device_faults.cuh"
#include "cuda/kv_cache.cuh"

namespace gf {
namespace cuda {
namespace {

// k, v [T, row] -> k_cache, v_cache [slots, row] at slot_mapping[t]; one block per token, W-sized words.
template <typename W>
__global__ void kv_cache_write_kernel(const W* __restrict__ k, const W* __restrict__ v, W* __restrict__ k_cache,
                                      W* __restrict__ v_cache, const int32_t* __restrict__ slots, int64_t words,
                                      int64_t num_slots, DeviceFault* faults) {
  const int t = blockIdx.x;
  const int64_t slot = slots[t];
  if (slot < 0) return;  // padding token: nothing to store
  if (slot >= num_slots) {
    if (threadIdx.x == 0) report_fault(faults, FaultKind::SlotMapping, t, slot, num_slots);
    return;
  }
  const W* ks = k + int64_t(t) * words;
  const W* vs = v + int64_t(t) * words;
  W* kd = k_cache + slot * words;
  W* vd = v_cache + slot * words;
  for (int64_t i = threadIdx.x; i < words; i += blockDim.x) {
    kd[i] = ks[i];
    vd[i] = vs[i];
  }
}

template <typename W>
void launch_kv_write(const Tensor& k, const Tensor& v, Tensor& kc, Tensor& vc, const Tensor& slots, int64_t row_bytes,
                     cudaStream_t stream, DeviceFault* faults) {
  const int64_t T = k.dim(0), words = row_bytes / int64_t(sizeof(W));
  const int64_t num_slots = kc.dim(0) * kc.dim(1);
  const int threads = words >= 256 ? 256 : words >= 64 ? 64 : 32;
  kv_cache_write_kernel<W><<<static_cast<unsigned>(T), threads, 0, stream>>>(
      cptr<W>(k), cptr<W>(v), mptr<W>(kc), mptr<W>(vc), cptr<int32_t>(slots), words, num_slots, faults);
}

}  // namespace

// k, v [T,Hkv,D]; k_cache, v_cache [num_blocks, block_size, Hkv, D]; slot_mapping i32 [T] (negative: skip)
void kv_cache_write(const Tensor& k, const Tensor& v, Tensor& k_cache, Tensor& v_cache, const Tensor& slot_mapping) {
  const Launch l = launch_for(k_cache);
  const int64_t T = k.dim(0);
  const int64_t row_bytes = static_cast<int64_t>(dtype_bytes(k.dtype, k.dim(1) * k.dim(2)));
  if (T == 0 || row_bytes == 0) return;
  GF_CHECK_INPUT(T <= 0x7fffffff, "kv_cache_write: too many tokens (", T, ")");
  const bool wide = row_bytes % 16 == 0 && aligned16(k.raw()) && aligned16(v.raw()) && aligned16(k_cache.raw()) &&
                    aligned16(v_cache.raw());
  if (wide) {
    launch_kv_write<uint4>(k, v, k_cache, v_cache, slot_mapping, row_bytes, l.stream, l.faults);
  } else if (row_bytes % 4 == 0 && ((reinterpret_cast<uintptr_t>(k.raw()) | reinterpret_cast<uintptr_t>(v.raw()) |
                                     reinterpret_cast<uintptr_t>(k_cache.raw()) |
                                     reinterpret_cast<uintptr_t>(v_cache.raw())) & 3) == 0) {
    launch_kv_write<uint32_t>(k, v, k_cache, v_cache, slot_mapping, row_bytes, l.stream, l.faults);
  } else {
    launch_kv_write<uint16_t>(k, v, k_cache, v_cache, slot_mapping, row_bytes, l.stream, l.faults);
  }
  GF_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace gf

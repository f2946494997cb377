// What every kernel file shares: element types and their f32 conversions, 16-byte vector access, warp and
// block reductions, the dtype switch that turns a runtime DType into a template argument, and the launch
// context (device made current, its op stream).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "cuda/device_faults.h"
#include "cuda/stream.h"
#include "gpuformer/tensor.h"

namespace gf {
namespace cuda {

using half = __half;
using bf16 = __nv_bfloat16;

// ------------------------------------------------------------------------------------------ conversions
__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(half x) { return __half2float(x); }
__device__ __forceinline__ float to_f32(bf16 x) { return __bfloat162float(x); }

template <typename T>
__device__ __forceinline__ T from_f32(float x);
template <>
__device__ __forceinline__ float from_f32<float>(float x) { return x; }
template <>
__device__ __forceinline__ half from_f32<half>(float x) { return __float2half_rn(x); }
template <>
__device__ __forceinline__ bf16 from_f32<bf16>(float x) { return __float2bfloat16_rn(x); }

// ------------------------------------------------------------------------------- 16-byte vector access
// Vec<T> holds the kVecElems<T> elements that fit in 16 bytes: one load or store instruction each.
template <typename T>
constexpr int kVecElems = 16 / sizeof(T);

template <typename T>
struct alignas(16) Vec {
  T v[kVecElems<T>];
};

template <typename T>
__device__ __forceinline__ Vec<T> load_vec(const T* p) {
  Vec<T> r;
  *reinterpret_cast<uint4*>(&r) = __ldg(reinterpret_cast<const uint4*>(p));
  return r;
}

template <typename T>
__device__ __forceinline__ Vec<T> zero_vec() {
  Vec<T> r;
  *reinterpret_cast<uint4*>(&r) = make_uint4(0, 0, 0, 0);
  return r;
}

template <typename T>
__device__ __forceinline__ void store_vec(T* p, const Vec<T>& v) {
  *reinterpret_cast<uint4*>(p) = *reinterpret_cast<const uint4*>(&v);
}

// --------------------------------------------------------------------------------------- reductions
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the whole block; every thread gets the result. `scratch` holds 32 floats. Call from all threads.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous reduction
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : 0.0f;
  return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : -INFINITY;
  return warp_max(v);
}

// ------------------------------------------------------------------------------------- host helpers
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// The device an op runs on made current for this thread, and its op stream.
struct Launch {
  int device;
  cudaStream_t stream;
  DeviceFault* faults;  // where kernels report bad indices (device_faults.h)
};

inline Launch launch_for(const Tensor& t) {
  const int dev = t.device().index;
  use_device(dev);
  return Launch{dev, op_stream(dev), fault_slot(dev)};
}

// A kernel launch failure (bad configuration, no kernel image for this GPU) as ERR_GPUFORMER_CUDA.
#define GF_CUDA_LAUNCHED() GF_CUDA_CHECK(cudaGetLastError())

// Calls f(T{}) with T the element type of a float DType; activations are f32, f16 or bf16.
template <typename F>
void with_float_type(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::F32: f(float{}); return;
    case DType::F16: f(half{}); return;
    case DType::BF16: f(bf16{}); return;
    default: fail(ErrorCode::Input, op, ": expected f32, f16 or bf16, got ", dtype_name(t));
  }
}

// The DType of an element type (the inverse of with_float_type).
template <typename T>
constexpr DType dtype_of() {
  return std::is_same<T, half>::value ? DType::F16 : std::is_same<T, bf16>::value ? DType::BF16 : DType::F32;
}

template <typename T>
const T* cptr(const Tensor& t) { return reinterpret_cast<const T*>(t.raw()); }
template <typename T>
T* mptr(Tensor& t) { return reinterpret_cast<T*>(t.raw()); }
template <typename T>
const T* cptr_or_null(const Tensor* t) { return t ? reinterpret_cast<const T*>(t->raw()) : nullptr; }

}  // namespace cuda
}  // namespace gf

// The CUDA runtime behind gpuformer/cuda_runtime.h. cudart is linked statically, so this loads on machines
// without a driver; cudaGetDeviceCount then answers with the driver's reason instead of crashing.
#include <cuda_runtime_api.h>

#include <mutex>
#include <vector>

#include "cuda/stream.h"
#include "gpuformer/cuda_runtime.h"

namespace gf {
namespace cuda {
namespace {

std::mutex g_mutex;
std::vector<cudaStream_t> g_streams;

}  // namespace

bool compiled() { return true; }

std::string unavailable_reason() {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls are not poisoned
    return cudaGetErrorString(err);
  }
  if (n == 0) return "no CUDA device is visible";
  return "";
}

std::vector<DeviceInfo> devices() {
  std::vector<DeviceInfo> out;
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return out;
  }
  for (int i = 0; i < n; i++) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    DeviceInfo d;
    d.index = i;
    d.name = prop.name;
    d.cc_major = prop.major;
    d.cc_minor = prop.minor;
    d.multiprocessors = prop.multiProcessorCount;
    d.total_bytes = static_cast<int64_t>(prop.totalGlobalMem);
    size_t free_b = 0, total_b = 0;
    if (cudaSetDevice(i) == cudaSuccess && cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) {
      d.free_bytes = static_cast<int64_t>(free_b);
    }
    out.push_back(d);
  }
  return out;
}

void use_device(int device) { GF_CUDA_CHECK(cudaSetDevice(device)); }

cudaStream_t op_stream(int device) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (static_cast<int>(g_streams.size()) <= device) g_streams.resize(device + 1, nullptr);
  if (!g_streams[device]) {
    GF_CUDA_CHECK(cudaSetDevice(device));
    GF_CUDA_CHECK(cudaStreamCreateWithFlags(&g_streams[device], cudaStreamNonBlocking));
  }
  return g_streams[device];
}

void* device_malloc(int device, size_t bytes) {
  use_device(device);
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    return nullptr;
  }
  GF_CUDA_CHECK(err);
  return p;
}

void device_free(int device, void* ptr) {
  if (cudaSetDevice(device) != cudaSuccess) return;
  // Work in flight may still read this buffer: drain the stream first (frees are rare: engine teardown).
  cudaStreamSynchronize(op_stream(device));
  cudaFree(ptr);
}

void copy_h2d(int device, void* dst, const void* src, size_t bytes) {
  use_device(device);
  cudaStream_t s = op_stream(device);
  GF_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s));
  GF_CUDA_CHECK(cudaStreamSynchronize(s));  // src is pageable host memory the caller may reuse at once
}

void copy_d2h(int device, void* dst, const void* src, size_t bytes) {
  use_device(device);
  cudaStream_t s = op_stream(device);
  GF_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s));
  GF_CUDA_CHECK(cudaStreamSynchronize(s));
}

void copy_d2d(int device, void* dst, const void* src, size_t bytes) {
  use_device(device);
  GF_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, op_stream(device)));
}

void memset_device(int device, void* dst, int value, size_t bytes) {
  use_device(device);
  GF_CUDA_CHECK(cudaMemsetAsync(dst, value, bytes, op_stream(device)));
}

void synchronize(int device) {
  use_device(device);
  GF_CUDA_CHECK(cudaStreamSynchronize(op_stream(device)));
}

}  // namespace cuda
}  // namespace gf

// The CUDA runtime behind gpuformer/cuda_runtime.h. cudart is linked statically, so this loads on machines
// without a driver; cudaGetDeviceCount then answers with the driver's reason instead of crashing.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/device_faults.h"
#include "cuda/stream.h"
#include "gpuformer/cuda_runtime.h"

namespace gf {
namespace cuda {
namespace {

std::mutex g_mutex;
std::vector<cudaStream_t> g_streams;

// Uploads go through two pinned host buffers per device: the CPU fills one while the DMA engine drains the
// other, so a large upload runs at PCIe speed instead of the pageable-memory path's bounce copy, and the
// caller's (pageable) buffer is free again when copy_h2d returns.
constexpr size_t kStagingChunk = 8 << 20;
constexpr size_t kDirectCopyMax = 64 << 10;  // small uploads: one plain copy is cheaper than staging

struct Staging {
  std::mutex mutex;
  void* buf[2] = {nullptr, nullptr};
  cudaEvent_t done[2] = {nullptr, nullptr};  // the DMA that last read buf[i] has finished
};

std::mutex g_staging_mutex;
auto& g_staging = *new std::vector<std::unique_ptr<Staging>>();  // never destroyed (see workspace.cc)

Staging& staging(int device) {
  std::lock_guard<std::mutex> lock(g_staging_mutex);
  if (static_cast<int>(g_staging.size()) <= device) g_staging.resize(device + 1);
  if (!g_staging[device]) {
    auto st = std::make_unique<Staging>();
    for (int i = 0; i < 2; i++) {
      GF_CUDA_CHECK(cudaHostAlloc(&st->buf[i], kStagingChunk, cudaHostAllocPortable));
      GF_CUDA_CHECK(cudaEventCreateWithFlags(&st->done[i], cudaEventDisableTiming));
    }
    g_staging[device] = std::move(st);
  }
  return *g_staging[device];
}

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

int multiprocessor_count(int device) {
  static std::mutex mutex;
  static auto& cache = *new std::vector<int>();  // never destroyed (see workspace.cc)
  std::lock_guard<std::mutex> lock(mutex);
  if (static_cast<int>(cache.size()) <= device) cache.resize(device + 1, 0);
  if (cache[device] == 0) GF_CUDA_CHECK(cudaDeviceGetAttribute(&cache[device], cudaDevAttrMultiProcessorCount, device));
  return cache[device];
}

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
  if (bytes <= kDirectCopyMax) {
    GF_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s));
    GF_CUDA_CHECK(cudaStreamSynchronize(s));  // src is pageable host memory the caller may reuse at once
    return;
  }
  Staging& st = staging(device);
  std::lock_guard<std::mutex> lock(st.mutex);
  const char* from = static_cast<const char*>(src);
  char* to = static_cast<char*>(dst);
  int which = 0;
  for (size_t done = 0; done < bytes; done += kStagingChunk, which ^= 1) {
    const size_t n = std::min(kStagingChunk, bytes - done);
    GF_CUDA_CHECK(cudaEventSynchronize(st.done[which]));  // its previous DMA has read the buffer
    std::memcpy(st.buf[which], from + done, n);
    GF_CUDA_CHECK(cudaMemcpyAsync(to + done, st.buf[which], n, cudaMemcpyHostToDevice, s));
    GF_CUDA_CHECK(cudaEventRecord(st.done[which], s));
  }
  GF_CUDA_CHECK(cudaStreamSynchronize(s));
}

void copy_d2h(int device, void* dst, const void* src, size_t bytes) {
  use_device(device);
  cudaStream_t s = op_stream(device);
  GF_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s));
  GF_CUDA_CHECK(cudaStreamSynchronize(s));
  raise_device_fault(device);  // what the host reads may rest on a clamped index
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
  raise_device_fault(device);
}

struct Graph {
  cudaGraphExec_t exec = nullptr;
  ~Graph() {
    if (exec) cudaGraphExecDestroy(exec);
  }
};

std::shared_ptr<Graph> capture_graph(int device, const std::function<void()>& enqueue, std::string* why) {
  use_device(device);
  cudaStream_t s = op_stream(device);
  auto refuse = [&](const std::string& reason) -> std::shared_ptr<Graph> {
    cudaGetLastError();  // capture errors are not sticky; clear the last-error slot for the next op
    if (why) *why = reason;
    return nullptr;
  };
  // Thread-local mode: only this thread's calls are checked, so other engines' threads may keep working.
  cudaError_t err = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
  if (err != cudaSuccess) return refuse(std::string("cudaStreamBeginCapture: ") + cudaGetErrorString(err));
  std::string failed;
  try {
    enqueue();
  } catch (const std::exception& e) {
    failed = e.what();
  }
  cudaGraph_t graph = nullptr;
  err = cudaStreamEndCapture(s, &graph);  // always ends the capture, so the stream is usable again
  if (!failed.empty() || err != cudaSuccess || !graph) {
    if (graph) cudaGraphDestroy(graph);
    return refuse(!failed.empty() ? failed : std::string("cudaStreamEndCapture: ") + cudaGetErrorString(err));
  }
  auto g = std::make_shared<Graph>();
  err = cudaGraphInstantiate(&g->exec, graph, 0);
  cudaGraphDestroy(graph);
  if (err != cudaSuccess) {
    g->exec = nullptr;
    return refuse(std::string("cudaGraphInstantiate: ") + cudaGetErrorString(err));
  }
  return g;
}

void launch_graph(int device, const Graph& graph) {
  use_device(device);
  GF_CUDA_CHECK(cudaGraphLaunch(graph.exec, op_stream(device)));
}

}  // namespace cuda
}  // namespace gf

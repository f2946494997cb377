// Streamed weights on CUDA (gpuformer/copy_queue.h), pinned host memory, and the host → device bandwidth that
// prices them. A queue owns a copy stream (non-blocking, so it overlaps the op stream's kernels) and two events
// per slot: `ready` (recorded on the copy stream after a slot's copies) and `free` (recorded on the op stream
// after the ops that read the slot). A fetch waits for `free`, copies, records `ready`; the op stream waits for
// `ready` before the layer. Captured into a CUDA graph the same calls become graph edges: the copy stream joins
// the capture through the op stream's `free` record (a program releases its slots before its first fetch) and
// rejoins it at each `ready` wait, and copies from pinned memory are legal graph nodes.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <mutex>
#include <vector>

#include "cuda/cuda_ops.h"
#include "cuda/stream.h"
#include "gpuformer/cuda_runtime.h"

namespace gf {
namespace cuda {
namespace {

struct QueueState {
  int device = 0;
  cudaStream_t stream = nullptr;
  std::vector<cudaEvent_t> ready, free;

  QueueState(int dev, int slots) : device(dev), ready(slots, nullptr), free(slots, nullptr) {
    use_device(dev);
    GF_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    for (int i = 0; i < slots; i++) {
      GF_CUDA_CHECK(cudaEventCreateWithFlags(&ready[i], cudaEventDisableTiming));
      GF_CUDA_CHECK(cudaEventCreateWithFlags(&free[i], cudaEventDisableTiming));
    }
  }
  ~QueueState() {
    if (cudaSetDevice(device) != cudaSuccess) return;
    if (stream) cudaStreamSynchronize(stream);
    for (cudaEvent_t e : ready) if (e) cudaEventDestroy(e);
    for (cudaEvent_t e : free) if (e) cudaEventDestroy(e);
    if (stream) cudaStreamDestroy(stream);
  }
};

std::mutex g_state_mutex;

QueueState& state_of(CopyQueue& q) {
  std::lock_guard<std::mutex> lock(g_state_mutex);
  if (!q.state) q.state = std::make_shared<QueueState>(q.device.index, q.slots);
  return *static_cast<QueueState*>(q.state.get());
}

}  // namespace

void fetch_slot(CopyQueue& queue, int slot, const std::vector<Tensor>& src, const std::vector<Tensor>& dst) {
  QueueState& st = state_of(queue);
  use_device(st.device);
  GF_CUDA_CHECK(cudaStreamWaitEvent(st.stream, st.free[slot], 0));
  for (size_t i = 0; i < src.size(); i++) {
    GF_CUDA_CHECK(cudaMemcpyAsync(dst[i].raw(), src[i].raw(), src[i].nbytes(), cudaMemcpyHostToDevice, st.stream));
  }
  GF_CUDA_CHECK(cudaEventRecord(st.ready[slot], st.stream));
}

void wait_slot(CopyQueue& queue, int slot) {
  QueueState& st = state_of(queue);
  use_device(st.device);
  GF_CUDA_CHECK(cudaStreamWaitEvent(op_stream(st.device), st.ready[slot], 0));
}

void release_slot(CopyQueue& queue, int slot) {
  QueueState& st = state_of(queue);
  use_device(st.device);
  GF_CUDA_CHECK(cudaEventRecord(st.free[slot], op_stream(st.device)));
}

void* host_alloc(size_t bytes) {
  void* p = nullptr;
  const cudaError_t err = cudaHostAlloc(&p, bytes, cudaHostAllocPortable);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    return nullptr;
  }
  GF_CUDA_CHECK(err);
  return p;
}

void host_free(void* ptr) { cudaFreeHost(ptr); }

double host_to_device_bandwidth(int device) {
  static std::mutex mutex;
  static auto& measured = *new std::vector<double>();  // never destroyed (see workspace.cc)
  std::lock_guard<std::mutex> lock(mutex);
  if (static_cast<int>(measured.size()) <= device) measured.resize(device + 1, 0.0);
  if (measured[device] > 0) return measured[device];
  // 64 MiB from pinned memory, eight times after one warm-up copy, timed by events on a stream of its own
  constexpr size_t kBytes = size_t{64} << 20;
  constexpr int kRepeat = 8;
  use_device(device);
  void* host = host_alloc(kBytes);
  GF_CHECK(host != nullptr, OOM, "measuring host → device bandwidth: no pinned memory for ", kBytes, " bytes");
  void* dev = nullptr;
  cudaStream_t s = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  auto cleanup = [&] {
    if (s) cudaStreamSynchronize(s);
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    if (s) cudaStreamDestroy(s);
    if (dev) cudaFree(dev);
    host_free(host);
  };
  try {
    GF_CUDA_CHECK(cudaMalloc(&dev, kBytes));
    GF_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    GF_CUDA_CHECK(cudaEventCreate(&start));
    GF_CUDA_CHECK(cudaEventCreate(&stop));
    GF_CUDA_CHECK(cudaMemcpyAsync(dev, host, kBytes, cudaMemcpyHostToDevice, s));
    GF_CUDA_CHECK(cudaEventRecord(start, s));
    for (int i = 0; i < kRepeat; i++) GF_CUDA_CHECK(cudaMemcpyAsync(dev, host, kBytes, cudaMemcpyHostToDevice, s));
    GF_CUDA_CHECK(cudaEventRecord(stop, s));
    GF_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    GF_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    measured[device] = static_cast<double>(kBytes) * kRepeat / (std::max(ms, 1e-3f) * 1e-3);
  } catch (...) {
    cleanup();
    throw;
  }
  cleanup();
  return measured[device];
}

}  // namespace cuda
}  // namespace gf

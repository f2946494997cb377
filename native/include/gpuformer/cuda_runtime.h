// What the rest of the code needs from the CUDA runtime, behind plain C++ so that files outside native/cuda
// never include CUDA headers. Implemented by native/cuda/runtime.cc when the CUDA backend is compiled in,
// and by native/core/cuda_absent.cc otherwise (every call then reports why CUDA is unavailable).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace gf {
namespace cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  int64_t total_bytes = 0, free_bytes = 0;
  int multiprocessors = 0;
};

bool compiled();                       // true when this binary has the CUDA backend
std::string unavailable_reason();      // empty when at least one device is usable; the driver's words otherwise
std::vector<DeviceInfo> devices();     // empty when unavailable

void* device_malloc(int device, size_t bytes);  // nullptr when out of memory
void device_free(int device, void* ptr);
void copy_h2d(int device, void* dst, const void* src, size_t bytes);  // synchronous w.r.t. the op stream
void copy_d2h(int device, void* dst, const void* src, size_t bytes);
void copy_d2d(int device, void* dst, const void* src, size_t bytes);
void memset_device(int device, void* dst, int value, size_t bytes);
// Page-locked host memory (cudaHostAlloc, portable to every device): nullptr when the driver has none left.
// Without the CUDA backend or a device: ERR_GPUFORMER_UNSUPPORTED. (native/cuda/copy_queue.cc)
void* host_alloc(size_t bytes);
void host_free(void* ptr);
// Host → device copy bandwidth from pinned memory, bytes per second, measured once per device and remembered
// (what an offloaded layer's transfer costs: lib/memory/offload.ts). (native/cuda/copy_queue.cc)
double host_to_device_bandwidth(int device);
void synchronize(int device);          // waits for the device's op stream; throws ERR_GPUFORMER_CUDA on errors

// CUDA graphs: the device work `enqueue` puts on `device`'s op stream, captured once (nothing runs while it
// is captured) and then launched as one unit. capture_graph returns nullptr, with the reason in *why, when
// the work cannot be captured (an op that synchronizes, allocates or copies from pageable memory).
struct Graph;
std::shared_ptr<Graph> capture_graph(int device, const std::function<void()>& enqueue, std::string* why);
void launch_graph(int device, const Graph& graph);
// Changes whenever a scratch buffer of `device` is reallocated or released: a graph captured under another
// epoch holds stale scratch addresses and must be captured again.
uint64_t scratch_epoch(int device);

// Whether linear() sends decode-sized products (M ≤ 16) to the row kernels that stream the weights (on unless
// GPUFORMER_CUDA_DECODE_KERNELS=0) or to cuBLASLt / dequantize + GEMM like larger ones (comparisons, a way
// around a kernel in doubt). Programs already captured as CUDA graphs keep what they captured.
void set_decode_kernels(bool on);
bool decode_kernels();

}  // namespace cuda
}  // namespace gf

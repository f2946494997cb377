#include "cuda/workspace.h"

#include <memory>
#include <mutex>
#include <vector>

#include "gpuformer/cuda_runtime.h"
#include "gpuformer/tensor.h"

namespace gf {
namespace cuda {
namespace {

std::mutex g_mutex;
// g_buffers[device][purpose]; never destroyed, because freeing device memory from a static destructor at
// process exit can run after the CUDA runtime has shut down.
auto& g_buffers = *new std::vector<std::vector<std::shared_ptr<Storage>>>();
std::vector<uint64_t> g_epochs;  // per device: bumped whenever an address handed out may have changed

void bump_epoch(int device) {
  if (static_cast<int>(g_epochs.size()) <= device) g_epochs.resize(device + 1, 0);
  g_epochs[device]++;
}

}  // namespace

void release_scratch(int device) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (device < static_cast<int>(g_buffers.size())) g_buffers[device].clear();
  bump_epoch(device);
}

uint64_t scratch_epoch(int device) {
  std::lock_guard<std::mutex> lock(g_mutex);
  return device < static_cast<int>(g_epochs.size()) ? g_epochs[device] : 0;
}

void* scratch(int device, Scratch purpose, size_t bytes) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (static_cast<int>(g_buffers.size()) <= device) g_buffers.resize(device + 1);
  auto& per_device = g_buffers[device];
  per_device.resize(static_cast<size_t>(Scratch::Count));
  std::shared_ptr<Storage>& buf = per_device[static_cast<size_t>(purpose)];
  if (!buf || buf->bytes < bytes) {
    // Grow by half again so a slowly rising size does not reallocate every step.
    size_t want = buf ? buf->bytes + buf->bytes / 2 : 0;
    if (want < bytes) want = bytes;
    want = (want + 255) / 256 * 256;
    buf.reset();  // frees the old one first (after the stream drains), so peak memory stays one buffer
    buf = allocate(Device{DeviceKind::CUDA, device}, want, MemoryTag::Workspace);
    bump_epoch(device);
  }
  return buf->ptr;
}

}  // namespace cuda
}  // namespace gf

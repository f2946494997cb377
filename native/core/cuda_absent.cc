// Stand-ins used when the build found no CUDA toolkit: the addon still loads and says why CUDA is absent.
#include "gpuformer/cuda_runtime.h"
#include "gpuformer/error.h"

namespace gf {
namespace cuda {
namespace {
[[noreturn]] void absent() {
  fail(ErrorCode::Unsupported, "this gpuformer binary was built without the CUDA backend");
}
}  // namespace

bool compiled() { return false; }
std::string unavailable_reason() { return "this gpuformer binary was built without the CUDA backend"; }
std::vector<DeviceInfo> devices() { return {}; }
void* device_malloc(int, size_t) { absent(); }
void device_free(int, void*) {}
void copy_h2d(int, void*, const void*, size_t) { absent(); }
void copy_d2h(int, void*, const void*, size_t) { absent(); }
void copy_d2d(int, void*, const void*, size_t) { absent(); }
void memset_device(int, void*, int, size_t) { absent(); }
void* host_alloc(size_t) { absent(); }
void host_free(void*) {}
double host_to_device_bandwidth(int) { absent(); }
void synchronize(int) { absent(); }
std::shared_ptr<Graph> capture_graph(int, const std::function<void()>&, std::string* why) {
  if (why) *why = unavailable_reason();
  return nullptr;
}
void launch_graph(int, const Graph&) { absent(); }
uint64_t scratch_epoch(int) { return 0; }
// no CUDA linear to steer: the setting is kept and reads back, as setCudaGraphs is in such a build
namespace {
bool g_decode_kernels = true;
}
void set_decode_kernels(bool on) { g_decode_kernels = on; }
bool decode_kernels() { return g_decode_kernels; }

}  // namespace cuda
}  // namespace gf

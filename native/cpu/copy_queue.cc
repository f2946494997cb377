// The CPU side of streamed weights (gpuformer/copy_queue.h): CPU ops run in program order on the calling
// thread, so a fetch is a copy made at once and there is nothing to wait for. (A CPU program streams layers only
// in tests of the offload machinery: on the CPU every weight is in host memory already.)
#include <cstring>

#include "core/thread_pool.h"
#include "cpu/cpu_ops.h"

namespace gf {
namespace cpu {

void fetch_slot(CopyQueue&, int, const std::vector<Tensor>& src, const std::vector<Tensor>& dst) {
  for (size_t i = 0; i < src.size(); i++) {
    const char* from = static_cast<const char*>(src[i].raw());
    char* to = static_cast<char*>(dst[i].raw());
    parallel_for(static_cast<int64_t>(src[i].nbytes()), int64_t{1} << 20, [&](int64_t begin, int64_t end) {
      std::memcpy(to + begin, from + begin, static_cast<size_t>(end - begin));
    });
  }
}

void wait_slot(CopyQueue&, int) {}

void release_slot(CopyQueue&, int) {}

}  // namespace cpu
}  // namespace gf

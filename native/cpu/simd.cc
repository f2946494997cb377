#include "cpu/simd.h"

#include <cstdlib>
#include <cstring>

namespace gf {
namespace cpu {

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = [] {
    CpuFeatures f;
    const char* baseline = std::getenv("GPUFORMER_CPU_BASELINE");
    if (baseline && std::strcmp(baseline, "1") == 0) return f;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    f.avx2 = __builtin_cpu_supports("avx2");
    f.fma = __builtin_cpu_supports("fma");
    f.f16c = __builtin_cpu_supports("f16c");
    f.avx512f = __builtin_cpu_supports("avx512f");
    f.avx512bw = __builtin_cpu_supports("avx512bw");
    f.avx512vnni = __builtin_cpu_supports("avx512vnni");
    f.avxvnni = __builtin_cpu_supports("avxvnni");
#endif
    return f;
  }();
  return features;
}

}  // namespace cpu
}  // namespace gf

// Run-time CPU feature detection. The binary is built for baseline x86-64 so it runs everywhere; hot kernels
// have AVX2/FMA/F16C variants compiled with __attribute__((target("avx2,fma,f16c"))) and pick them here.
#pragma once

namespace gf {
namespace cpu {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vnni = false;
  bool avxvnni = false;
};

// Detected once; GPUFORMER_CPU_BASELINE=1 forces the portable paths (to test them on any machine).
const CpuFeatures& cpu_features();

// The AVX2 + FMA + F16C level most kernels are written for.
inline bool use_avx2() {
  const CpuFeatures& f = cpu_features();
  return f.avx2 && f.fma && f.f16c;
}

}  // namespace cpu
}  // namespace gf

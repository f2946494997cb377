// The instruction-set tier the CPU kernels run at, decided once per process from CPUID and the environment.
//
//   tier      portable  the reference kernels, plain C++ for the baseline ISA (x86-64 v1, or any other CPU)
//             avx2      AVX2 + FMA + F16C (Intel Haswell, AMD Zen 1 and later)
//             avx512    AVX-512 F + BW + VL + DQ (Intel Skylake-SP and later, AMD Zen 4 and later)
//   vnni      int8 dot products (vpdpbusd): AVX512-VNNI at the avx512 tier, AVX-VNNI at the avx2 tier
//   bf16      AVX512-BF16 dot products (vdpbf16ps), avx512 tier only
//
// Each tier includes the ones below it. GPUFORMER_CPU_ISA caps the tier for testing and comparison:
//   GPUFORMER_CPU_ISA=portable | avx2 | avx512, optionally followed by ",novnni" and/or ",nobf16"
//   (e.g. "avx2,novnni" runs the AVX2 kernels of a machine without AVX-VNNI). A cap above what the machine
//   has is no error: the tier is the lower of the two, and devices() says which one runs.
// GPUFORMER_CPU_BASELINE=1 means portable (the older switch, kept). An unknown GPUFORMER_CPU_ISA value is an
// ERR_GPUFORMER_INPUT when the addon loads.
//
// The kernels choose their implementation from cpu_isa() (native/cpu/simd.h has the short forms); what each
// tier's kernels must compute, bit for bit, is written beside their tables (native/cpu/linear_kernels.h).
#pragma once
#include <string>

namespace gf {

enum class CpuTier { Portable = 0, Avx2 = 1, Avx512 = 2 };

struct CpuIsaLevel {
  CpuTier tier = CpuTier::Portable;
  bool vnni = false;
  bool bf16 = false;
};

struct CpuIsa {
  CpuIsaLevel active;   // what the kernels use
  CpuIsaLevel machine;  // what this machine (and its OS) supports
  std::string cap;      // what capped it: "GPUFORMER_CPU_ISA=<value>", "GPUFORMER_CPU_BASELINE=1" or "" (nothing)
};

// Detected on the first call (the addon calls it at load, so a bad GPUFORMER_CPU_ISA fails there).
const CpuIsa& cpu_isa();

const char* cpu_tier_name(CpuTier tier);

}  // namespace gf

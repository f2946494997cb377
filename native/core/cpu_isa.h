// The instruction-set tier the CPU kernels run at, decided once per process from what the CPU reports (CPUID on
// x86-64, HWCAP on Arm) and the environment.
//
//   tier      portable  the reference kernels, plain C++ for the baseline ISA (x86-64 v1, or any other CPU)
//             avx2      AVX2 + FMA + F16C (Intel Haswell, AMD Zen 1 and later)
//             avx512    AVX-512 F + BW + VL + DQ (Intel Skylake-SP and later, AMD Zen 4 and later)
//             neon      AArch64 Advanced SIMD (every 64-bit Arm CPU; the only tier above portable there)
//   vnni      int8 dot products (vpdpbusd): AVX512-VNNI at the avx512 tier, AVX-VNNI at the avx2 tier
//   bf16      AVX512-BF16 dot products (vdpbf16ps), avx512 tier only
//   dotprod   int8 dot products on Arm (SDOT, FEAT_DotProd: Cortex-A55/A76, Neoverse N1, Apple M1 and later),
//             neon tier only; read from the kernel's HWCAP (getauxval) on Linux, sysctl on macOS
// Arm's I8MM and BF16 are neither detected nor used, under linear's bit-identity contract
// (native/cpu/linear_kernels.h): I8MM's SMMLA sums eight products into one integer where the contract's lanes
// hold four (with half its inputs zeroed it does no more than SDOT); BF16's BFDOT and BFMMLA round a pair's
// sum once where the contract rounds (and flushes) after each product, and its BFMLALB / BFMLALT, which do
// match one contract step, would only spare the neon tier the shifts that widen bf16 to f32 (the explicit
// flushes stay).
//
// Each tier includes the ones below it (x86: portable < avx2 < avx512; Arm: portable < neon).
// GPUFORMER_CPU_ISA caps the tier for testing and comparison:
//   GPUFORMER_CPU_ISA=portable | avx2 | avx512 | neon, optionally followed by ",novnni", ",nobf16" and/or
//   ",nodotprod" (e.g. "avx2,novnni" runs the AVX2 kernels of a machine without AVX-VNNI). A cap above what
//   the machine has is no error: the tier is the lower of the two (for a tier of the other architecture,
//   which shares only portable with this one, that is portable), and devices() says which one runs.
// GPUFORMER_CPU_BASELINE=1 means portable (the older switch, kept). An unknown GPUFORMER_CPU_ISA value is an
// ERR_GPUFORMER_INPUT when the addon loads.
//
// The kernels choose their implementation from cpu_isa() (native/cpu/simd.h has the short forms); what each
// tier's kernels must compute, bit for bit, is written beside their tables (native/cpu/linear_kernels.h).
#pragma once
#include <string>

namespace gf {

// Avx2 < Avx512 on x86-64; Neon stands alone on AArch64 (tiers of different architectures are never compared).
enum class CpuTier { Portable = 0, Avx2 = 1, Avx512 = 2, Neon = 3 };

struct CpuIsaLevel {
  CpuTier tier = CpuTier::Portable;
  bool vnni = false;
  bool bf16 = false;
  bool dotprod = false;
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

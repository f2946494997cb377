// The f32 multiply-add rate the CPU kernels' tier can reach on this machine, measured: every pool thread runs
// independent FMA chains on registers (no memory traffic) at the tier's widest vectors. It is the honest
// denominator for a GEMM's "fraction of peak" where the core clock is unknown (under a hypervisor
// /proc/cpuinfo gives the nominal clock, not the boost clock the cores run at); cpu-gemm.mjs reports both.
#pragma once

namespace gf {
namespace cpu {

struct FmaPeak {
  double gflops;       // f32 flops per second, all threads together, / 1e9
  int lanes;           // f32 lanes per FMA instruction (16 avx512, 8 avx2, 1 portable)
  int threads;
  double seconds;      // wall time of the measured run
};

// Runs about `seconds` (after a short calibration) on num_threads() threads.
FmaPeak measure_fma_peak(double seconds);

}  // namespace cpu
}  // namespace gf

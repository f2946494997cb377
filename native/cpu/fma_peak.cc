// measure_fma_peak (fma_peak.h): independent accumulator chains per thread, enough to cover the FMA latency
// (4–5 cycles) on two pipes, each chain a multiply-add by constants that keep the values finite. The chains and
// the two constants must fit the registers: AVX2's 16 ymm hold 12 chains (16 chains spilled four through the
// stack, whose store-to-load round trips halved the rate: 132 GFLOP/s on a Zen 4 whose AVX2 GEMM ran 192).
#include "cpu/fma_peak.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>

#include "core/thread_pool.h"
#include "cpu/avx512_target.h"
#include "cpu/simd.h"

namespace gf {
namespace cpu {
namespace {

constexpr int kChains = 16;      // portable and AVX-512 (32 zmm)
constexpr int kChainsYmm = 12;   // AVX2

// Each kernel runs `iters` rounds of its chains' FMAs and returns a value that depends on all of them (so
// none is optimized away).
float chains_portable(int64_t iters) {
  float acc[kChains];
  for (int c = 0; c < kChains; c++) acc[c] = static_cast<float>(c);
  for (int64_t i = 0; i < iters; i++) {
    for (int c = 0; c < kChains; c++) acc[c] = std::fma(acc[c], 0.999999f, 1e-6f);
  }
  float s = 0;
  for (float v : acc) s += v;
  return s;
}

#ifdef GF_HAVE_AVX2_PATH
GF_AVX2 float chains_avx2(int64_t iters) {
  __m256 acc[kChainsYmm];
  for (int c = 0; c < kChainsYmm; c++) acc[c] = _mm256_set1_ps(static_cast<float>(c));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f);
  for (int64_t i = 0; i < iters; i++) {
#pragma GCC unroll 16
    for (int c = 0; c < kChainsYmm; c++) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  }
  __m256 s = acc[0];
  for (int c = 1; c < kChainsYmm; c++) s = _mm256_add_ps(s, acc[c]);
  return hsum(s);
}
#endif

#ifdef GF_HAVE_AVX512_PATH
GF_AVX512 float chains_avx512(int64_t iters) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; c++) acc[c] = _mm512_set1_ps(static_cast<float>(c));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-6f);
  for (int64_t i = 0; i < iters; i++) {
#pragma GCC unroll 16
    for (int c = 0; c < kChains; c++) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  }
  __m512 s = acc[0];
  for (int c = 1; c < kChains; c++) s = _mm512_add_ps(s, acc[c]);
  return hsum(s);
}
#endif

struct Kernel {
  float (*run)(int64_t);
  int lanes;
  int chains;
};

Kernel tier_kernel() {
#ifdef GF_HAVE_AVX512_PATH
  if (use_avx512()) return {chains_avx512, 16, kChains};
#endif
#ifdef GF_HAVE_AVX2_PATH
  if (use_avx2()) return {chains_avx2, 8, kChainsYmm};
#endif
  return {chains_portable, 1, kChains};
}

// Seconds for `tasks` tasks of `iters` rounds spread over the pool.
double timed_run(const Kernel& k, int64_t tasks, int64_t iters) {
  std::atomic<float> sink{0};
  const auto t0 = std::chrono::steady_clock::now();
  parallel_for(tasks, 1, [&](int64_t begin, int64_t end) {
    float s = 0;
    for (int64_t t = begin; t < end; t++) s += k.run(iters);
    sink.store(s, std::memory_order_relaxed);
  });
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

FmaPeak measure_fma_peak(double seconds) {
  const Kernel k = tier_kernel();
  const int threads = num_threads();
  // many small tasks, so that no thread is left idle while another finishes a large one
  const int64_t tasks = 16 * threads;
  int64_t iters = 1000;
  double t = timed_run(k, tasks, iters);
  while (t < 0.02) {  // calibrate to a measurable run, then scale to the asked duration
    iters *= 4;
    t = timed_run(k, tasks, iters);
  }
  iters = std::max<int64_t>(iters, static_cast<int64_t>(iters * seconds / t));
  // best of three: the least disturbed run
  double best = timed_run(k, tasks, iters);
  for (int r = 0; r < 2; r++) best = std::min(best, timed_run(k, tasks, iters));
  const double flops = 2.0 * k.chains * k.lanes * static_cast<double>(iters) * static_cast<double>(tasks);
  return {flops / best / 1e9, k.lanes, threads, best};
}

}  // namespace cpu
}  // namespace gf

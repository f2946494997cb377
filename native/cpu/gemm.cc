// Blocked GEMM for cpu::linear with many rows (gemm.h). Loop nest of one task (an M block × an N block):
//   for each K block of kKc:      convert + transpose the task's weight rows into 16-row panels (f32, ≤ 256 KB: L2)
//     for each 6 rows of x:       the 6 × kc slice of x stays in L1 across the N block
//       for each 16-row panel:    micro-kernel tile 6 × 16 (gemm_kernel.h), accumulating over K blocks
// x is read in place (broadcast loads need no packing); weights are never expanded beyond one panel block,
// so f16/bf16/quantized weights cost one conversion per (task, K block) and the kernel always runs on f32.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/thread_pool.h"
#include "cpu/convert.h"
#include "cpu/gemm.h"
#include "cpu/gemm_kernel.h"
#include "cpu/simd.h"
#include "gpuformer/error.h"

#include "cpu/avx2_target.h"

namespace gf {
namespace cpu {
namespace {

constexpr int64_t kKc = 256;     // K block (a multiple of 32, so quantized rows split at block boundaries)
constexpr int64_t kNcMax = 256;  // N block: kNcMax × kKc packed f32 = 256 KB

// A 64-byte aligned float buffer per worker thread, grown on demand and kept for later calls.
float* thread_scratch(int slot, int64_t floats) {
  struct Buffer {
    float* data = nullptr;
    int64_t size = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffers[2];
  Buffer& b = buffers[slot];
  if (b.size < floats) {
    std::free(b.data);
    const size_t bytes = (static_cast<size_t>(floats) * sizeof(float) + 63) / 64 * 64;
    b.data = static_cast<float*>(std::aligned_alloc(64, bytes));
    GF_CHECK(b.data, OOM, "linear: out of memory for a ", bytes, "-byte packing buffer");
    b.size = floats;
  }
  return b.data;
}

// panel[k * 16 + j] = rows[j][k] for j < 16, k0 ≤ k < kc: (part of) one 16-row panel, transposed from f32 rows.
void transpose_columns(const float* const* rows, int64_t k0, int64_t kc, float* panel) {
  for (int64_t k = k0; k < kc; k++) {
    for (int j = 0; j < kGemmNR; j++) panel[k * kGemmNR + j] = rows[j][k];
  }
}

void transpose_panel_portable(const float* const* rows, int64_t kc, float* panel) { transpose_columns(rows, 0, kc, panel); }

#ifdef GF_HAVE_AVX2_PATH
// The same in 8 × 8 blocks: eight row loads, an in-register transpose, eight stores.
GF_AVX2 void transpose_panel_avx2(const float* const* rows, int64_t kc, float* panel) {
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8) {
    for (int h = 0; h < kGemmNR; h += 8) {
      __m256 r[8], t[8];
#pragma GCC unroll 8
      for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(rows[h + i] + k);
#pragma GCC unroll 4
      for (int i = 0; i < 8; i += 2) {  // pairs of rows interleaved
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
      }
#pragma GCC unroll 2
      for (int i = 0; i < 8; i += 4) {  // quads of rows: 4 consecutive k of 4 rows per 128-bit lane
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
      }
#pragma GCC unroll 4
      for (int i = 0; i < 4; i++) {  // lanes: k = i from the low halves, k = i + 4 from the high halves
        t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
        t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
      }
#pragma GCC unroll 8
      for (int i = 0; i < 8; i++) _mm256_storeu_ps(panel + (k + i) * kGemmNR + h, t[i]);
    }
  }
  transpose_columns(rows, k, kc, panel);  // the last kc % 8 columns
}
#endif

using TransposePanelFn = void (*)(const float* const* rows, int64_t kc, float* panel);

TransposePanelFn transpose_panel() {
#ifdef GF_HAVE_AVX2_PATH
  if (use_avx2()) return transpose_panel_avx2;
#endif
  return transpose_panel_portable;
}

// packed[p * kc * 16 + k * 16 + j] = w[n0 + 16 p + j][k0 + k] as f32, for the nc rows from n0 (rows of the
// last panel past n0 + nc are zero). f32 rows are transposed in place; other dtypes are converted into
// `rows` (16 × kc floats) first.
void pack_weights(const MatmulArgs& a, int64_t n0, int64_t nc, int64_t k0, int64_t kc, float* packed, float* rows) {
  static const float zeros[kKc] = {};
  const TransposePanelFn transpose = transpose_panel();
  for (int64_t p = 0; p * kGemmNR < nc; p++) {
    const float* src[kGemmNR];
    for (int j = 0; j < kGemmNR; j++) {
      const int64_t n = p * kGemmNR + j;
      if (n >= nc) {
        src[j] = zeros;
      } else if (a.w_dtype == DType::F32) {
        src[j] = static_cast<const float*>(a.w) + (n0 + n) * a.K + k0;
      } else {
        to_f32(element_ptr(a.w, a.w_dtype, (n0 + n) * a.K + k0), a.w_dtype, rows + j * kc, kc);
        src[j] = rows + j * kc;
      }
    }
    transpose(src, kc, packed + p * kc * kGemmNR);
  }
}

// How the output is cut into tasks: N blocks of nc columns (a multiple of 16) × M blocks of mc rows (a
// multiple of 6). N blocks come first (each packs its own weights); M is split only as far as needed to
// give every thread a couple of tasks, because each M block repeats the weight packing.
struct TaskGrid {
  int64_t nc, mc, n_blocks, m_blocks;
};

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

TaskGrid plan_tasks(int64_t M, int64_t N, int threads) {
  TaskGrid g;
  g.n_blocks = ceil_div(N, kNcMax);
  if (g.n_blocks > 1 && threads > 1) g.n_blocks = round_up(g.n_blocks, threads);  // equal shares per thread
  g.nc = round_up(ceil_div(N, g.n_blocks), kGemmNR);
  g.n_blocks = ceil_div(N, g.nc);
  const int64_t want_tasks = threads > 1 ? 2 * threads : 1;
  int64_t m_split = std::max<int64_t>(1, ceil_div(want_tasks, g.n_blocks));
  m_split = std::min(m_split, std::max<int64_t>(1, M / (4 * kGemmMR)));  // keep M blocks ≥ 24 rows
  g.mc = round_up(ceil_div(M, m_split), kGemmMR);
  g.m_blocks = ceil_div(M, g.mc);
  return g;
}

void run_task(const MatmulArgs& a, const GemmKernels& kernels, int64_t m0, int64_t m1, int64_t n0, int64_t nc) {
  const int64_t kc_max = std::min(kKc, a.K);
  float* packed = thread_scratch(0, round_up(nc, kGemmNR) * kc_max);
  float* rows = thread_scratch(1, kGemmNR * kc_max);
  for (int64_t k0 = 0; k0 < a.K; k0 += kKc) {
    const int64_t kc = std::min(kKc, a.K - k0);
    const bool accumulate = k0 > 0;
    pack_weights(a, n0, nc, k0, kc, packed, rows);
    for (int64_t m = m0; m < m1; m += kGemmMR) {
      const int mr = static_cast<int>(std::min<int64_t>(kGemmMR, m1 - m));
      const GemmMicroKernel tile = kernels.tile[mr];
      const float* xs = a.x + m * a.K + k0;
      for (int64_t p = 0; p * kGemmNR < nc; p++) {
        const int64_t n = n0 + p * kGemmNR;
        const int nr = static_cast<int>(std::min<int64_t>(kGemmNR, nc - p * kGemmNR));
        tile(kc, xs, a.K, packed + p * kc * kGemmNR, a.out + m * a.N + n, a.N, nr, accumulate,
             a.bias ? a.bias + n : nullptr);
      }
    }
  }
}

}  // namespace

void gemm(const MatmulArgs& a) {
  // out [M,N] = x [M,K] · w [N,K]ᵀ + bias
  const GemmKernels& kernels = gemm_kernels();
  const TaskGrid g = plan_tasks(a.M, a.N, num_threads());
  parallel_for(g.n_blocks * g.m_blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; t++) {
      const int64_t nb = t % g.n_blocks, mb = t / g.n_blocks;
      const int64_t m0 = mb * g.mc, n0 = nb * g.nc;
      run_task(a, kernels, m0, std::min(a.M, m0 + g.mc), n0, std::min(a.N - n0, g.nc));
    }
  });
}

}  // namespace cpu
}  // namespace gf

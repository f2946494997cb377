// The matmul driver (gemm.h). The output (all the parts' of a group) is cut into tasks of (a chunk of weight
// tiles) × (a block of row tiles): chunks hold about 256 KB of weights (they stay in L2 while the block's row
// tiles pass), blocks about 128 KB of activations, and there are at least two tasks per thread where the
// output allows, all of nearly equal work. Inside a task each weight tile (C rows) meets every row tile (R
// rows) of the block while it is in L1. Tasks run in parallel; every output belongs to one tile of one task
// and is computed by the contract's fixed arithmetic, so neither the grid nor the thread count changes a bit.
#include "cpu/gemm.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <type_traits>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/convert.h"
#include "cpu/linear_kernels.h"
#include "cpu/rows_io.h"
#include "cpu/simd.h"

namespace gf {
namespace cpu {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// the rows per group of a packed table, 0 when there is none
template <typename X>
int group_rows(const TileTable<X>* packed) { return packed ? packed->group_rows : 0; }

// n elements left uninitialized: the converted activations, written in full before they are read (a vector's
// zero fill of them was 2 % of a bf16 MiniLM embedding)
template <typename T>
std::unique_ptr<T[]> uninitialized(int64_t n) {
  static_assert(std::is_trivially_default_constructible_v<T>, "new T[n] leaves only trivial types unwritten");
  return std::unique_ptr<T[]>(new T[static_cast<size_t>(n)]);
}

constexpr int64_t kChunkBytes = 256 << 10;  // weights per task
constexpr int64_t kBlockBytes = 128 << 10;  // activations per task
// How far ahead of a weight tile its passes prefetch (at least one tile): SmolLM2-135M's Q4_1 decode matmuls
// (tiles of 16 rows, 5.8 KB at K = 576) took 4.4-4.9 ms a token at 4 KB (the next tile), 4.8-6.6 ms at 8 KB,
// on a Zen 4; f32 GEMVs and a short input's embedding (tiles of 27 and 18 KB: one tile either way) alike.
constexpr int64_t kPrefetchBytes = 4 << 10;
// How many passes over a weight tile (one per row tile of a task's block) prefetch the next tile's rows.
constexpr int64_t kPrefetchPasses = 4;

// x: the activation rows (floats, bf16, or quantized blocks), ldx elements apart, x_row_bytes each, shared
// by the parts (their own w, bias, out and N; one weight dtype and K). flush: every task runs with denormals
// flushed (FlushDenormals: the bf16 tiles' arithmetic).
template <typename X>
void run_tiles(const MatmulArgs* parts, int count, const TileTable<X>& table, const X* x, int64_t ldx,
               int64_t x_row_bytes, bool flush = false) {
  const int64_t M = parts[0].M;
  const int64_t ldw = static_cast<int64_t>(dtype_bytes(parts[0].w_dtype, parts[0].K));
  // Packed weights keep each row's offset (a group takes its rows' bytes), so tasks address them alike; their
  // tiles are told the group stride.
  const bool packed = parts[0].w_packed;
  GF_CHECK(!packed || table.packed, Unsupported, "linear: packed weights, but this tier has no tiles for them");
  const TileTable<X>& t = packed ? *table.packed : table;
  const int64_t tile_ldw = t.group_rows * ldw;
  // The task grid: the parts' weight tiles (C rows each; part 0's, then part 1's, ...) cut into chunks, the row
  // tiles (R rows each) into blocks; a task is one chunk × one block. Chunks hold about kChunkBytes of weights
  // and blocks about kBlockBytes of activations, but there are at least two tasks per thread where the output
  // has that many tiles (chunks first: each task then reads its own weights), and the task count is a
  // multiple of the threads where the tiles allow. Chunks and blocks are cut evenly (their tile counts differ
  // by one at most) and handed out one by one (parallel_tasks), so the threads finish together: a remainder
  // chunk or block, or a few tasks per claim, left one thread idle at the end (bf16 GEMMs of M = 168 and 256
  // rows, N = 1536, K = 384 on a Zen 4 ran at 85-87 % of twice their one-thread speed, now 96-97 %).
  auto tiles_of = [&](int part) { return ceil_div(parts[part].N, t.c); };
  int64_t n_tiles = 0;
  for (int i = 0; i < count; i++) n_tiles += tiles_of(i);
  const int64_t m_tiles = ceil_div(M, t.r);
  const int64_t threads = num_threads(), want = 2 * threads;
  int64_t n_chunks = std::max(ceil_div(n_tiles, std::max<int64_t>(1, kChunkBytes / (ldw * t.c))), std::min(n_tiles, want));
  int64_t m_blocks = std::max(ceil_div(m_tiles, std::max<int64_t>(1, kBlockBytes / (x_row_bytes * t.r))),
                              std::min(m_tiles, ceil_div(want, n_chunks)));
  for (int64_t more = 0; (n_chunks * m_blocks) % threads != 0 && n_chunks < n_tiles && more < threads; more++) n_chunks++;
  parallel_tasks(n_chunks * m_blocks, [&](int64_t begin, int64_t end) {
    std::optional<FlushDenormals> flushing;
    if (flush) flushing.emplace();
    for (int64_t task = begin; task < end; task++) {
      const int64_t chunk = task % n_chunks, block = task / n_chunks;
      const int64_t m0 = block * m_tiles / m_blocks * t.r, m1 = std::min(M, (block + 1) * m_tiles / m_blocks * t.r);
      const int64_t tile0 = chunk * n_tiles / n_chunks, tile1 = (chunk + 1) * n_tiles / n_chunks;
      int part = 0;
      int64_t first = 0;  // the flat index of part's first tile
      for (int64_t tile = tile0; tile < tile1; tile++) {
        while (tile >= first + tiles_of(part)) first += tiles_of(part++);
        const MatmulArgs& a = parts[part];
        const char* w = static_cast<const char*>(a.w);
        const int64_t n = (tile - first) * t.c;
        const int cols = static_cast<int>(std::min<int64_t>(t.c, a.N - n));
        // The first kPrefetchPasses passes over this weight tile prefetch a tile's worth of rows
        // kPrefetchBytes ahead (in its part). Where few row tiles pass (M of a few dozen: a short input's
        // embedding, decode), the weights come straight from DRAM or L3 once and a DRAM access outlasts a
        // pass; the hardware prefetcher falls behind on C interleaved row streams, and every pass prefetching
        // keeps the lines arriving (measured: M = 14 rows of MiniLM's linears 22-27 % faster, f32 and bf16,
        // than without; M = 8 and 15 from DRAM 10-15 % faster than prefetching in the first pass alone). The
        // later passes of a block of many row tiles only find those lines there already, and run the tile's
        // loop without the prefetch (f32 GEMM at M = 448 on a Zen 4, with the tiles' constant step size:
        // AVX2 12-19 % faster, AVX-512 2-8 %).
        const int64_t ahead = n + ceil_div(kPrefetchBytes, t.c * ldw) * t.c;
        const char* next = ahead + t.c <= a.N ? w + ahead * ldw : nullptr;
        const int64_t prefetching_end = m0 + kPrefetchPasses * t.r;
        for (int64_t m = m0; m < m1; m += t.r) {
          const int rows = static_cast<int>(std::min<int64_t>(t.r, m1 - m));
          t.tile[rows][cols](w + n * ldw, tile_ldw, x + m * ldx, ldx, a.K, a.bias ? a.bias + n : nullptr,
                             a.out + m * a.N + n, a.N, m < prefetching_end ? next : nullptr);
        }
      }
    }
  });
}

}  // namespace

void gemm(const MatmulArgs& a) { gemm_group(&a, 1); }

bool pack_linear_weight(Tensor& w) {
  if (w.packed_rows != 0) return true;
  // only a tensor nothing else shares (a view, a prepared program): repacking bytes under another handle
  // would change what it reads
  if (!w.device().is_cpu() || w.storage.use_count() != 1 || w.ndim() != 2 || !w.is_contiguous() || w.dim(1) == 0) {
    return false;
  }
  const DType dt = w.dtype;
  const int group = dt == DType::F32 ? group_rows(active_float_tiles(dt).packed)
                    : dt == DType::BF16 ? group_rows(active_bf16_tiles().packed)
                    : is_quantized(dt) ? group_rows(active_quant_tiles(dt).packed) : 0;
  const int64_t N = w.dim(0), K = w.dim(1), row_bytes = static_cast<int64_t>(dtype_bytes(dt, K));
  if (group == 0 || N % group != 0) return false;
  char* rows = static_cast<char*>(w.raw());
  parallel_for(N / group, std::max<int64_t>(1, 65536 / (group * row_bytes)), [&](int64_t g0, int64_t g1) {
    repack_linear(rows + g0 * group * row_bytes, (g1 - g0) * group, dt, K, group, /*to_packed=*/true);
  });
  w.packed_rows = group;
  return true;
}

void convert_packed_rows(const Tensor& t, int64_t r0, int64_t r1, void* dst, DType dst_dtype) {
  const int64_t K = t.dim(1);
  // one row as written, per thread: the embedding lookup reads a row per token (decode: one per step)
  thread_local std::vector<char> row;
  row.resize(dtype_bytes(t.dtype, K));
  char* out = static_cast<char*>(dst);
  for (int64_t r = r0; r < r1; r++, out += dtype_bytes(dst_dtype, K)) {
    read_packed_row(static_cast<const char*>(t.raw()), r, t.dtype, K, t.packed_rows, row.data());
    convert(row.data(), t.dtype, out, dst_dtype, K);
  }
}

void load_packed_f32(const Tensor& t, int64_t first, int64_t n, float* dst) {
  const int64_t K = t.dim(1);
  GF_CHECK(first % K == 0 && n % K == 0, Unsupported, "reading ", t.describe(), " (packed for the CPU's linear) from element ",
           first, ": only whole rows can be read");
  convert_packed_rows(t, first / K, (first + n) / K, dst, DType::F32);
}

void gemm_group(const MatmulArgs* parts, int count) {
  // out [M,N] = x [M,K] · w [N,K]ᵀ + bias, for each part; x converted once for all of them
  const MatmulArgs& a = parts[0];
  if (a.w_dtype == DType::BF16) {  // bf16 activations (rounded once per row), flushed arithmetic
    const std::unique_ptr<uint16_t[]> xb = uninitialized<uint16_t>(a.M * a.K);
    const RoundBf16Fn round = active_round_bf16();
    parallel_for(a.M, std::max<int64_t>(1, 4096 / a.K), [&](int64_t m0, int64_t m1) {
      round(a.x + m0 * a.K, xb.get() + m0 * a.K, (m1 - m0) * a.K);
    });
    return run_tiles<uint16_t>(parts, count, active_bf16_tiles(), xb.get(), a.K,
                               a.K * static_cast<int64_t>(sizeof(uint16_t)), /*flush=*/true);
  }
  if (!is_quantized(a.w_dtype)) {
    return run_tiles<float>(parts, count, active_float_tiles(a.w_dtype), a.x, a.K,
                            a.K * static_cast<int64_t>(sizeof(float)));
  }
  const int64_t blocks = a.K / kQuantBlock;
  const std::unique_ptr<BlockQ8Act[]> xq = uninitialized<BlockQ8Act>(a.M * blocks);
  const QuantizeFn quantize = active_quantize();
  parallel_for(a.M, std::max<int64_t>(1, 4096 / a.K), [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; m++) quantize(a.x + m * a.K, xq.get() + m * blocks, a.K, a.w_dtype);
  });
  run_tiles<BlockQ8Act>(parts, count, active_quant_tiles(a.w_dtype), xq.get(), blocks,
                        blocks * static_cast<int64_t>(sizeof(BlockQ8Act)));
}

}  // namespace cpu
}  // namespace gf

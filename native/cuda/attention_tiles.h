// The tile arithmetic of the prefill attention kernels (attention.cu, attention_sm90.cu): which key tiles a
// tile of queries visits and which of those need a per-element mask; and for the Hopper kernel, where the
// 128-byte swizzle puts an element in shared memory, the wgmma shared-memory descriptors that read it back,
// and where an element of a wgmma accumulator or register operand sits. Plain C++ that compiles on the
// host too: test/native/attention-tiles.cc checks every function here against brute-force loops and the PTX
// ISA's own layout definitions on a machine without a GPU.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define GF_TILE_FN __host__ __device__ __forceinline__
#else
#define GF_TILE_FN inline
#endif

namespace gf {
namespace cuda {
namespace tiles {

// ------------------------------------------------------------------------------------------- masking
// What a sequence's queries may see. Key positions count from the sequence's first key; query j of a
// sequence of n_q queries and kv_len keys sits at position q_offset + j, q_offset = kv_len - n_q.
struct Mask {
  int kv_len = 0;
  bool causal = true;
  int window_left = -1;  // keys at positions ≥ qpos - window_left; -1 = all
};

// The keys [*lo, *hi) that the query at position qpos sees.
GF_TILE_FN void visible_keys(const Mask& m, int qpos, int* lo, int* hi) {
  *hi = m.causal ? (qpos + 1 < m.kv_len ? qpos + 1 : m.kv_len) : m.kv_len;
  *lo = m.window_left >= 0 && qpos - m.window_left > 0 ? qpos - m.window_left : 0;
}

GF_TILE_FN bool key_visible(const Mask& m, int qpos, int key) {
  int lo, hi;
  visible_keys(m, qpos, &lo, &hi);
  return key >= lo && key < hi;
}

// The key tiles of width block_n that the queries at positions [qpos_first, qpos_last] visit: tile i of
// `count` covers keys [first_key + i·block_n, first_key + (i+1)·block_n). Both ends of a query's visible range
// grow with its position, so the first query's start and the last query's end bound them all.
struct KeyTiles {
  int first_key = 0;
  int count = 0;
};
GF_TILE_FN KeyTiles key_tiles(const Mask& m, int qpos_first, int qpos_last, int block_n) {
  int lo, hi, unused;
  visible_keys(m, qpos_first, &lo, &unused);
  visible_keys(m, qpos_last, &unused, &hi);
  KeyTiles t;
  t.first_key = lo / block_n * block_n;
  t.count = hi > t.first_key ? (hi - t.first_key + block_n - 1) / block_n : 0;
  return t;
}

// Whether some query in [qpos_first, qpos_last] does not see some key of the tile starting at key0: only
// such tiles (the sequence's last, the causal diagonal, the window's start) pay for a per-element mask.
GF_TILE_FN bool tile_needs_mask(const Mask& m, int qpos_first, int qpos_last, int key0, int block_n) {
  const int key_last = key0 + block_n - 1;
  if (key_last >= m.kv_len) return true;
  if (m.causal && key_last > qpos_first) return true;
  if (m.window_left >= 0 && key0 < qpos_last - m.window_left) return true;
  return false;
}

// ------------------------------------------------------------------------- Hopper shared-memory tiles
// A tile of `rows` rows of 16-bit elements is stored as the TMA writes it with CU_TENSOR_MAP_SWIZZLE_128B
// and a box 64 elements (128 bytes) wide: the head dim in 64-column chunks, chunk c a [rows][64] block at
// byte c·rows·128. Within every 1024-byte block (eight 128-byte rows), the 16-byte unit u of row r is stored
// at unit u ^ (r % 8). The swizzle is a function of the address bits alone (the tensor cores undo the
// same function when they read), so it holds for any tile that starts at a 1024-byte boundary.
constexpr int kSwizzleBytes = 128;
constexpr int kSwizzleElems = 64;       // 16-bit elements per swizzled row
constexpr int kSwizzleBlock = 1024;     // bytes after which the pattern repeats

GF_TILE_FN uint32_t swizzle128(uint32_t addr) { return addr ^ (((addr >> 7) & 7u) << 4); }

// Byte offset, before swizzling, of element (row, col) in such a tile.
GF_TILE_FN uint32_t tile_offset(int rows, int row, int col) {
  return uint32_t(col / kSwizzleElems) * rows * kSwizzleBytes + uint32_t(row) * kSwizzleBytes +
         uint32_t(col % kSwizzleElems) * 2;
}

// wgmma shared-memory matrix descriptor (PTX ISA, "Matrix Descriptor Format"): start address, leading and
// stride byte offsets (each >> 4 in 14 bits), base offset 0 (tiles start at 1024-byte boundaries), layout
// type 1 = 128-byte swizzle in bits 62-63.
GF_TILE_FN uint64_t smem_desc(uint32_t start, uint32_t lbo_bytes, uint32_t sbo_bytes) {
  return uint64_t((start & 0x3FFFFu) >> 4) | (uint64_t((lbo_bytes & 0x3FFFFu) >> 4) << 16) |
         (uint64_t((sbo_bytes & 0x3FFFFu) >> 4) << 32) | (uint64_t(1) << 62);
}

// An operand read K-major (the 16 k-values of one instruction contiguous in a row): Q as A of S = Q·Kᵀ
// (rows = queries, k = head dim) and K as B (rows = keys). The 8-row groups are 1024 bytes apart (stride
// byte offset); the leading byte offset is unused for swizzled K-major layouts (1 by convention). k-step ks
// (head dims 16·ks .. 16·ks+15) starts 32 bytes further into the row, in chunk ks / 4.
GF_TILE_FN uint64_t desc_k_major(uint32_t tile, int rows, int first_row, int ks) {
  const uint32_t start = tile + uint32_t(ks / 4) * rows * kSwizzleBytes + uint32_t(first_row) * kSwizzleBytes +
                         uint32_t(ks % 4) * 32;
  return smem_desc(start, 16, 8 * kSwizzleBytes);
}

// An operand read MN-major (the n-values contiguous): V as B of O = P·V (k = keys = tile rows, n = head dim).
// Leading byte offset: from one 64-column chunk of n to the next (rows·128 bytes); stride byte offset: from
// one group of 8 keys to the next (1024 bytes). k-step kk covers keys 16·kk .. 16·kk+15.
GF_TILE_FN uint64_t desc_mn_major(uint32_t tile, int rows, int kk) {
  const uint32_t start = tile + uint32_t(kk) * 16 * kSwizzleBytes;
  return smem_desc(start, uint32_t(rows) * kSwizzleBytes, 8 * kSwizzleBytes);
}

// ------------------------------------------------------------------------------ wgmma register layouts
// Element e of a thread's f32 accumulator of wgmma m64nNk16 (N/2 per thread): warp w of the warpgroup owns
// rows 16w .. 16w+15; lane l holds, for every 8-column group e/4, columns 2(l%4), +1 of rows l/4 and l/4 + 8.
GF_TILE_FN int acc_row(int warp_in_group, int lane, int e) { return 16 * warp_in_group + lane / 4 + 8 * ((e >> 1) & 1); }
GF_TILE_FN int acc_col(int lane, int e) { return 8 * (e >> 2) + 2 * (lane % 4) + (e & 1); }

// The A operand of wgmma m64nNk16 in registers (16-bit): four 32-bit registers of two elements each,
// register r of lane l holding row 16w + l/4 + 8(r%2), columns 8(r/2) + 2(l%4) and +1 of the k-step. The
// accumulator already holds P that way: register r of k-step kk packs accumulator elements
// p_frag_index(kk, r) and the next one, so S becomes P·V's A operand without any data moving between threads.
GF_TILE_FN int p_frag_index(int kk, int r) { return 8 * kk + 2 * r; }

// ----------------------------------------------------------------------------------------- paged keys
// A key tile over a paged cache is loaded page by page (one TMA box per page and 64-column chunk): pages
// key0/block_size .. + block_n/block_size - 1, of which those whose first key is before kv_len.
GF_TILE_FN int pages_to_load(int key0, int block_n, int block_size, int kv_len) {
  const int pages = block_n / block_size;
  const int left = kv_len - key0;
  const int needed = left <= 0 ? 0 : (left + block_size - 1) / block_size;
  return needed < pages ? needed : pages;
}

}  // namespace tiles
}  // namespace cuda
}  // namespace gf

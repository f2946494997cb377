// Fused prefill attention for Hopper (sm_90a), FlashAttention-3 style: head dims 64 and 128, f16 and bf16,
// packed variable-length batches, causal or not, sliding window, ALiBi, GQA / MQA, and keys either contiguous
// (prefill) or in the paged KV cache (chunked prefill: a chunk's queries over its cached blocks and itself).
//
// A block owns 128 query rows of one head of one sequence and has three warpgroups:
//   - a producer (one warp of it active, its registers given back with setmaxnreg) that streams the tile of
//     queries and then every key tile the rows can see through the TMA unit into 128-byte-swizzled shared
//     memory, K and V each in a ring of stages guarded by mbarriers ("full": the bytes landed; "empty": every
//     consumer warp is done with the stage);
//   - two consumers of 64 rows each (registers raised to 240) that compute S = Q·Kᵀ and O += P·V with wgmma
//     (f32 accumulators; P goes from the S accumulator straight into the A registers of P·V), the softmax
//     online in the exp2 domain. Within a warpgroup the softmax of tile j runs while the tensor cores do
//     P_{j-1}·V_{j-1}; between the two warpgroups, named barriers take turns issuing matmuls so that one
//     warpgroup's softmax overlaps the other's matmuls ("ping-pong").
// Key tiles wholly visible to every row skip the per-element mask: only the causal diagonal, the window's
// start and the sequence's end pay for it (attention_tiles.h). Paged keys are loaded one TMA box per cache
// block; block sizes that are multiples of 8 dividing 128 qualify (16, the engine's, does).
//
// The output goes through shared memory (the warpgroup's own rows of Q, swizzled) to 16-byte stores of the
// rows inside the sequence. attention.cu picks this kernel on compute capability 9.0 and falls back to the
// mma.sync kernel wherever launch_attention_sm90 says it does not apply.
#include <cstdlib>
#include <string>
#include <type_traits>

#include "cuda/attention.cuh"
#include "cuda/attention_tiles.h"
#include "cuda/hopper.cuh"

namespace gf {
namespace cuda {
namespace {

template <typename T, int D>
struct Sm90Tile {
  static constexpr int kConsumers = 2;                       // math warpgroups, 64 query rows each
  static constexpr int kThreads = 128 * (kConsumers + 1);    // and one producer warpgroup
  static constexpr int kBlockM = 64 * kConsumers;            // query rows per block
  static constexpr int kBlockN = 128;                        // keys per tile
  static constexpr int kStages = D == 64 ? 3 : 2;            // K (and V) tiles in flight
  static constexpr int kChunks = D / tiles::kSwizzleElems;   // 64-column chunks of the head dim
  static constexpr int kKSteps = D / 16;                     // k-steps of Q·Kᵀ
  static constexpr int kPSteps = kBlockN / 16;               // k-steps of P·V
  static constexpr uint32_t kQBytes = kBlockM * D * 2;
  static constexpr uint32_t kKvBytes = kBlockN * D * 2;
  // shared memory, from a 1024-byte boundary: Q, the K stages, the V stages, then the mbarriers
  static constexpr uint32_t kKOff = kQBytes;
  static constexpr uint32_t kVOff = kKOff + kStages * kKvBytes;
  static constexpr uint32_t kBarOff = kVOff + kStages * kKvBytes;
  static constexpr int kBarriers = 1 + 4 * kStages;          // q_full; k_full, k_empty, v_full, v_empty per stage
  static constexpr size_t kSmemBytes = kBarOff + kBarriers * 8 + tiles::kSwizzleBlock;  // + room to align
  // registers: the launch bound gives every thread 65536 / 384 → 168; the producer gives back to 24 and the
  // consumers take the difference: 128·24 + 256·240 = 384·168
  static constexpr int kProducerRegs = 24;
  static constexpr int kConsumerRegs = 240;
  // named barriers (0 is __syncthreads): both consumers; each consumer's issue turn; each consumer's epilogue
  static constexpr int kBarConsumers = 1, kBarTurn = 2, kBarEpilogue = 4;

  static_assert(std::is_same<T, half>::value || std::is_same<T, bf16>::value, "f16 or bf16");
  static_assert(D == 64 || D == 128, "the Hopper kernel serves head dims 64 and 128");
  static_assert(kQBytes % tiles::kSwizzleBlock == 0 && kKvBytes % tiles::kSwizzleBlock == 0,
                "every tile must start at a 1024-byte boundary (the swizzle's period)");
  static_assert(kBlockN * tiles::kSwizzleBytes / 16 < (1 << 14), "P·V's leading byte offset fits its 14 bits");
  static_assert(kProducerRegs * 128 + kConsumerRegs * 128 * kConsumers <= (65536 / kThreads / 8 * 8) * kThreads,
                "setmaxnreg may only hand around the registers the block was launched with");
  static_assert(kSmemBytes <= 227 * 1024, "shared memory per block on sm_90");
};

// What the kernel reads: the problem, and the tensor maps of q [T, Hq, D] and of the keys and values
// (contiguous [T, Hkv, D], or the cache's [slots, Hkv, D]), each seen as (head dim, heads, rows) with a box
// of 64 columns × 1 head × box rows.
struct Sm90Params {
  AttnArgs a;
  CUtensorMap q, k, v;
};

// The block's shared memory, carved from the dynamic allocation at its first 1024-byte boundary.
template <typename T, int D>
struct Sm90Smem {
  using F = Sm90Tile<T, D>;
  unsigned char* q;
  unsigned char* k;  // stage s at k + s·kKvBytes
  unsigned char* v;
  uint64_t* q_full;
  uint64_t* k_full;  // [kStages] each
  uint64_t* k_empty;
  uint64_t* v_full;
  uint64_t* v_empty;

  __device__ explicit Sm90Smem(unsigned char* raw) {
    const uint32_t mis = smem_addr(raw) & (tiles::kSwizzleBlock - 1);
    unsigned char* base = raw + (mis ? tiles::kSwizzleBlock - mis : 0);
    q = base;
    k = base + F::kKOff;
    v = base + F::kVOff;
    q_full = reinterpret_cast<uint64_t*>(base + F::kBarOff);
    k_full = q_full + 1;
    k_empty = k_full + F::kStages;
    v_full = k_empty + F::kStages;
    v_empty = v_full + F::kStages;
  }
};

// Where a block's queries are: the sequence, its head and first query row, and the key tiles its rows visit.
struct BlockWork : QueryTile {
  SeqInfo s;
  int h = 0, q0 = 0;
};

// ------------------------------------------------------------------------------------------ producer
// Loads key or value tile `key0` of the block's KV head into `dst`, its bytes announced on `full`.
// Contiguous keys: one box of 128 rows per 64-column chunk (rows past the batch read as zeros). Paged keys:
// one box per cache block and chunk, each lane of the warp loading one block; blocks at or past the
// sequence's end are not loaded (the consumers mask those keys and zero those rows of V).
template <typename T, int D>
__device__ __forceinline__ void load_kv_tile(const AttnArgs& a, const CUtensorMap* map, unsigned char* dst,
                                             uint64_t* full, const SeqInfo& s, int hk, int key0) {
  using F = Sm90Tile<T, D>;
  const int lane = threadIdx.x % 32;
  if (!a.block_tables) {
    if (lane == 0) {
      sm90::mbar_arrive_expect_tx(full, F::kKvBytes);
#pragma unroll
      for (int c = 0; c < F::kChunks; c++) {
        sm90::tma_load_3d(dst + c * F::kBlockN * tiles::kSwizzleBytes, map, full, c * tiles::kSwizzleElems, hk,
                          static_cast<int>(s.kv.first_row + key0));
      }
    }
    return;
  }
  const int bs = a.block_size;
  const int pages = tiles::pages_to_load(key0, F::kBlockN, bs, s.kv_len);
  // the first cache slot of this lane's page (the block table entry checked, as every paged kernel does)
  const int slot0 = lane < pages ? static_cast<int>(s.kv.row_of(key0 + lane * bs)) : 0;
  if (lane == 0) sm90::mbar_arrive_expect_tx(full, uint32_t(pages) * F::kChunks * bs * tiles::kSwizzleBytes);
  __syncwarp();
  if (lane < pages) {
#pragma unroll
    for (int c = 0; c < F::kChunks; c++) {
      sm90::tma_load_3d(dst + c * F::kBlockN * tiles::kSwizzleBytes + lane * bs * tiles::kSwizzleBytes, map, full,
                        c * tiles::kSwizzleElems, hk, slot0);
    }
  }
}

// One warp: the block's queries once, then K and V of every key tile, each into the next free stage.
template <typename T, int D>
__device__ __forceinline__ void produce(const Sm90Params& p, const Sm90Smem<T, D>& sm, const BlockWork& w) {
  using F = Sm90Tile<T, D>;
  const AttnArgs& a = p.a;
  const int lane = threadIdx.x % 32;
  const int hk = w.h / (a.Hq / a.Hkv);
  if (lane == 0) {
    sm90::prefetch_tensor_map(&p.q);
    sm90::prefetch_tensor_map(&p.k);
    sm90::prefetch_tensor_map(&p.v);
    sm90::mbar_arrive_expect_tx(sm.q_full, F::kQBytes);
#pragma unroll
    for (int c = 0; c < F::kChunks; c++) {
      sm90::tma_load_3d(sm.q + c * F::kBlockM * tiles::kSwizzleBytes, &p.q, sm.q_full, c * tiles::kSwizzleElems,
                        w.h, static_cast<int>(w.s.q_start + w.q0));
    }
  }
  for (int it = 0; it < w.keys.count; it++) {
    const int stage = it % F::kStages;
    const uint32_t phase = (it / F::kStages) & 1;
    const int key0 = w.keys.first_key + it * F::kBlockN;
    sm90::mbar_wait(&sm.k_empty[stage], phase ^ 1);
    load_kv_tile<T, D>(a, &p.k, sm.k + stage * F::kKvBytes, &sm.k_full[stage], w.s, hk, key0);
    sm90::mbar_wait(&sm.v_empty[stage], phase ^ 1);
    load_kv_tile<T, D>(a, &p.v, sm.v + stage * F::kKvBytes, &sm.v_full[stage], w.s, hk, key0);
  }
}

// ------------------------------------------------------------------------------------------ consumers
// Rows of the last key tile at or past the sequence's end hold whatever the cache had there (never written,
// poisoned, another sequence's): zero them in V before P·V reads them, since P's zeros there would not
// cancel a NaN. Both consumer warpgroups share the work and meet at a barrier; the fence makes the plain
// stores visible to the tensor cores.
template <typename T, int D>
__device__ __forceinline__ void zero_v_rows(unsigned char* v_tile, int first_row) {
  using F = Sm90Tile<T, D>;
  const int rows = F::kBlockN - first_row;
  const int units_per_chunk = rows * (tiles::kSwizzleBytes / 16);
  for (int i = threadIdx.x - 128; i < F::kChunks * units_per_chunk; i += 128 * F::kConsumers) {
    const int c = i / units_per_chunk, u = i % units_per_chunk;
    // a whole row is zeroed, so where the swizzle put each 16-byte unit of it does not matter
    *reinterpret_cast<uint4*>(v_tile + c * F::kBlockN * tiles::kSwizzleBytes + first_row * tiles::kSwizzleBytes +
                              u * 16) = make_uint4(0, 0, 0, 0);
  }
  sm90::fence_proxy_async();
  sm90::named_sync(F::kBarConsumers, 128 * F::kConsumers);
}

template <typename T, int D>
__device__ __forceinline__ void consume(const Sm90Params& p, const Sm90Smem<T, D>& sm, const BlockWork& w) {
  using F = Sm90Tile<T, D>;
  const AttnArgs& a = p.a;
  const int wg = threadIdx.x / 128 - 1;  // consumer 0 or 1
  const int warp = (threadIdx.x / 32) % 4, lane = threadIdx.x % 32;
  const int row0 = w.q0 + 64 * wg;       // the warpgroup's first query row within the sequence
  // this thread's two rows: accumulator elements e with (e / 2) % 2 == r belong to row r
  const int qpos[2] = {w.s.q_offset + row0 + tiles::acc_row(warp, lane, 0),
                       w.s.q_offset + row0 + tiles::acc_row(warp, lane, 2)};
  const float slope = a.alibi ? a.alibi[w.h] * kLog2e : 0.0f;
  const uint32_t q_tile = smem_addr(sm.q);
  const int n = w.keys.count;

  float o[D / 2];
#pragma unroll
  for (int i = 0; i < D / 2; i++) o[i] = 0.0f;
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};  // sums are per-thread parts
  float sc[F::kBlockN / 2];            // S of the current tile, then its probabilities
  uint32_t pf[F::kPSteps][4];          // P of the previous tile as P·V's A operand

  // Issue turns: consumer 0 goes first; each issues its matmuls, then passes the turn to the other (consumer
  // 1 passes none after its last, which consumer 0's head start stands for).
  const int my_turn = F::kBarTurn + wg, other_turn = F::kBarTurn + (1 - wg);

  const auto key_stage = [](int j) { return j % F::kStages; };
  const auto phase = [](int j) { return uint32_t(j / F::kStages) & 1; };
  // S = Q·K_jᵀ over the head dim, and O += P·V_j over the tile's keys (each one commit group)
  const auto issue_s = [&](int j) {
    const uint32_t k_tile = smem_addr(sm.k + key_stage(j) * F::kKvBytes);
#pragma unroll
    for (int ks = 0; ks < F::kKSteps; ks++) {
      sm90::WgmmaSS<T, F::kBlockN>::run(sc, tiles::desc_k_major(q_tile, F::kBlockM, 64 * wg, ks),
                                        tiles::desc_k_major(k_tile, F::kBlockN, 0, ks), ks > 0);
    }
    sm90::wgmma_commit();
  };
  const auto issue_pv = [&](int j) {
    const uint32_t v_tile = smem_addr(sm.v + key_stage(j) * F::kKvBytes);
#pragma unroll
    for (int kk = 0; kk < F::kPSteps; kk++) sm90::WgmmaRS<T, D>::run(o, pf[kk], tiles::desc_mn_major(v_tile, F::kBlockN, kk));
    sm90::wgmma_commit();
  };
  // Once S_j has landed: the K stage goes back; scores into the exp2 domain (ALiBi, the mask where the tile
  // needs one); the online softmax: each row's new maximum (over the 4 lanes sharing it), the factor alpha
  // that rescales what came before, the probabilities and their sum.
  float alpha[2];
  const auto softmax = [&](int j) {
    sm90::hold(sc);
    if (lane == 0) sm90::mbar_arrive(&sm.k_empty[key_stage(j)]);
    const int key0 = w.keys.first_key + j * F::kBlockN;
    const bool masked = tiles::tile_needs_mask(w.mask, w.qpos_first, w.qpos_last, key0, F::kBlockN);
#pragma unroll
    for (int e = 0; e < F::kBlockN / 2; e++) {
      const int key = key0 + tiles::acc_col(lane, e);
      const int qp = qpos[(e >> 1) & 1];
      float x = sc[e] * a.scale_log2;
      if (a.alibi) x += slope * static_cast<float>(key - qp);
      if (masked && !tiles::key_visible(w.mask, qp, key)) x = -INFINITY;
      sc[e] = x;
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
      float mx = row_max[r];
#pragma unroll
      for (int i = 0; i < F::kBlockN / 8; i++) mx = fmaxf(mx, fmaxf(sc[4 * i + 2 * r], sc[4 * i + 2 * r + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float base = online_softmax_step(&row_max[r], mx, &alpha[r]);
      float sum = 0.0f;
#pragma unroll
      for (int i = 0; i < F::kBlockN / 8; i++) {
        sc[4 * i + 2 * r] = exp2f(sc[4 * i + 2 * r] - base);
        sc[4 * i + 2 * r + 1] = exp2f(sc[4 * i + 2 * r + 1] - base);
        sum += sc[4 * i + 2 * r] + sc[4 * i + 2 * r + 1];
      }
      row_sum[r] = row_sum[r] * alpha[r] + sum;
    }
  };
  // Once P_{j-1}·V_{j-1} has landed: the V stage goes back; O, which holds everything before tile j at the
  // old maxima, is rescaled; P_j becomes the A operand of the next P·V.
  const auto rescale_and_pack = [&]() {
#pragma unroll
    for (int i = 0; i < D / 2; i++) o[i] *= alpha[(i >> 1) & 1];
#pragma unroll
    for (int kk = 0; kk < F::kPSteps; kk++) {
#pragma unroll
      for (int r = 0; r < 4; r++) {
        const int e = tiles::p_frag_index(kk, r);
        pf[kk][r] = pack2<T>(sc[e], sc[e + 1]);
      }
    }
  };
  const auto pv_landed = [&](int j) {
    sm90::hold(o);
#pragma unroll
    for (int kk = 0; kk < F::kPSteps; kk++) sm90::hold(pf[kk]);  // read by P·V until here: keep them
    if (lane == 0) sm90::mbar_arrive(&sm.v_empty[key_stage(j)]);
  };

  // No key tiles at all: no turns taken, the rows are written as zeros.
  if (n > 0) {
    if (wg == 1) sm90::named_arrive(F::kBarTurn, 256);
    sm90::mbar_wait(sm.q_full, 0);

    // tile 0: S_0 alone
    sm90::mbar_wait(&sm.k_full[0], 0);
    sm90::named_sync(my_turn, 256);
    sm90::wgmma_fence();
    issue_s(0);
    sm90::named_arrive(other_turn, 256);
    sm90::wgmma_wait<0>();
    softmax(0);
    rescale_and_pack();

    // tile j: S_j and P_{j-1}·V_{j-1} issued together; the softmax of S_j runs while P_{j-1}·V_{j-1} does
    for (int j = 1; j < n; j++) {
      sm90::mbar_wait(&sm.k_full[key_stage(j)], phase(j));
      sm90::mbar_wait(&sm.v_full[key_stage(j - 1)], phase(j - 1));
      sm90::named_sync(my_turn, 256);
      sm90::wgmma_fence();
      issue_s(j);
      issue_pv(j - 1);
      sm90::named_arrive(other_turn, 256);
      sm90::wgmma_wait<1>();
      softmax(j);
      sm90::wgmma_wait<0>();
      pv_landed(j - 1);
      rescale_and_pack();
    }

    // the last P·V, after zeroing V's rows past the sequence's end
    sm90::mbar_wait(&sm.v_full[key_stage(n - 1)], phase(n - 1));
    const int v_end = w.s.kv_len - (w.keys.first_key + (n - 1) * F::kBlockN);
    if (v_end < F::kBlockN) zero_v_rows<T, D>(sm.v + key_stage(n - 1) * F::kKvBytes, v_end);
    sm90::named_sync(my_turn, 256);
    sm90::wgmma_fence();
    issue_pv(n - 1);
    if (wg == 0) sm90::named_arrive(other_turn, 256);
    sm90::wgmma_wait<0>();
    pv_landed(n - 1);
  }

  // Normalize; stage the warpgroup's rows in its own rows of the Q tile (its matmuls are done with them),
  // swizzled as the TMA left Q: the 8 rows a warp writes at once land in 8 different 16-byte units.
  float inv[2];
#pragma unroll
  for (int r = 0; r < 2; r++) {
    float l = row_sum[r];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    inv[r] = l > 0.0f ? 1.0f / l : 0.0f;
  }
#pragma unroll
  for (int e = 0; e < D / 2; e += 2) {
    const int r = (e >> 1) & 1;
    const uint32_t off = tiles::swizzle128(tiles::tile_offset(F::kBlockM, 64 * wg + tiles::acc_row(warp, lane, e),
                                                              tiles::acc_col(lane, e)));
    *reinterpret_cast<uint32_t*>(sm.q + off) = pack2<T>(o[e] * inv[r], o[e + 1] * inv[r]);
  }
  sm90::named_sync(F::kBarEpilogue + wg, 128);
  const int64_t q_stride = int64_t(a.Hq) * D;
  T* obase = static_cast<T*>(a.out) + w.s.q_start * q_stride + w.h * D;
  constexpr int kUnits = D / 8;  // 16-byte units per row
  for (int i = threadIdx.x % 128; i < 64 * kUnits; i += 128) {
    const int r = i / kUnits, u = i % kUnits;
    const int row = row0 + r;
    if (row < w.s.n_q) {
      const uint32_t off = tiles::swizzle128(tiles::tile_offset(F::kBlockM, 64 * wg + r, u * 8));
      *reinterpret_cast<uint4*>(obase + row * q_stride + u * 8) = *reinterpret_cast<const uint4*>(sm.q + off);
    }
  }
}

// The block's sequence, query rows and key tiles.
template <typename T, int D>
__device__ __forceinline__ BlockWork block_work(const AttnArgs& a, int b, int h, int q0) {
  using F = Sm90Tile<T, D>;
  BlockWork w;
  w.h = h;
  w.q0 = q0;
  w.s = seq_info(a, b);
  static_cast<QueryTile&>(w) = query_tile(a, w.s, q0, F::kBlockM, F::kBlockN);
  return w;
}

// grid (query tiles, Hq, B), the last query tiles (the most causal work) first. Each role works its block
// out after the register split: what lived across setmaxnreg would have to fit the producer's 24 registers.
template <typename T, int D>
__global__ void __launch_bounds__(Sm90Tile<T, D>::kThreads, 1) sm90_attention_kernel(const __grid_constant__ Sm90Params p) {
  using F = Sm90Tile<T, D>;
  extern __shared__ unsigned char smem_raw[];
  const AttnArgs& a = p.a;
  const int b = blockIdx.z, h = blockIdx.y;
  const int q0 = (gridDim.x - 1 - blockIdx.x) * F::kBlockM;
  {
    const SeqInfo s = seq_info(a, b);
    if (blockIdx.x == 0 && h == 0 && threadIdx.x == 0 && s.n_q > int(gridDim.x) * F::kBlockM) {
      report_fault(a.faults, FaultKind::SeqTooLong, b, s.n_q, a.max_q_len);
    }
    if (q0 >= s.n_q) return;
  }
  if (threadIdx.x == 0) {
    const Sm90Smem<T, D> sm(smem_raw);
    sm90::mbar_init(sm.q_full, 1);
    for (int i = 0; i < F::kStages; i++) {
      sm90::mbar_init(&sm.k_full[i], 1);  // the producer's arrive.expect_tx; the TMA completes the bytes
      sm90::mbar_init(&sm.v_full[i], 1);
      sm90::mbar_init(&sm.k_empty[i], 4 * F::kConsumers);  // lane 0 of every consumer warp
      sm90::mbar_init(&sm.v_empty[i], 4 * F::kConsumers);
    }
    sm90::fence_barrier_init();
  }
  __syncthreads();

  if (threadIdx.x < 128) {
    sm90::regs_release<F::kProducerRegs>();
    if (threadIdx.x < 32) {
      const BlockWork w = block_work<T, D>(a, b, h, q0);
      if (w.keys.count > 0) produce<T, D>(p, Sm90Smem<T, D>(smem_raw), w);
    }
  } else {
    sm90::regs_claim<F::kConsumerRegs>();
    consume<T, D>(p, Sm90Smem<T, D>(smem_raw), block_work<T, D>(a, b, h, q0));
  }
}

// ---------------------------------------------------------------------------------------------- host
using EncodeTiled = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                 const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                 CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

// cuTensorMapEncodeTiled from the driver, through the runtime (the addon links no driver library); null
// where the driver lacks it.
EncodeTiled encode_tiled() {
  static const EncodeTiled fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult found{};
#if CUDART_VERSION >= 12050
    const cudaError_t err = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &found);
#else
    const cudaError_t err = cudaGetDriverEntryPoint("cuTensorMapEncodeTiled", &f, cudaEnableDefault, &found);
#endif
    if (err != cudaSuccess || found != cudaDriverEntryPointSuccess) {
      cudaGetLastError();
      f = nullptr;
    }
    return reinterpret_cast<EncodeTiled>(f);
  }();
  return fn;
}

// A 3-D map of rows × heads × head dim (16-bit elements), boxes of 64 columns × 1 head × box_rows rows,
// 128-byte swizzle; reads past the extent give zeros.
bool encode_rows(CUtensorMap* map, DType dtype, const void* base, int64_t rows, int heads, int D, int box_rows) {
  const cuuint64_t dims[3] = {cuuint64_t(D), cuuint64_t(heads), cuuint64_t(rows)};
  const cuuint64_t strides[2] = {cuuint64_t(D) * 2, cuuint64_t(heads) * D * 2};  // bytes, dims 1 and 2
  const cuuint32_t box[3] = {cuuint32_t(tiles::kSwizzleElems), 1, cuuint32_t(box_rows)};
  const cuuint32_t elem_strides[3] = {1, 1, 1};
  const CUresult r = encode_tiled()(map, dtype == DType::F16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16,
                                    3, const_cast<void*>(base), dims, strides, box, elem_strides,
                                    CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                                    CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return r == CUDA_SUCCESS;
}

template <typename T, int D>
void launch(const Sm90Params& p, cudaStream_t stream) {
  using F = Sm90Tile<T, D>;
  auto kernel = sm90_attention_kernel<T, D>;
  GF_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(F::kSmemBytes)));
  const dim3 grid(static_cast<unsigned>(std::max<int64_t>(1, ceil_div(p.a.max_q_len, F::kBlockM))),
                  static_cast<unsigned>(p.a.Hq), static_cast<unsigned>(p.a.B));
  kernel<<<grid, F::kThreads, F::kSmemBytes, stream>>>(p);
  GF_CUDA_LAUNCHED();
}

}  // namespace

// GPUFORMER_SM90_ATTENTION=0 sends Hopper's prefill to the mma.sync kernel instead (to compare the two, or
// to step around this kernel).
bool sm90_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("GPUFORMER_SM90_ATTENTION");
    return !(v && std::string(v) == "0");
  }();
  return enabled;
}

bool attention_sm90_applies(const AttnArgs& a, DType dtype, int device) {
  if (dtype != DType::F16 && dtype != DType::BF16) return false;
  if (a.D != 64 && a.D != 128) return false;
  if (!sm90_enabled()) return false;
  int major = 0, minor = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  if (major != 9 || minor != 0) return false;  // sm_90a code runs on compute capability 9.0 alone
  if (!aligned16(a.q) || !aligned16(a.k) || !aligned16(a.v) || !aligned16(a.out)) return false;
  if (a.T > 0x7fffffff) return false;  // TMA coordinates are 32-bit
  if (a.block_tables) {
    // one TMA box per cache block, each starting a 1024-byte boundary of its tile
    if (a.block_size % 8 != 0 || 128 % a.block_size != 0) return false;
    if (int64_t(a.num_blocks) * a.block_size > 0x7fffffff) return false;
  }
  if (encode_tiled() == nullptr) return false;
  // the sm_90a image loads on this driver (a driver too old for the toolkit would refuse it)
  cudaFuncAttributes attr;
  if (cudaFuncGetAttributes(&attr, sm90_attention_kernel<half, 64>) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return true;
}

void launch_attention_sm90(const AttnArgs& a, DType dtype, cudaStream_t stream) {
  GF_CHECK_INPUT(a.B <= 65535 && a.Hq <= 65535, "attention: at most 65535 sequences and heads per call on CUDA, got ",
                 a.B, " sequences and ", a.Hq, " heads");
  Sm90Params p;
  p.a = a;
  const int64_t kv_rows = a.block_tables ? int64_t(a.num_blocks) * a.block_size : a.T;
  const int kv_box = a.block_tables ? a.block_size : 128;
  const int q_box = Sm90Tile<half, 64>::kBlockM;
  if (!encode_rows(&p.q, dtype, a.q, a.T, a.Hq, a.D, q_box) || !encode_rows(&p.k, dtype, a.k, kv_rows, a.Hkv, a.D, kv_box) ||
      !encode_rows(&p.v, dtype, a.v, kv_rows, a.Hkv, a.D, kv_box)) {
    fail(ErrorCode::Cuda, "attention: cuTensorMapEncodeTiled refused the tensors (", a.T, " tokens, ", a.Hq, "/", a.Hkv,
         " heads of ", a.D, ")");
  }
  if (dtype == DType::F16) {
    a.D == 64 ? launch<half, 64>(p, stream) : launch<half, 128>(p, stream);
  } else {
    a.D == 64 ? launch<bf16, 64>(p, stream) : launch<bf16, 128>(p, stream);
  }
}

}  // namespace cuda
}  // namespace gf

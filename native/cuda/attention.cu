// The prefill attention family's entry (launch_attention_prefill: the Hopper kernel of attention_sm90.cu
// where it applies, else the kernel below; f32 the tiled CUDA-core kernel of attention_f32.cu), the
// `attention` op, and the mma.sync kernel,
// FlashAttention-2 style, the path of sm_80/86/89 and of the head dims the Hopper kernel lacks: a block owns
// 128 query rows of one head of one sequence (16 per warp; 64 rows at head dim 256, for registers), streams
// the sequence's keys and values through shared memory in tiles, computes S = QKᵀ and O += PV with
// m16n8k16 tensor-core MMAs fed by ldmatrix (f32 accumulators), and keeps the softmax online (running max
// and sum per row), so no S×S matrix ever exists. V of a tile is loaded with cp.async while S is computed,
// and the next K while the softmax and P·V run. Only tiles crossing a mask boundary pay for the per-element
// mask (attention_tiles.h). The same kernel reads paged keys (chunked prefill over a cached prefix) through
// KvAddress.
#include "cuda/attention.cuh"
#include "cuda/attention_tiles.h"
#include "cuda/cuda_ops.h"
#include "cuda/mma.cuh"

namespace gf {
namespace cuda {
namespace {

template <typename T, int D>
struct Flash {
  static constexpr int kWarps = D <= 128 ? 8 : 4;  // 128 query rows share each key tile (64 at D = 256)
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kBr = 16 * kWarps;          // query rows per block
  static constexpr int kBc = D <= 128 ? 64 : 32;   // keys per tile (smaller for D = 256: registers)
  static constexpr int kStride = D + 8;            // smem row stride: a 16-byte pad makes ldmatrix conflict-free
  static constexpr bool kQInRegs = D <= 128;       // Q fragments held in registers across the key loop
  static constexpr int kKSteps = D / 16;           // k-steps of QKᵀ
  static constexpr int kSTiles = kBc / 8;          // n-tiles of S per warp
  static constexpr int kOTiles = D / 8;            // n-tiles of O per warp
  static constexpr int kChunks = D / 8;            // 16-byte chunks per row
  static constexpr size_t kSmemBytes = size_t(kBr + 2 * kBc) * kStride * sizeof(T);
  static_assert(D % 16 == 0, "head dim must be a multiple of 16");
};

// Copies keys [key0, key0 + kBc) of one KV head into a tile; keys at or past `key_end` are zero-filled.
template <typename T, int D>
__device__ __forceinline__ void load_kv_tile(T* tile, const T* base, const KvAddress& kv, int64_t row_stride,
                                             int key0, int key_end) {
  using F = Flash<T, D>;
  for (int i = threadIdx.x; i < F::kBc * F::kChunks; i += F::kThreads) {
    const int r = i / F::kChunks, c = i % F::kChunks;
    const int j = key0 + r;
    const bool ok = j < key_end;
    const T* src = ok ? base + kv.row_of(j) * row_stride + c * 8 : base;
    cp_async16(tile + r * F::kStride + c * 8, src, ok);
  }
}

template <typename T, int D>
__global__ void __launch_bounds__(Flash<T, D>::kThreads) flash_attention_kernel(const AttnArgs a) {
  using F = Flash<T, D>;
  extern __shared__ __align__(16) unsigned char smem[];
  T* sQ = reinterpret_cast<T*>(smem);
  T* sK = sQ + F::kBr * F::kStride;
  T* sV = sK + F::kBc * F::kStride;

  const int b = blockIdx.z, h = blockIdx.y;
  const int tile = gridDim.x - 1 - blockIdx.x;  // the last query tiles have the most causal work: start them first
  const SeqInfo s = seq_info(a, b);
  if (blockIdx.x == 0 && h == 0 && threadIdx.x == 0 && s.n_q > gridDim.x * F::kBr) {
    report_fault(a.faults, FaultKind::SeqTooLong, b, s.n_q, a.max_q_len);
  }
  const int q0 = tile * F::kBr;
  if (q0 >= s.n_q) return;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t4 = lane % 4;
  const int hk = h / (a.Hq / a.Hkv);
  const int64_t q_stride = int64_t(a.Hq) * D, kv_stride = int64_t(a.Hkv) * D;
  const T* qbase = static_cast<const T*>(a.q) + s.q_start * q_stride + h * D;
  const T* kbase = static_cast<const T*>(a.k) + hk * D;
  const T* vbase = static_cast<const T*>(a.v) + hk * D;

  // Keys this tile of queries can see: from the first row's window start to the last row's causal end.
  const QueryTile qt = query_tile(a, s, q0, F::kBr, F::kBc);
  const int first_key = qt.keys.first_key, n_tiles = qt.keys.count;
  const int k_hi = s.kv_len;  // keys past it load as zeros

  for (int i = threadIdx.x; i < F::kBr * F::kChunks; i += F::kThreads) {
    const int r = i / F::kChunks, c = i % F::kChunks;
    const bool ok = q0 + r < s.n_q;
    cp_async16(sQ + r * F::kStride + c * 8, ok ? qbase + (q0 + r) * q_stride + c * 8 : qbase, ok);
  }
  if (n_tiles > 0) load_kv_tile<T, D>(sK, kbase, s.kv, kv_stride, first_key, k_hi);
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();

  // Q fragments of this warp's 16 rows (A operand, row-major 16×16 per k-step).
  const T* q_frag_row = sQ + (warp * 16 + (lane % 16)) * F::kStride + (lane / 16) * 8;
  uint32_t qf[F::kQInRegs ? F::kKSteps : 1][4];
  if constexpr (F::kQInRegs) {
#pragma unroll
    for (int ks = 0; ks < F::kKSteps; ks++) ldmatrix_x4(qf[ks], q_frag_row + ks * 16);
  }

  float o[F::kOTiles][4];
#pragma unroll
  for (int i = 0; i < F::kOTiles; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};  // rows g and g + 8; sums are per-thread parts
  const int qpos[2] = {s.q_offset + q0 + warp * 16 + g, s.q_offset + q0 + warp * 16 + g + 8};
  const float slope = a.alibi ? a.alibi[h] * kLog2e : 0.0f;

  for (int it = 0; it < n_tiles; it++) {
    const int key0 = first_key + it * F::kBc;
    load_kv_tile<T, D>(sV, vbase, s.kv, kv_stride, key0, k_hi);
    cp_async_commit();

    // S = Q Kᵀ for this warp's 16 rows × kBc keys.
    float sc[F::kSTiles][4];
#pragma unroll
    for (int i = 0; i < F::kSTiles; i++) sc[i][0] = sc[i][1] = sc[i][2] = sc[i][3] = 0.0f;
#pragma unroll
    for (int ks = 0; ks < F::kKSteps; ks++) {
      uint32_t af[4];
      if constexpr (F::kQInRegs) {
        af[0] = qf[ks][0], af[1] = qf[ks][1], af[2] = qf[ks][2], af[3] = qf[ks][3];
      } else {
        ldmatrix_x4(af, q_frag_row + ks * 16);
      }
#pragma unroll
      for (int np = 0; np < F::kSTiles / 2; np++) {
        uint32_t bf[4];
        ldmatrix_x4(bf, sK + (np * 16 + (lane % 8) + (lane / 16) * 8) * F::kStride + ks * 16 + ((lane / 8) % 2) * 8);
        mma_16816<T>(sc[2 * np], af, bf);
        mma_16816<T>(sc[2 * np + 1], af, bf + 2);
      }
    }

    // Scale into the exp2 domain, add ALiBi, mask where this tile crosses a boundary.
    const bool need_mask = tiles::tile_needs_mask(qt.mask, qt.qpos_first, qt.qpos_last, key0, F::kBc);
#pragma unroll
    for (int nt = 0; nt < F::kSTiles; nt++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int key = key0 + nt * 8 + 2 * t4 + (e & 1);
        const int qp = qpos[e >> 1];
        float x = sc[nt][e] * a.scale_log2;
        if (a.alibi) x += slope * static_cast<float>(key - qp);
        if (need_mask && !tiles::key_visible(qt.mask, qp, key)) x = -INFINITY;
        sc[nt][e] = x;
      }
    }

    // Online softmax: new row maxima (over the quad of lanes sharing a row), rescale what came before.
    online_softmax_tile(sc, o, row_max, row_sum);

    __syncthreads();  // every warp is done with this K tile
    if (it + 1 < n_tiles) load_kv_tile<T, D>(sK, kbase, s.kv, kv_stride, key0 + F::kBc, k_hi);
    cp_async_commit();
    cp_async_wait<1>();  // V of this tile has landed (the next K may still be in flight)
    __syncthreads();

    // O += P V: the S accumulators of two adjacent n-tiles are exactly one A fragment of P.
#pragma unroll
    for (int kk = 0; kk < F::kBc / 16; kk++) {
      const uint32_t pa[4] = {pack2<T>(sc[2 * kk][0], sc[2 * kk][1]), pack2<T>(sc[2 * kk][2], sc[2 * kk][3]),
                              pack2<T>(sc[2 * kk + 1][0], sc[2 * kk + 1][1]),
                              pack2<T>(sc[2 * kk + 1][2], sc[2 * kk + 1][3])};
#pragma unroll
      for (int dp = 0; dp < F::kOTiles / 2; dp++) {
        uint32_t bf[4];
        ldmatrix_x4_trans(bf, sV + (kk * 16 + (lane % 8) + ((lane / 8) % 2) * 8) * F::kStride + dp * 16 + (lane / 16) * 8);
        mma_16816<T>(o[2 * dp], pa, bf);
        mma_16816<T>(o[2 * dp + 1], pa, bf + 2);
      }
    }
    cp_async_wait<0>();
    __syncthreads();  // V reads done before the next tile overwrites it; the next K is visible
  }

  // Normalize, stage this warp's rows in its own part of sQ, and store them with 16-byte writes.
#pragma unroll
  for (int r = 0; r < 2; r++) {
    float l = row_sum[r];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    T* srow = sQ + (warp * 16 + g + 8 * r) * F::kStride + 2 * t4;
#pragma unroll
    for (int dt = 0; dt < F::kOTiles; dt++) {
      *reinterpret_cast<uint32_t*>(srow + dt * 8) = pack2<T>(o[dt][2 * r] * inv, o[dt][2 * r + 1] * inv);
    }
  }
  __syncwarp();
  T* obase = static_cast<T*>(a.out) + s.q_start * q_stride + h * D;
  for (int i = lane; i < 16 * F::kChunks; i += 32) {
    const int r = i / F::kChunks, c = i % F::kChunks;
    const int row = q0 + warp * 16 + r;
    if (row < s.n_q) {
      *reinterpret_cast<uint4*>(obase + row * q_stride + c * 8) =
          *reinterpret_cast<const uint4*>(sQ + (warp * 16 + r) * F::kStride + c * 8);
    }
  }
}

template <typename T, int D>
void launch_flash(const AttnArgs& a, cudaStream_t stream) {
  using F = Flash<T, D>;
  auto kernel = flash_attention_kernel<T, D>;
  GF_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(F::kSmemBytes)));
  const dim3 grid(static_cast<unsigned>(std::max<int64_t>(1, ceil_div(a.max_q_len, F::kBr))),
                  static_cast<unsigned>(a.Hq), static_cast<unsigned>(a.B));
  kernel<<<grid, F::kThreads, F::kSmemBytes, stream>>>(a);
  GF_CUDA_LAUNCHED();
}

template <typename T>
void launch_flash_for_dim(const AttnArgs& a, cudaStream_t stream) {
  switch (a.D) {
    case 32: return launch_flash<T, 32>(a, stream);
    case 64: return launch_flash<T, 64>(a, stream);
    case 80: return launch_flash<T, 80>(a, stream);
    case 96: return launch_flash<T, 96>(a, stream);
    case 128: return launch_flash<T, 128>(a, stream);
    case 256: return launch_flash<T, 256>(a, stream);
    default: fail(ErrorCode::Unsupported, "attention: head dim ", a.D, " has no CUDA kernel");
  }
}

void launch_attention_mma(const AttnArgs& a, DType dtype, cudaStream_t stream) {
  GF_CHECK_INPUT(a.B <= 65535 && a.Hq <= 65535, "attention: at most 65535 sequences and heads per call on CUDA, got ",
                 a.B, " sequences and ", a.Hq, " heads");
  if (dtype == DType::F16) {
    launch_flash_for_dim<half>(a, stream);
  } else if (dtype == DType::BF16) {
    launch_flash_for_dim<bf16>(a, stream);
  } else {
    fail(ErrorCode::Input, "attention: the tensor-core kernel takes f16 or bf16, got ", dtype_name(dtype));
  }
}

}  // namespace

void launch_attention_prefill(const AttnArgs& a, DType dtype, int device, cudaStream_t stream) {
  if (dtype == DType::F32) {
    // head dim 256 keeps the split-KV kernel (attention_f32.cu says why)
    if (attention_f32_applies(a)) return launch_attention_f32(a, stream);
    return launch_attention_split_kv(a, dtype, device, stream);
  }
#if GPUFORMER_SM90_ATTENTION
  if (attention_sm90_applies(a, dtype, device)) return launch_attention_sm90(a, dtype, stream);
#endif
  launch_attention_mma(a, dtype, stream);
}

// q [T,Hq,D], k [T,Hkv,D], v [T,Hkv,D], cu_seqlens i32 [B+1], out [T,Hq,D]
void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cu_seqlens, int max_seqlen,
               const AttentionParams& p, Tensor& out) {
  const Launch l = launch_for(out);
  AttnArgs a = attention_args(q, k, v, static_cast<int>(k.dim(1)), cu_seqlens, p, out, l);
  a.max_q_len = max_seqlen;
  a.max_kv_len = max_seqlen;
  if (a.T == 0 || a.B == 0) return;
  launch_attention_prefill(a, q.dtype, l.device, l.stream);
}

}  // namespace cuda
}  // namespace gf

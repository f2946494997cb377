#include "cuda/gemm.cuh"
#include "cuda/mma.cuh"

namespace gf {
namespace cuda {
namespace {

// ---------------------------------------------------------------------------------- tensor-core kernel
// Block tile 128×128×32, 8 warps as 2 (M) × 4 (N), each warp 64×32 = 4×4 m16n8 tiles; a 3-stage cp.async
// pipeline keeps two k-slices in flight while the third is multiplied. Needs K % 8 == 0 and 16-byte
// aligned rows (every cp.async moves 8 elements).
struct MmaTile {
  static constexpr int kBM = 128, kBN = 128, kBK = 32, kStages = 3;
  static constexpr int kThreads = 256;
  static constexpr int kStride = kBK + 8;  // smem row stride (elements): conflict-free ldmatrix
  static constexpr int kWarpM = 64, kWarpN = 32;
  static constexpr int kMT = kWarpM / 16, kNT = kWarpN / 8;
  static constexpr size_t kStageElems = size_t(kBM + kBN) * kStride;
  static constexpr size_t kSmemBytes = kStages * kStageElems * 2;
};

template <typename T>
__device__ __forceinline__ void load_gemm_stage(T* sA, T* sB, const T* A, const T* B, int64_t M, int64_t N, int64_t K,
                                                int64_t m0, int64_t n0, int64_t k0) {
  using P = MmaTile;
  constexpr int kChunks = P::kBK / 8;  // 16-byte chunks per row of the slice
  for (int i = threadIdx.x; i < (P::kBM + P::kBN) * kChunks; i += P::kThreads) {
    const int r = i / kChunks, c = i % kChunks;
    const int64_t k = k0 + c * 8;
    if (r < P::kBM) {
      const bool ok = m0 + r < M && k < K;
      cp_async16(sA + r * P::kStride + c * 8, ok ? A + (m0 + r) * K + k : A, ok);
    } else {
      const int rb = r - P::kBM;
      const bool ok = n0 + rb < N && k < K;
      cp_async16(sB + rb * P::kStride + c * 8, ok ? B + (n0 + rb) * K + k : B, ok);
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(MmaTile::kThreads) gemm_mma_kernel(const GemmArgs g) {
  using P = MmaTile;
  extern __shared__ __align__(16) unsigned char smem[];
  T* stages = reinterpret_cast<T*>(smem);
  const T* A = static_cast<const T*>(g.a);
  const T* B = static_cast<const T*>(g.b);
  const int64_t m0 = int64_t(blockIdx.y) * P::kBM, n0 = int64_t(blockIdx.x) * P::kBN;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wm = warp / 4, wn = warp % 4;
  const int k_tiles = static_cast<int>((g.K + P::kBK - 1) / P::kBK);

  float acc[P::kMT][P::kNT][4];
#pragma unroll
  for (int i = 0; i < P::kMT; i++)
#pragma unroll
    for (int j = 0; j < P::kNT; j++) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0.0f;

#pragma unroll
  for (int s = 0; s < P::kStages - 1; s++) {
    if (s < k_tiles) {
      T* st = stages + s * P::kStageElems;
      load_gemm_stage(st, st + P::kBM * P::kStride, A, B, g.M, g.N, g.K, m0, n0, int64_t(s) * P::kBK);
    }
    cp_async_commit();
  }

  for (int kt = 0; kt < k_tiles; kt++) {
    cp_async_wait<P::kStages - 2>();  // slice kt has landed
    __syncthreads();                  // ... for every thread, and slice kt-1's buffer is free again
    const int next = kt + P::kStages - 1;
    if (next < k_tiles) {
      T* st = stages + (next % P::kStages) * P::kStageElems;
      load_gemm_stage(st, st + P::kBM * P::kStride, A, B, g.M, g.N, g.K, m0, n0, int64_t(next) * P::kBK);
    }
    cp_async_commit();

    const T* sA = stages + (kt % P::kStages) * P::kStageElems;
    const T* sB = sA + P::kBM * P::kStride;
#pragma unroll
    for (int ks = 0; ks < P::kBK / 16; ks++) {
      uint32_t af[P::kMT][4], bf[P::kNT / 2][4];
#pragma unroll
      for (int mt = 0; mt < P::kMT; mt++) {
        ldmatrix_x4(af[mt], sA + (wm * P::kWarpM + mt * 16 + (lane % 16)) * P::kStride + ks * 16 + (lane / 16) * 8);
      }
#pragma unroll
      for (int np = 0; np < P::kNT / 2; np++) {
        ldmatrix_x4(bf[np], sB + (wn * P::kWarpN + np * 16 + (lane % 8) + (lane / 16) * 8) * P::kStride + ks * 16 +
                                ((lane / 8) % 2) * 8);
      }
#pragma unroll
      for (int mt = 0; mt < P::kMT; mt++)
#pragma unroll
        for (int nt = 0; nt < P::kNT; nt++) mma_16816<T>(acc[mt][nt], af[mt], bf[nt / 2] + (nt % 2) * 2);
    }
  }
  cp_async_wait<0>();

  // Epilogue: bias, convert, store (pairs of columns when they fit).
  T* C = static_cast<T*>(g.c);
  const int g4 = lane / 4, t4 = lane % 4;
#pragma unroll
  for (int mt = 0; mt < P::kMT; mt++) {
#pragma unroll
    for (int nt = 0; nt < P::kNT; nt++) {
      const int64_t col = n0 + wn * P::kWarpN + nt * 8 + 2 * t4;
      const float b0 = g.bias.p && col < g.N ? load_weight(g.bias, col) : 0.0f;
      const float b1 = g.bias.p && col + 1 < g.N ? load_weight(g.bias, col + 1) : 0.0f;
#pragma unroll
      for (int hrow = 0; hrow < 2; hrow++) {
        const int64_t row = m0 + wm * P::kWarpM + mt * 16 + g4 + hrow * 8;
        if (row >= g.M) continue;
        T* dst = C + row * g.ldc + col;
        const float v0 = acc[mt][nt][2 * hrow] + b0, v1 = acc[mt][nt][2 * hrow + 1] + b1;
        if (col + 1 < g.N && (g.ldc % 2 == 0)) {
          *reinterpret_cast<uint32_t*>(dst) = pack2<T>(v0, v1);
        } else {
          if (col < g.N) dst[0] = from_f32<T>(v0);
          if (col + 1 < g.N) dst[1] = from_f32<T>(v1);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------- CUDA-core kernel
// 64×64 block tile, k-slices of 16 through shared memory, 256 threads each computing a 4×4 patch.
template <typename T>
__global__ void __launch_bounds__(256) gemm_simt_kernel(const GemmArgs g) {
  constexpr int kB = 64, kK = 16;
  __shared__ float sA[kK][kB + 4], sB[kK][kB + 4];  // k-major: a thread reads 4 consecutive rows / columns
  const T* A = static_cast<const T*>(g.a);
  const T* B = static_cast<const T*>(g.b);
  const int64_t m0 = int64_t(blockIdx.y) * kB, n0 = int64_t(blockIdx.x) * kB;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < g.K; k0 += kK) {
    for (int i = threadIdx.x; i < kB * kK; i += 256) {
      const int r = i / kK, k = i % kK;  // consecutive threads walk along k: coalesced rows
      sA[k][r] = m0 + r < g.M && k0 + k < g.K ? to_f32(A[(m0 + r) * g.K + k0 + k]) : 0.0f;
      sB[k][r] = n0 + r < g.N && k0 + k < g.K ? to_f32(B[(n0 + r) * g.K + k0 + k]) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kK; k++) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; i++) {
        a[i] = sA[k][ty * 4 + i];
        b[i] = sB[k][tx * 4 + i];
      }
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
  T* C = static_cast<T*>(g.c);
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const int64_t row = m0 + ty * 4 + i;
    if (row >= g.M) continue;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const int64_t col = n0 + tx * 4 + j;
      if (col < g.N) C[row * g.ldc + col] = from_f32<T>(acc[i][j] + (g.bias.p ? load_weight(g.bias, col) : 0.0f));
    }
  }
}

template <typename T>
__global__ void add_bias_kernel(T* c, WeightRef bias, int64_t M, int64_t N, int64_t ldc) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= M * N) return;
  const int64_t m = i / N, n = i % N;
  T* p = c + m * ldc + n;
  *p = from_f32<T>(to_f32(*p) + load_weight(bias, n));
}

}  // namespace

void launch_gemm_builtin(const GemmArgs& g, cudaStream_t stream) {
  if (g.M == 0 || g.N == 0) return;
  GF_CHECK_INPUT(ceil_div(g.M, 64) <= 65535, "linear: too many rows for one CUDA launch (", g.M, ")");
  const bool tensor_cores = g.dtype != DType::F32 && g.K % 8 == 0 && aligned16(g.a) && aligned16(g.b);
  if (tensor_cores) {
    const dim3 grid(static_cast<unsigned>(ceil_div(g.N, MmaTile::kBN)), static_cast<unsigned>(ceil_div(g.M, MmaTile::kBM)));
    auto launch = [&](auto tag) {
      using T = decltype(tag);
      auto kernel = gemm_mma_kernel<T>;
      GF_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(MmaTile::kSmemBytes)));
      kernel<<<grid, MmaTile::kThreads, MmaTile::kSmemBytes, stream>>>(g);
    };
    if (g.dtype == DType::F16) launch(half{}); else launch(bf16{});
  } else {
    const dim3 grid(static_cast<unsigned>(ceil_div(g.N, 64)), static_cast<unsigned>(ceil_div(g.M, 64)));
    with_float_type(g.dtype, "linear", [&](auto tag) { gemm_simt_kernel<decltype(tag)><<<grid, 256, 0, stream>>>(g); });
  }
  GF_CUDA_LAUNCHED();
}

void launch_add_bias(void* c, DType dtype, WeightRef bias, int64_t M, int64_t N, int64_t ldc, cudaStream_t stream) {
  if (M == 0 || N == 0) return;
  with_float_type(dtype, "linear", [&](auto tag) {
    using T = decltype(tag);
    add_bias_kernel<T><<<static_cast<unsigned>(ceil_div(M * N, 256)), 256, 0, stream>>>(static_cast<T*>(c), bias, M, N, ldc);
  });
  GF_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace gf

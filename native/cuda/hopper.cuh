// Hopper (sm_90a) building blocks for kernels compiled only for that target (the *_sm90.cu files, built by
// CMakeLists.txt for sm_90a alone and picked at run time on compute capability 9.0): mbarriers, TMA tensor
// loads, asynchronous warpgroup MMA (wgmma), named barriers and register reallocation (setmaxnreg).
// PTX ISA sections: "mbarrier", "cp.async.bulk.tensor", "wgmma.mma_async", "setmaxnreg", "bar.sync".
#pragma once
#include <cuda.h>  // CUtensorMap (the type only: the addon never links the driver library)

#include "cuda/common.cuh"
#include "cuda/mma.cuh"

#if defined(__CUDA_ARCH__) && !defined(__CUDA_ARCH_FEAT_SM90_ALL)
#error "hopper.cuh is for sm_90a code only (CMakeLists.txt builds the *_sm90.cu files for 90a-real alone)"
#endif

namespace gf {
namespace cuda {
namespace sm90 {

// ------------------------------------------------------------------------------------------ mbarriers
// A shared-memory barrier that counts arrivals and, for TMA, transaction bytes; each completion flips its
// phase. A waiter names the parity of the phase it waits for: a fresh barrier is in phase 0, so waiting for
// parity 1 returns at once (the convention that lets a producer's first pass over its empty barriers run).
__device__ __forceinline__ void mbar_init(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}

// Makes barrier initialization visible to the asynchronous proxy (the TMA unit) before first use.
__device__ __forceinline__ void fence_barrier_init() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}

// One arrival that also announces `bytes` more transaction bytes to come (the TMA copies it waits for).
__device__ __forceinline__ void mbar_arrive_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(bytes)
               : "memory");
}

__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_addr(bar)) : "memory");
}

__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
  const uint32_t addr = smem_addr(bar);
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n"
        ".reg .pred p;\n"
        "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
        "selp.u32 %0, 1, 0, p;\n"
        "}\n"
        : "=r"(done)
        : "r"(addr), "r"(parity)
        : "memory");
  } while (!done);
}

// ------------------------------------------------------------------------------------------------ TMA
// Copies the box at coordinates (c0, c1, c2) of a 3-D tensor map into shared memory at dst, completing
// its bytes on `bar`. Coordinates past the tensor's extent read as zeros (and still count their bytes).
__device__ __forceinline__ void tma_load_3d(void* dst, const CUtensorMap* map, uint64_t* bar, int c0, int c1,
                                            int c2) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], [%5];\n" ::
          "r"(smem_addr(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(smem_addr(bar))
      : "memory");
}

__device__ __forceinline__ void prefetch_tensor_map(const CUtensorMap* map) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(map)) : "memory");
}

// Orders this thread's ordinary shared-memory writes before later reads by the tensor cores or the TMA.
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// ------------------------------------------------------------------------- named barriers, registers
// Barrier `id` (1..15; 0 is __syncthreads) completes when `threads` threads have arrived; sync waits, arrive
// does not.
__device__ __forceinline__ void named_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void named_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

// Per-thread register budget of the executing warpgroup (a multiple of 8 in [24, 256]); takes effect only
// in a kernel with a register cap at entry (__launch_bounds__(threads, 1)).
template <int N>
__device__ __forceinline__ void regs_release() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N) : "memory");
}
template <int N>
__device__ __forceinline__ void regs_claim() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N) : "memory");
}

// ------------------------------------------------------------------------------------------------ wgmma
// A batch of wgmma.mma_async is issued between fence() (the accumulator and A registers the batch reads
// were written by ordinary instructions) and commit(); wait<N>() returns once at most N committed batches
// are still running. The registers a running batch writes or reads must not be touched until then:
// hold() after wait() tells the compiler that each such register changed there, so no read of it moves
// above the wait.
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
template <int N>
__device__ __forceinline__ void hold(float (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; i++) asm volatile("" : "+f"(r[i])::"memory");
}
template <int N>
__device__ __forceinline__ void hold(uint32_t (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; i++) asm volatile("" : "+r"(r[i])::"memory");
}

// d (64 × N f32, N/2 per thread) = A·B (+ d when accumulate): A and B both read from shared memory through
// descriptors, both K-major. T is half or bf16.
template <typename T, int N>
struct WgmmaSS;
// d += A·B with A in registers (four 32-bit registers, see tiles::p_frag_index) and B MN-major in shared
// memory (imm-trans-b = 1).
template <typename T, int N>
struct WgmmaRS;

// The accumulator operand lists: "%0, ..., %31" / "%0, ..., %63" in the asm text, and as many "+f"s.
#define GF_WGMMA_ACC32 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
#define GF_WGMMA_ACC64 GF_WGMMA_ACC32 ", %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
#define GF_F8(d, i) \
  "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), "+f"(d[i + 7])
#define GF_F32(d) GF_F8(d, 0), GF_F8(d, 8), GF_F8(d, 16), GF_F8(d, 24)
#define GF_F64(d) GF_F32(d), GF_F8(d, 32), GF_F8(d, 40), GF_F8(d, 48), GF_F8(d, 56)

// A-in-registers form, for one shape: imm-scale-a/b = 1, B MN-major (imm-trans-b = 1), always accumulating.
// a_regs, b_op and p_op name the operands after the accumulators.
#define GF_WGMMA_RS(T, ty, n, acc_text, acc_ops, a_regs, b_op, p_op)                                      \
  template <>                                                                                             \
  struct WgmmaRS<T, n> {                                                                                  \
    static __device__ __forceinline__ void run(float (&d)[n / 2], const uint32_t (&a)[4], uint64_t b) {   \
      asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " p_op ", 0;\n"                                       \
                   "wgmma.mma_async.sync.aligned.m64n" #n "k16.f32." ty "." ty " {" acc_text "}, {" a_regs  \
                   "}, " b_op ", p, 1, 1, 1;\n}\n"                                                        \
                   : acc_ops(d)                                                                           \
                   : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1));                         \
    }                                                                                                     \
  };

// The three shapes the attention kernel uses, for one element type (ty: its PTX name). scale-d is a
// predicate: 0 makes d = A·B, ignoring what d held. SS: both operands K-major (imm-trans-a/b = 0).
#define GF_DEFINE_WGMMA(T, ty)                                                                              \
  template <>                                                                                               \
  struct WgmmaSS<T, 128> {                                                                                  \
    static __device__ __forceinline__ void run(float (&d)[64], uint64_t a, uint64_t b, int accumulate) {    \
      asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"                                              \
                   "wgmma.mma_async.sync.aligned.m64n128k16.f32." ty "." ty " {" GF_WGMMA_ACC64              \
                   "}, %64, %65, p, 1, 1, 0, 0;\n}\n"                                                        \
                   : GF_F64(d)                                                                              \
                   : "l"(a), "l"(b), "r"(accumulate));                                                      \
    }                                                                                                       \
  };                                                                                                        \
  GF_WGMMA_RS(T, ty, 128, GF_WGMMA_ACC64, GF_F64, "%64, %65, %66, %67", "%68", "%69")                       \
  GF_WGMMA_RS(T, ty, 64, GF_WGMMA_ACC32, GF_F32, "%32, %33, %34, %35", "%36", "%37")
GF_DEFINE_WGMMA(half, "f16")
GF_DEFINE_WGMMA(bf16, "bf16")
#undef GF_DEFINE_WGMMA
#undef GF_WGMMA_RS

}  // namespace sm90
}  // namespace cuda
}  // namespace gf

#include "cuda/cuda_ops.h"
#include "cuda/device_faults.cuh"
#include "cuda/embedding.cuh"
#include "cuda/norm.cuh"

namespace gf {
namespace cuda {
namespace {

constexpr int kThreads = 128;

struct EmbeddingArgs {
  const int32_t* ids;
  const void* tok;
  int V;
  const int32_t* pos_ids;  // null when absent
  WeightRef pos;
  int P;
  const int32_t* type_ids;  // null when absent
  WeightRef type;
  int Y;
  float scale;
  int64_t C;
  DeviceFault* faults;
};

// grid (T, column blocks); each thread writes kVec consecutive columns of token t.
template <typename Reader, typename Out, int kVec>
__global__ void embedding_kernel(EmbeddingArgs a, Out* __restrict__ out) {
  const int t = blockIdx.x;
  const int64_t c = (int64_t(blockIdx.y) * blockDim.x + threadIdx.x) * kVec;
  if (c >= a.C) return;
  const int id = checked_index(a.faults, FaultKind::EmbeddingId, t, a.ids[t], a.V);
  float v[kVec];
  Reader::template read<kVec>(a.tok, id, a.C, c, v);
#pragma unroll
  for (int j = 0; j < kVec; j++) v[j] *= a.scale;
  if (a.pos_ids) {
    const int p = checked_index(a.faults, FaultKind::EmbeddingPosId, t, a.pos_ids[t], a.P);
#pragma unroll
    for (int j = 0; j < kVec; j++) v[j] += load_weight(a.pos, int64_t(p) * a.C + c + j);
  }
  if (a.type_ids) {
    const int y = checked_index(a.faults, FaultKind::EmbeddingTypeId, t, a.type_ids[t], a.Y);
#pragma unroll
    for (int j = 0; j < kVec; j++) v[j] += load_weight(a.type, int64_t(y) * a.C + c + j);
  }
  Out* o = out + int64_t(t) * a.C + c;
  if constexpr (kVec > 1 && kVec % kVecElems<Out> == 0) {
#pragma unroll
    for (int j = 0; j < kVec; j += kVecElems<Out>) {
      Vec<Out> w;
#pragma unroll
      for (int k = 0; k < kVecElems<Out>; k++) w.v[k] = from_f32<Out>(v[j + k]);
      store_vec(o + j, w);
    }
  } else {
#pragma unroll
    for (int j = 0; j < kVec; j++) o[j] = from_f32<Out>(v[j]);
  }
}

template <typename Reader, typename Out>
void launch_embedding(const EmbeddingArgs& a, int64_t T, bool vectorizable, Out* out, cudaStream_t stream) {
  constexpr int kWide = 8;  // 16 bytes of f16/bf16, two 16-byte words of f32
  const int vec = vectorizable ? kWide : 1;
  const dim3 grid(static_cast<unsigned>(T), static_cast<unsigned>(ceil_div(a.C, int64_t(kThreads) * vec)));
  if (vectorizable) {
    embedding_kernel<Reader, Out, kWide><<<grid, kThreads, 0, stream>>>(a, out);
  } else {
    embedding_kernel<Reader, Out, 1><<<grid, kThreads, 0, stream>>>(a, out);
  }
}

}  // namespace

// ids i32 [T], tok [V,C], pos_ids [T] + pos [P,C] optional, type_ids [T] + type [Y,C] optional, out [T,C]
void embedding(const Tensor& ids, const Tensor& tok, const Tensor* pos_ids, const Tensor* pos,
               const Tensor* type_ids, const Tensor* type, float scale, Tensor& out) {
  const Launch l = launch_for(out);
  const int64_t T = ids.dim(0), C = tok.dim(1), V = tok.dim(0);
  if (T == 0 || C == 0) return;
  GF_CHECK_INPUT(V >= 1, "embedding: the token table 'tok' has no rows");
  GF_CHECK_INPUT(!pos || pos->dim(0) >= 1, "embedding: the position table 'pos' has no rows");
  GF_CHECK_INPUT(!type || type->dim(0) >= 1, "embedding: the type table 'type' has no rows");
  GF_CHECK_INPUT(T <= 0x7fffffff && V <= 0x7fffffff, "embedding: too many tokens or table rows");
  EmbeddingArgs a{cptr<int32_t>(ids), tok.raw(), static_cast<int>(V),
                  pos_ids ? cptr<int32_t>(*pos_ids) : nullptr, weight_ref(pos), pos ? static_cast<int>(pos->dim(0)) : 0,
                  type_ids ? cptr<int32_t>(*type_ids) : nullptr, weight_ref(type), type ? static_cast<int>(type->dim(0)) : 0,
                  scale, C, l.faults};
  // 8 columns per thread when every row starts on a 16-byte boundary (quantized rows: 8 | 32 always).
  const bool vectorizable = C % 8 == 0 && aligned16(out.raw()) && (is_quantized(tok.dtype) || aligned16(tok.raw()));
  with_float_type(out.dtype, "embedding", [&](auto out_tag) {
    using Out = decltype(out_tag);
    if (is_quantized(tok.dtype)) {
      with_quant_type(tok.dtype, "embedding", [&](auto q_tag) {
        launch_embedding<QuantTableReader<decltype(q_tag)>, Out>(a, T, vectorizable, mptr<Out>(out), l.stream);
      });
    } else {
      with_float_type(tok.dtype, "embedding", [&](auto tok_tag) {
        launch_embedding<TableReader<decltype(tok_tag)>, Out>(a, T, vectorizable, mptr<Out>(out), l.stream);
      });
    }
  });
  GF_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace gf

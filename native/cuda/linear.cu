#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "cuda/cublaslt.h"
#include "cuda/cuda_ops.h"
#include "cuda/elementwise.cuh"
#include "cuda/gemv.cuh"
#include "cuda/linear.cuh"
#include "cuda/workspace.h"
#include "gpuformer/cuda_runtime.h"

namespace gf {
namespace cuda {
namespace {

constexpr size_t kOperandSliceBytes = 64 << 20;  // converted-weight scratch per slice
constexpr size_t kLtWorkspaceBytes = 32 << 20;   // what cuBLASLt may use for split-K and friends

cudaDataType_t lt_type(DType t) {
  switch (t) {
    case DType::F16: return CUDA_R_16F;
    case DType::BF16: return CUDA_R_16BF;
    default: return CUDA_R_32F;
  }
}

// A prepared cuBLASLt call for one problem shape; prepared once, reused for every call of that shape.
struct LtPlan {
  lt::MatmulDesc desc = nullptr;
  lt::MatrixLayout a = nullptr, b = nullptr, c = nullptr;
  lt::MatmulAlgo algo{};
  size_t workspace = 0;
  bool usable = false;
};

using LtKey = std::tuple<int, int, int64_t, int64_t, int64_t, int64_t, int>;  // device, dtype, M, N, K, ldc, bias

struct LtState {
  std::mutex mutex;
  std::map<int, lt::Handle> handles;  // per device
  std::map<LtKey, LtPlan> plans;
};
LtState& lt_state() {
  static LtState* s = new LtState();  // never destroyed: handles outlive static destruction order
  return *s;
}

#define GF_LT_CHECK(expr)                                                                                  \
  do {                                                                                                     \
    const lt::Status st_ = (expr);                                                                         \
    if (st_ != lt::kSuccess) fail(ErrorCode::Cuda, "cuBLASLt: ", #expr, " failed: ", lt::describe_status(st_)); \
  } while (0)

// D (column-major N×M, ld = ldc) = Wᵀ-view · X-view: cuBLASLt sees the row-major w [N,K] as a K×N
// column-major matrix taken transposed, and x [M,K] as K×M; the bias runs along D's rows (features).
LtPlan make_plan(const lt::Api& api, lt::Handle h, const GemmArgs& g, bool bias_epilogue) {
  LtPlan p;
  const cudaDataType_t t = lt_type(g.dtype);
  GF_LT_CHECK(api.matmul_desc_create(&p.desc, lt::kCompute32F, CUDA_R_32F));
  const int32_t ta = lt::kOpT, tb = lt::kOpN;
  GF_LT_CHECK(api.matmul_desc_set_attribute(p.desc, lt::kDescTransA, &ta, sizeof(ta)));
  GF_LT_CHECK(api.matmul_desc_set_attribute(p.desc, lt::kDescTransB, &tb, sizeof(tb)));
  if (bias_epilogue) {
    const uint32_t epi = lt::kEpilogueBias;
    GF_LT_CHECK(api.matmul_desc_set_attribute(p.desc, lt::kDescEpilogue, &epi, sizeof(epi)));
    const int32_t bt = t;
    GF_LT_CHECK(api.matmul_desc_set_attribute(p.desc, lt::kDescBiasDataType, &bt, sizeof(bt)));
    // a placeholder with the bias's alignment, so the heuristic picks an algorithm that can read it
    const void* bias = g.bias.p;
    GF_LT_CHECK(api.matmul_desc_set_attribute(p.desc, lt::kDescBiasPointer, &bias, sizeof(bias)));
  }
  GF_LT_CHECK(api.matrix_layout_create(&p.a, t, g.K, g.N, g.K));
  GF_LT_CHECK(api.matrix_layout_create(&p.b, t, g.K, g.M, g.K));
  GF_LT_CHECK(api.matrix_layout_create(&p.c, t, g.N, g.M, g.ldc));
  lt::MatmulPreference pref = nullptr;
  GF_LT_CHECK(api.preference_create(&pref));
  const uint64_t ws = kLtWorkspaceBytes;
  GF_LT_CHECK(api.preference_set_attribute(pref, lt::kPrefMaxWorkspaceBytes, &ws, sizeof(ws)));
  lt::HeuristicResult result{};
  int returned = 0;
  const lt::Status st = api.algo_get_heuristic(h, p.desc, p.a, p.b, p.c, p.c, pref, 1, &result, &returned);
  api.preference_destroy(pref);
  if (st == lt::kSuccess && returned > 0 && result.state == lt::kSuccess) {
    p.algo = result.algo;
    p.workspace = result.workspace_size;
    p.usable = true;
  }
  return p;
}

// Runs the GEMM through cuBLASLt; false when cuBLASLt is absent or declines the shape (the caller then
// uses the built-in kernels).
bool gemm_cublaslt(const Launch& l, const GemmArgs& g) {
  const lt::Api* api = lt::api();
  if (!api || g.K == 0) return false;
  const size_t es = dtype_unit_bytes(g.dtype);
  // cuBLASLt's fast kernels want 16-byte aligned matrices; anything else goes to the built-in kernels.
  if (!aligned16(g.a) || !aligned16(g.b) || !aligned16(g.c) || (g.K * es) % 16 || (g.ldc * es) % 16) return false;
  const bool bias_epilogue = g.bias.p && g.bias.dtype == g.dtype && aligned16(g.bias.p);
  LtState& st = lt_state();
  std::lock_guard<std::mutex> lock(st.mutex);
  lt::Handle& h = st.handles[l.device];
  if (!h) GF_LT_CHECK(api->create(&h));
  const LtKey key{l.device, static_cast<int>(g.dtype), g.M, g.N, g.K, g.ldc, bias_epilogue ? 1 : 0};
  auto it = st.plans.find(key);
  if (it == st.plans.end()) it = st.plans.emplace(key, make_plan(*api, h, g, bias_epilogue)).first;
  LtPlan& p = it->second;
  if (!p.usable) return false;
  if (bias_epilogue) GF_LT_CHECK(api->matmul_desc_set_attribute(p.desc, lt::kDescBiasPointer, &g.bias.p, sizeof(g.bias.p)));
  void* ws = p.workspace ? scratch(l.device, Scratch::CublasLt, p.workspace) : nullptr;
  const float alpha = 1.0f, beta = 0.0f;
  GF_LT_CHECK(api->matmul(h, p.desc, &alpha, g.b, p.a, g.a, p.b, &beta, g.c, p.c, g.c, p.c, &p.algo, ws, p.workspace,
                          l.stream));
  if (g.bias.p && !bias_epilogue) launch_add_bias(g.c, g.dtype, g.bias, g.M, g.N, g.ldc, l.stream);
  return true;
}

void gemm(const Launch& l, const GemmArgs& g) {
  if (g.M == 0 || g.N == 0) return;
  if (!gemm_cublaslt(l, g)) launch_gemm_builtin(g, l.stream);
}

WeightRef offset_bias(WeightRef b, int64_t n0) {
  if (b.p) b.p = static_cast<const char*>(b.p) + dtype_bytes(b.dtype, n0);
  return b;
}


RowsMatmul rows_problem(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  RowsMatmul p;
  p.x = x.raw();
  p.w = w.raw();
  p.bias = weight_ref(bias);
  p.out = out.raw();
  p.x_dtype = x.dtype;
  p.w_dtype = w.dtype;
  p.M = x.dim(0);
  p.K = x.dim(1);
  p.N = w.dim(0);
  p.ldc = p.N;
  return p;
}

// Whether linear() sends decode-sized products to the row kernels: on unless GPUFORMER_CUDA_DECODE_KERNELS=0;
// set_decode_kernels() changes it at run time (comparisons with cuBLASLt, a way around a kernel in doubt).
std::atomic<bool>& decode_kernels_flag() {
  static std::atomic<bool> on{[] {
    const char* v = std::getenv("GPUFORMER_CUDA_DECODE_KERNELS");
    return !(v && std::string(v) == "0");
  }()};
  return on;
}

}  // namespace

void set_decode_kernels(bool on) { decode_kernels_flag().store(on); }
bool decode_kernels() { return decode_kernels_flag().load(std::memory_order_relaxed); }

// x [M,K], w [N,K] (float or Q8_0/Q4_0/Q4_1), bias [N] optional, out [M,N]
void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  const Launch l = launch_for(out);
  const int64_t M = x.dim(0), K = x.dim(1), N = w.dim(0);
  if (M == 0 || N == 0) return;
  const WeightRef b = weight_ref(bias);

  // Decode-sized products: the row kernels stream the weights (f32 weights with f32 activations stay with
  // cuBLASLt, whose GEMV is the same CUDA-core work); what they decline goes on to the GEMM below.
  if (M <= kDecodeMaxRows && decode_kernels() && !(x.dtype == DType::F32 && w.dtype == DType::F32) &&
      launch_rows_matmul(rows_problem(x, w, bias, out), l.device, l.stream, nullptr)) {
    return;
  }

  GemmArgs g;
  g.a = x.raw();
  g.dtype = x.dtype;
  g.M = M;
  g.K = K;
  g.ldc = N;
  if (w.dtype == x.dtype) {
    g.b = w.raw();
    g.c = out.raw();
    g.N = N;
    g.bias = b;
    gemm(l, g);
    return;
  }
  // The weight in another dtype (or quantized): convert it slice by slice into x's dtype, one GEMM per slice.
  const size_t row_bytes = dtype_bytes(x.dtype, K);
  // Slices of a multiple of 64 rows keep every slice's output columns 16-byte aligned.
  int64_t rows_per_slice = int64_t(kOperandSliceBytes / std::max<size_t>(row_bytes, 1)) / 64 * 64;
  rows_per_slice = std::min(N, std::max<int64_t>(64, rows_per_slice));
  void* slice = scratch(l.device, Scratch::GemmOperand, size_t(rows_per_slice) * std::max<size_t>(row_bytes, 1));
  for (int64_t n0 = 0; n0 < N; n0 += rows_per_slice) {
    const int64_t rows = std::min(rows_per_slice, N - n0);
    launch_convert(static_cast<const char*>(w.raw()) + dtype_bytes(w.dtype, n0 * K), w.dtype, slice, x.dtype, rows * K,
                   l.stream);
    g.b = slice;
    g.c = static_cast<char*>(out.raw()) + dtype_bytes(out.dtype, n0);
    g.N = rows;
    g.bias = offset_bias(b, n0);
    gemm(l, g);
  }
}

// linear() with every row computed by the row kernels, whatever M is (gemv.cuh: a row's arithmetic does not
// depend on the others); what they decline is ERR_GPUFORMER_UNSUPPORTED rather than a silent other path.
void linear_batch_invariant(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  const Launch l = launch_for(out);
  std::string why;
  if (!launch_rows_matmul(rows_problem(x, w, bias, out), l.device, l.stream, &why)) {
    fail(ErrorCode::Unsupported, "linear (batch-invariant): no row kernel takes w ", w.describe(), " with x ",
         x.describe(), ": ", why);
  }
}

// One launch sequence per weight: the CUDA kernels gain nothing from sharing x the way the CPU's threads do.
void linears(const Tensor& x, const std::vector<Tensor>& ws, const std::vector<const Tensor*>& biases,
             std::vector<Tensor>& outs, bool batch_invariant) {
  for (size_t i = 0; i < ws.size(); i++) {
    const Tensor* bias = biases.empty() ? nullptr : biases[i];
    if (batch_invariant) {
      cuda::linear_batch_invariant(x, ws[i], bias, outs[i]);  // qualified: ADL would also find gf::
    } else {
      cuda::linear(x, ws[i], bias, outs[i]);
    }
  }
}

}  // namespace cuda
}  // namespace gf

// cuBLASLt, opened at run time. The build machine and CI have no cuBLAS headers or libraries, and the
// addon must load where cuBLAS is absent, so nothing links against it: the handful of types, enum values
// and entry points used here are declared below (values from the cuBLASLt API reference, stable since
// CUDA 11), and the library is found with dlopen on first use:
//   1. $GPUFORMER_CUBLASLT (a path to the library, or to the folder that holds it),
//   2. libcublasLt.so.13, then .12, through the dynamic loader's usual search (LD_LIBRARY_PATH, ld cache),
//   3. the CUDA toolkit folders (/usr/local/cuda/lib64, $CUDA_HOME/lib64),
//   4. an installed nvidia-cublas Python wheel (site-packages/nvidia/{cu13,cublas}/lib).
// When none loads, linear() uses its own tensor-core GEMM, and cublaslt_status() says why.
#pragma once
#include <cuda_runtime_api.h>
#include <library_types.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace gf {
namespace cuda {
namespace lt {

using Status = int;  // cublasStatus_t: 0 is success
constexpr Status kSuccess = 0;

using Handle = void*;          // cublasLtHandle_t
using MatmulDesc = void*;      // cublasLtMatmulDesc_t
using MatrixLayout = void*;    // cublasLtMatrixLayout_t
using MatmulPreference = void*;

struct MatmulAlgo {  // cublasLtMatmulAlgo_t (semi-opaque)
  uint64_t data[8];
};

struct HeuristicResult {  // cublasLtMatmulHeuristicResult_t
  MatmulAlgo algo;
  size_t workspace_size;
  Status state;
  float waves_count;
  int reserved[4];
};

// cublasComputeType_t, cublasOperation_t and the attribute / epilogue enums we set.
constexpr int kCompute32F = 68;
constexpr int kOpN = 0, kOpT = 1;
constexpr int kDescTransA = 3, kDescTransB = 4, kDescEpilogue = 7, kDescBiasPointer = 8, kDescBiasDataType = 26;
constexpr uint32_t kEpilogueDefault = 1, kEpilogueBias = 4;
constexpr int kPrefMaxWorkspaceBytes = 1;

struct Api {
  Status (*create)(Handle*);
  Status (*destroy)(Handle);
  size_t (*get_version)();
  Status (*matmul_desc_create)(MatmulDesc*, int compute_type, cudaDataType_t scale_type);
  Status (*matmul_desc_destroy)(MatmulDesc);
  Status (*matmul_desc_set_attribute)(MatmulDesc, int attr, const void* buf, size_t size);
  Status (*matrix_layout_create)(MatrixLayout*, cudaDataType_t type, uint64_t rows, uint64_t cols, int64_t ld);
  Status (*matrix_layout_destroy)(MatrixLayout);
  Status (*preference_create)(MatmulPreference*);
  Status (*preference_destroy)(MatmulPreference);
  Status (*preference_set_attribute)(MatmulPreference, int attr, const void* buf, size_t size);
  Status (*algo_get_heuristic)(Handle, MatmulDesc, MatrixLayout a, MatrixLayout b, MatrixLayout c, MatrixLayout d,
                               MatmulPreference, int requested, HeuristicResult* results, int* returned);
  Status (*matmul)(Handle, MatmulDesc, const void* alpha, const void* a, MatrixLayout, const void* b, MatrixLayout,
                   const void* beta, const void* c, MatrixLayout, void* d, MatrixLayout, const MatmulAlgo* algo,
                   void* workspace, size_t workspace_bytes, cudaStream_t stream);
  const char* (*status_string)(Status);  // may be null in old versions
};

// The loaded API, or null when cuBLASLt could not be opened (load_error() says why). Thread-safe; tries once.
const Api* api();
const std::string& load_error();
std::string describe_status(Status s);

}  // namespace lt

// "cublasLt <version> (<path>)" or "built-in GEMM kernels (<why cuBLASLt is not used>)".
std::string gemm_backend();

}  // namespace cuda
}  // namespace gf

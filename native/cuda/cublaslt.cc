#include "cuda/cublaslt.h"

#include <dlfcn.h>
#include <glob.h>

#include <cstdlib>
#include <mutex>
#include <vector>

#include "gpuformer/error.h"

namespace gf {
namespace cuda {
namespace lt {
namespace {

std::once_flag g_once;
Api g_api{};
bool g_loaded = false;
std::string g_error;
std::string g_path;

// Candidate library files, most specific first.
std::vector<std::string> candidates() {
  std::vector<std::string> out;
  const char* names[] = {"libcublasLt.so.13", "libcublasLt.so.12"};
  if (const char* env = std::getenv("GPUFORMER_CUBLASLT")) {
    const std::string p = env;
    if (!p.empty()) {
      out.push_back(p);
      for (const char* n : names) out.push_back(p + "/" + n);
    }
  }
  for (const char* n : names) out.push_back(n);  // the loader's own search path
  std::vector<std::string> dirs = {"/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib"};
  if (const char* home = std::getenv("CUDA_HOME")) dirs.push_back(std::string(home) + "/lib64");
  if (const char* home = std::getenv("CUDA_PATH")) dirs.push_back(std::string(home) + "/lib64");
  for (const auto& d : dirs)
    for (const char* n : names) out.push_back(d + "/" + n);
  // Python wheels: nvidia-cublas (CUDA 13 wheels put it under nvidia/cu13/lib, CUDA 12 under nvidia/cublas/lib).
  std::vector<std::string> prefixes = {"/usr/lib", "/usr/local/lib", "/opt/conda/lib", "/opt/*/.venv/lib",
                                       "/opt/*/lib"};
  if (const char* v = std::getenv("VIRTUAL_ENV")) prefixes.insert(prefixes.begin(), std::string(v) + "/lib");
  if (const char* v = std::getenv("CONDA_PREFIX")) prefixes.insert(prefixes.begin(), std::string(v) + "/lib");
  if (const char* v = std::getenv("HOME")) prefixes.push_back(std::string(v) + "/.local/lib");
  std::vector<std::string> site_dirs;
  if (const char* pp = std::getenv("PYTHONPATH")) {
    std::string s = pp;
    size_t start = 0;
    while (start <= s.size()) {
      const size_t end = s.find(':', start);
      const std::string part = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (!part.empty()) site_dirs.push_back(part);
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  for (const auto& p : prefixes) site_dirs.push_back(p + "/python3*/*-packages");
  for (const auto& site : site_dirs) {
    for (const char* sub : {"/nvidia/cu13/lib/libcublasLt.so.13", "/nvidia/cublas/lib/libcublasLt.so.13",
                            "/nvidia/cublas/lib/libcublasLt.so.12", "/nvidia/cu12/lib/libcublasLt.so.12"}) {
      glob_t g{};
      if (glob((site + sub).c_str(), 0, nullptr, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) out.push_back(g.gl_pathv[i]);
      }
      globfree(&g);
    }
  }
  return out;
}

template <typename F>
bool bind(void* lib, const char* name, F* fn, std::string* missing) {
  *fn = reinterpret_cast<F>(dlsym(lib, name));
  if (!*fn) *missing = name;
  return *fn != nullptr;
}

void load() {
  std::string tried;
  for (const auto& path : candidates()) {
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      if (tried.size() < 600) tried += (tried.empty() ? "" : "; ") + std::string(dlerror());
      continue;
    }
    Api a{};
    std::string missing;
    const bool ok = bind(lib, "cublasLtCreate", &a.create, &missing) &&
                    bind(lib, "cublasLtDestroy", &a.destroy, &missing) &&
                    bind(lib, "cublasLtGetVersion", &a.get_version, &missing) &&
                    bind(lib, "cublasLtMatmulDescCreate", &a.matmul_desc_create, &missing) &&
                    bind(lib, "cublasLtMatmulDescDestroy", &a.matmul_desc_destroy, &missing) &&
                    bind(lib, "cublasLtMatmulDescSetAttribute", &a.matmul_desc_set_attribute, &missing) &&
                    bind(lib, "cublasLtMatrixLayoutCreate", &a.matrix_layout_create, &missing) &&
                    bind(lib, "cublasLtMatrixLayoutDestroy", &a.matrix_layout_destroy, &missing) &&
                    bind(lib, "cublasLtMatmulPreferenceCreate", &a.preference_create, &missing) &&
                    bind(lib, "cublasLtMatmulPreferenceDestroy", &a.preference_destroy, &missing) &&
                    bind(lib, "cublasLtMatmulPreferenceSetAttribute", &a.preference_set_attribute, &missing) &&
                    bind(lib, "cublasLtMatmulAlgoGetHeuristic", &a.algo_get_heuristic, &missing) &&
                    bind(lib, "cublasLtMatmul", &a.matmul, &missing);
    if (!ok) {
      tried += "; " + path + " lacks " + missing;
      dlclose(lib);
      continue;
    }
    a.status_string = reinterpret_cast<const char* (*)(Status)>(dlsym(lib, "cublasLtGetStatusString"));
    g_api = a;
    g_loaded = true;
    g_path = path;
    return;  // the library stays open for the life of the process
  }
  g_error = "libcublasLt.so.13 / .12 not found (set GPUFORMER_CUBLASLT to its path): " + tried;
}

}  // namespace

const Api* api() {
  if (std::getenv("GPUFORMER_NO_CUBLASLT")) return nullptr;  // forces the built-in kernels (tests, benchmarks)
  std::call_once(g_once, load);
  return g_loaded ? &g_api : nullptr;
}

const std::string& load_error() {
  std::call_once(g_once, load);
  return g_error;
}

std::string describe_status(Status s) {
  const Api* a = g_loaded ? &g_api : nullptr;
  if (a && a->status_string) return cat(a->status_string(s), " (", s, ")");
  return cat("cuBLAS status ", s);
}

}  // namespace lt

std::string gemm_backend() {
  if (std::getenv("GPUFORMER_NO_CUBLASLT")) return "built-in GEMM kernels (GPUFORMER_NO_CUBLASLT is set)";
  const lt::Api* a = lt::api();
  if (a) return cat("cublasLt ", a->get_version(), " (", lt::g_path, ")");
  return "built-in GEMM kernels (" + lt::load_error() + ")";
}

}  // namespace cuda
}  // namespace gf

// Names of enums as JavaScript sees them.
#include "gpuformer/dtype.h"
#include "gpuformer/error.h"
#include "gpuformer/tensor.h"

namespace gf {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::Input: return "ERR_GPUFORMER_INPUT";
    case ErrorCode::OOM: return "ERR_GPUFORMER_OOM";
    case ErrorCode::BadWeights: return "ERR_GPUFORMER_BAD_WEIGHTS";
    case ErrorCode::Unsupported: return "ERR_GPUFORMER_UNSUPPORTED";
    case ErrorCode::Cuda: return "ERR_GPUFORMER_CUDA";
  }
  return "ERR_GPUFORMER_INPUT";
}

namespace {
const char* const kDTypeNames[] = {"f32", "f16", "bf16", "i32", "i64", "i8", "q8_0", "q4_0", "q4_1"};
const char* const kTagNames[] = {"weights", "kv", "workspace", "activations", "other"};
}  // namespace

const char* dtype_name(DType t) { return kDTypeNames[static_cast<int>(t)]; }

bool dtype_from_name(const std::string& name, DType* out) {
  for (int i = 0; i < 9; i++) {
    if (name == kDTypeNames[i]) {
      *out = static_cast<DType>(i);
      return true;
    }
  }
  return false;
}

const char* memory_tag_name(MemoryTag t) { return kTagNames[static_cast<int>(t)]; }

bool memory_tag_from_name(const std::string& s, MemoryTag* out) {
  for (int i = 0; i < static_cast<int>(MemoryTag::Count); i++) {
    if (s == kTagNames[i]) {
      *out = static_cast<MemoryTag>(i);
      return true;
    }
  }
  return false;
}

}  // namespace gf

// Errors with stable codes. Every failure that reaches JavaScript is a gf::Error; the addon turns it into a
// GpuformerError whose `code` is one of the strings below (DESIGN section 3).
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace gf {

enum class ErrorCode {
  Input,        // ERR_GPUFORMER_INPUT: shape, dtype, device, id out of range, wrong argument type
  OOM,          // ERR_GPUFORMER_OOM: an allocation failed or would not fit
  BadWeights,   // ERR_GPUFORMER_BAD_WEIGHTS: malformed weight files
  Unsupported,  // ERR_GPUFORMER_UNSUPPORTED: valid request this build or device cannot do
  Cuda,         // ERR_GPUFORMER_CUDA: a CUDA runtime / driver failure
};

const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// cat("a", 1, "b") -> "a1b": builds messages that name arguments and values.
template <typename... Args>
std::string cat(const Args&... args) {
  std::ostringstream s;
  (s << ... << args);
  return s.str();
}

template <typename... Args>
[[noreturn]] void fail(ErrorCode code, const Args&... args) {
  throw Error(code, cat(args...));
}

}  // namespace gf

#define GF_CHECK(cond, code, ...)                         \
  do {                                                    \
    if (!(cond)) ::gf::fail(::gf::ErrorCode::code, __VA_ARGS__); \
  } while (0)

#define GF_CHECK_INPUT(cond, ...) GF_CHECK(cond, Input, __VA_ARGS__)

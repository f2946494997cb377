// Turning C++ failures into JavaScript GpuformerError objects with a stable `code`.
#pragma once
#include <napi.h>

#include <string>

#include "gpuformer/error.h"

namespace gfaddon {

// lib/errors.ts registers its GpuformerError class at load so native errors are instances of it.
void set_error_class(Napi::Env env, Napi::Function ctor);
Napi::Value make_error(Napi::Env env, const char* code, const std::string& message);

// Runs fn, converting gf::Error and std::exception into thrown JS errors (never a crash).
template <typename Fn>
Napi::Value guard(Napi::Env env, Fn&& fn) {
  try {
    return fn();
  } catch (const gf::Error& e) {
    throw Napi::Error(env, make_error(env, gf::error_code_name(e.code()), e.what()));
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Napi::Error(env, make_error(env, "ERR_GPUFORMER_OOM", "out of host memory"));
  } catch (const std::exception& e) {
    throw Napi::Error(env, make_error(env, "ERR_GPUFORMER_INPUT", e.what()));
  }
}

// Throws ERR_GPUFORMER_INPUT from addon argument parsing.
template <typename... Args>
[[noreturn]] void input_error(const Args&... args) {
  gf::fail(gf::ErrorCode::Input, args...);
}

}  // namespace gfaddon

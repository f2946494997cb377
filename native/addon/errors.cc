#include "errors.h"

namespace gfaddon {
namespace {
Napi::FunctionReference* g_error_class = nullptr;
}

void set_error_class(Napi::Env, Napi::Function ctor) {
  if (!g_error_class) g_error_class = new Napi::FunctionReference();
  *g_error_class = Napi::Persistent(ctor);
}

Napi::Value make_error(Napi::Env env, const char* code, const std::string& message) {
  if (g_error_class && !g_error_class->IsEmpty()) {
    return g_error_class->New({Napi::String::New(env, code), Napi::String::New(env, message)});
  }
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  err.Set("name", Napi::String::New(env, "GpuformerError"));
  return err.Value();
}

}  // namespace gfaddon

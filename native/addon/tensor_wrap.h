// The JavaScript Tensor handle: owns a reference to a gf::Tensor until dispose() (or the finalizer, as a
// safety net when a handle is garbage collected without dispose()).
#pragma once
#include <napi.h>

#include "gpuformer/tensor.h"

namespace gfaddon {

class TensorWrap : public Napi::ObjectWrap<TensorWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, gf::Tensor t);
  static bool Is(const Napi::Value& v);
  // The tensor behind a JS value, or ERR_GPUFORMER_INPUT naming `what` (not a Tensor, or disposed).
  static const gf::Tensor& Get(const Napi::Value& v, const std::string& what);
  // The same, with `what` = "where: 'field'" (field may be null), assembled only for an error message.
  static const gf::Tensor& Get(const Napi::Value& v, const char* where, const char* field);

  explicit TensorWrap(const Napi::CallbackInfo& info);

 private:
  static Napi::Value Empty(const Napi::CallbackInfo& info);
  static Napi::Value FromData(const Napi::CallbackInfo& info);
  Napi::Value GetDevice(const Napi::CallbackInfo& info);
  Napi::Value GetDtype(const Napi::CallbackInfo& info);
  Napi::Value GetShape(const Napi::CallbackInfo& info);
  Napi::Value GetNbytes(const Napi::CallbackInfo& info);
  Napi::Value GetTag(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value View(const Napi::CallbackInfo& info);
  Napi::Value LoadFile(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value PackForLinear(const Napi::CallbackInfo& info);

  const gf::Tensor& live(const char* method) const;
  // live, and not packed for the CPU's linear: what writes of its bytes need
  const gf::Tensor& writable(const char* method) const;

  gf::Tensor tensor_;
  bool disposed_ = true;
};

}  // namespace gfaddon

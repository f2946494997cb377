// The JavaScript CopyQueue handle (new CopyQueue(device, slots)): a gf::CopyQueue that programs name in their
// fetchSlot / waitSlot / releaseSlot commands, shared by every program that streams the same weights.
#pragma once
#include <napi.h>

#include <memory>

#include "gpuformer/copy_queue.h"

namespace gfaddon {

class CopyQueueWrap : public Napi::ObjectWrap<CopyQueueWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  // The queue behind a JS value, or ERR_GPUFORMER_INPUT naming `what` (not a CopyQueue).
  static std::shared_ptr<gf::CopyQueue> Get(const Napi::Value& v, const std::string& what);

  explicit CopyQueueWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value GetDevice(const Napi::CallbackInfo& info);
  Napi::Value GetSlots(const Napi::CallbackInfo& info);

  std::shared_ptr<gf::CopyQueue> queue_;
};

}  // namespace gfaddon

#include "copy_queue_wrap.h"

#include "args.h"
#include "errors.h"

namespace gfaddon {
namespace {
constexpr napi_type_tag kQueueTag = {0x6770'7566'6f72'6d65ULL, 0x7243'6f70'7951'7565ULL};
}  // namespace

Napi::Function CopyQueueWrap::Define(Napi::Env env) {
  return DefineClass(env, "CopyQueue", {
    InstanceAccessor<&CopyQueueWrap::GetDevice>("device"),
    InstanceAccessor<&CopyQueueWrap::GetSlots>("slots"),
  });
}

// new CopyQueue(device, slots)
CopyQueueWrap::CopyQueueWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CopyQueueWrap>(info) {
  guard(info.Env(), [&]() -> Napi::Value {
    queue_ = std::make_shared<gf::CopyQueue>();
    queue_->device = to_device(info[0], "CopyQueue: 'device'");
    const int64_t slots = to_integer(info[1], "CopyQueue: 'slots'");
    if (slots < 1 || slots > 8) input_error("CopyQueue: 'slots' must be 1 to 8, got ", slots);
    queue_->slots = static_cast<int>(slots);
    NAPI_THROW_IF_FAILED(info.Env(), napi_type_tag_object(info.Env(), info.This(), &kQueueTag), Napi::Value());
    return info.Env().Undefined();
  });
}

std::shared_ptr<gf::CopyQueue> CopyQueueWrap::Get(const Napi::Value& v, const std::string& what) {
  bool tagged = false;
  if (!v.IsObject() || napi_check_object_type_tag(v.Env(), v, &kQueueTag, &tagged) != napi_ok || !tagged) {
    input_error(what, " must be a CopyQueue, got ", type_name(v));
  }
  return Unwrap(v.As<Napi::Object>())->queue_;
}

Napi::Value CopyQueueWrap::GetDevice(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), queue_->device.name());
}

Napi::Value CopyQueueWrap::GetSlots(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), queue_->slots);
}

}  // namespace gfaddon

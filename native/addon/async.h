// Work off the event loop: run a C++ function on a libuv worker thread and settle a Promise. Failures
// reject with a GpuformerError carrying the gf::Error's code.
#pragma once
#include <napi.h>

#include <functional>
#include <string>

namespace gfaddon {

// `work` runs on a worker thread (no JS access); `done` (optional) runs on the JS thread and makes the
// resolved value (undefined when absent).
Napi::Promise run_async(Napi::Env env, std::function<void()> work,
                        std::function<Napi::Value(Napi::Env)> done = nullptr);

}  // namespace gfaddon

// Running op programs. TypeScript builds a program (an array of commands such as
// { op: 'linear', x, w, bias, out }) and hands it over whole; each command is parsed and checked for types
// on the JS thread, then the program runs in order on a worker thread (exec) or in place (execSync).
// A program run again and again unchanged can be parsed once (prepare) and then passed to exec instead.
// Adding an op binding = one REGISTER_OP in op_bindings.cc.
#pragma once
#include <napi.h>

#include <functional>

#include "args.h"

namespace gfaddon {

using Step = std::function<void()>;
using OpParser = Step (*)(const Fields& f);

struct OpRegistrar {
  OpRegistrar(const char* name, OpParser parser);
};

#define GF_REGISTER_OP(name, parser) static ::gfaddon::OpRegistrar gf_op_registrar_##parser(name, parser)

Napi::Value Exec(const Napi::CallbackInfo& info);      // exec(program) -> Promise<void>
Napi::Value ExecSync(const Napi::CallbackInfo& info);  // execSync(program) -> undefined
Napi::Value OpNames(const Napi::CallbackInfo& info);   // the registered op names
// prepare(program) -> PreparedProgram: parsed once, run many times by exec/execSync (a forward pass whose
// tensors and scalars are the same from step to step: only the data in its input buffers changes).
Napi::Value Prepare(const Napi::CallbackInfo& info);
Napi::Function DefinePreparedProgram(Napi::Env env);
Napi::Value SetCudaGraphs(const Napi::CallbackInfo& info);  // setCudaGraphs(on): prepared CUDA programs as graphs
// setOpProfiling(on): time every step of every program by op; takeOpProfile() -> the sums since the last take
Napi::Value SetOpProfiling(const Napi::CallbackInfo& info);
Napi::Value TakeOpProfile(const Napi::CallbackInfo& info);

}  // namespace gfaddon

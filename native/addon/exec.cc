#include "exec.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "async.h"
#include "errors.h"
#include "gpuformer/cuda_runtime.h"
#include "tensor_wrap.h"

namespace gfaddon {
namespace {

std::map<std::string, OpParser>& registry() {
  static std::map<std::string, OpParser> r;
  return r;
}

struct Program {
  std::vector<Step> steps;
  std::set<int> cuda_devices;  // devices whose stream must be drained before the promise settles
};

Program parse_program(const Napi::Value& v) {
  if (!v.IsArray()) input_error("exec: the program must be an array of commands, got ", type_name(v));
  Napi::Array cmds = v.As<Napi::Array>();
  Program prog;
  prog.steps.reserve(cmds.Length());
  for (uint32_t i = 0; i < cmds.Length(); i++) {
    Napi::Value c = cmds.Get(i);
    if (!c.IsObject()) input_error("exec: command ", i, " must be an object, got ", type_name(c));
    Napi::Value name = c.As<Napi::Object>().Get("op");
    if (!name.IsString()) input_error("exec: command ", i, " has no 'op' name");
    const std::string op = name.As<Napi::String>().Utf8Value();
    auto it = registry().find(op);
    if (it == registry().end()) input_error("exec: unknown op '", op, "' in command ", i);
    // every tensor the parser reads notes its CUDA device: a CUDA program settles only after its stream
    // is drained
    Fields f(c, op, &prog.cuda_devices);
    prog.steps.push_back(it->second(f));
  }
  return prog;
}

void run_program(const Program& prog) {
  for (const Step& s : prog.steps) s();
  for (int dev : prog.cuda_devices) gf::cuda::synchronize(dev);
}

}  // namespace

OpRegistrar::OpRegistrar(const char* name, OpParser parser) { registry()[name] = parser; }

Napi::Value Exec(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto prog = std::make_shared<Program>(parse_program(info[0]));
    return run_async(info.Env(), [prog] { run_program(*prog); });
  });
}

Napi::Value ExecSync(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    run_program(parse_program(info[0]));
    return info.Env().Undefined();
  });
}

Napi::Value OpNames(const Napi::CallbackInfo& info) {
  Napi::Array a = Napi::Array::New(info.Env());
  uint32_t i = 0;
  for (auto& [name, _] : registry()) a.Set(i++, Napi::String::New(info.Env(), name));
  return a;
}

}  // namespace gfaddon

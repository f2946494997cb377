#include "exec.h"

#include <map>
#include <memory>
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

// A parsed program kept for reuse (prepare()): the steps hold their tensors, so running it again needs no
// JS objects at all. dispose() drops the steps (and with them the tensors' references) at once; a program
// still running keeps its own reference until it finishes.
class PreparedWrap : public Napi::ObjectWrap<PreparedWrap> {
 public:
  static Napi::FunctionReference* ctor;
  explicit PreparedWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PreparedWrap>(info) {
    NAPI_THROW_IF_FAILED_VOID(info.Env(), napi_type_tag_object(info.Env(), info.This(), &kTag));
  }
  static bool Is(const Napi::Value& v) {
    bool tagged = false;
    return v.IsObject() && napi_check_object_type_tag(v.Env(), v, &kTag, &tagged) == napi_ok && tagged;
  }
  std::shared_ptr<Program> program(const char* where) const {
    if (!prog_) input_error(where, ": the prepared program has been disposed");
    return prog_;
  }
  std::shared_ptr<Program> prog_;

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    prog_.reset();
    return info.Env().Undefined();
  }
  Napi::Value GetLength(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), prog_ ? static_cast<double>(prog_->steps.size()) : 0);
  }

 private:
  static constexpr napi_type_tag kTag = {0x6770'7566'6f72'6d65ULL, 0x7250'726f'6772'616dULL};
};
Napi::FunctionReference* PreparedWrap::ctor = nullptr;

// exec's argument: a prepared program, or a command array parsed now.
std::shared_ptr<Program> program_of(const Napi::Value& v, const char* where) {
  if (PreparedWrap::Is(v)) return PreparedWrap::Unwrap(v.As<Napi::Object>())->program(where);
  return std::make_shared<Program>(parse_program(v));
}

}  // namespace

OpRegistrar::OpRegistrar(const char* name, OpParser parser) { registry()[name] = parser; }

Napi::Value Exec(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto prog = program_of(info[0], "exec");
    return run_async(info.Env(), [prog] { run_program(*prog); });
  });
}

Napi::Value ExecSync(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    run_program(*program_of(info[0], "execSync"));
    return info.Env().Undefined();
  });
}

Napi::Value Prepare(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto prog = std::make_shared<Program>(parse_program(info[0]));
    Napi::Object obj = PreparedWrap::ctor->New({});
    PreparedWrap::Unwrap(obj)->prog_ = std::move(prog);
    return obj;
  });
}

Napi::Function DefinePreparedProgram(Napi::Env env) {
  Napi::Function f = PreparedWrap::DefineClass(env, "PreparedProgram", {
    PreparedWrap::InstanceMethod<&PreparedWrap::Dispose>("dispose"),
    PreparedWrap::InstanceAccessor<&PreparedWrap::GetLength>("length"),
  });
  if (!PreparedWrap::ctor) PreparedWrap::ctor = new Napi::FunctionReference();
  *PreparedWrap::ctor = Napi::Persistent(f);
  return f;
}

Napi::Value OpNames(const Napi::CallbackInfo& info) {
  Napi::Array a = Napi::Array::New(info.Env());
  uint32_t i = 0;
  for (auto& [name, _] : registry()) a.Set(i++, Napi::String::New(info.Env(), name));
  return a;
}

}  // namespace gfaddon

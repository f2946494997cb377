#include "exec.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
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
  std::vector<const std::string*> op_names;  // steps[i]'s op (a key of registry(), which never moves)
  ProgramDevices devices;  // the CUDA ones have their stream drained before the promise settles

  // A program on one CUDA device (and nothing on the CPU) runs eagerly the first time (scratch buffers reach
  // their size, cuBLASLt picks its algorithms); a prepared one, run again, is captured as a CUDA graph and
  // replayed from then on. It is captured again when a scratch buffer moved, and runs eagerly for good if
  // it cannot be captured. (A program parsed for one exec never gets past its first, eager run.)
  struct GraphState {
    int eager_runs = 0;
    std::shared_ptr<gf::cuda::Graph> graph;
    uint64_t epoch = 0;
    std::string not_captured;  // why the program runs eagerly (empty while it may still be captured)
  } graph;
};

// Whether prepared CUDA programs may run as graphs: on unless GPUFORMER_CUDA_GRAPHS=0; setCudaGraphs()
// changes it at run time (comparisons, debugging). Programs already graphed keep replaying.
std::atomic<bool>& cuda_graphs_flag() {
  static std::atomic<bool> on{[] {
    const char* v = std::getenv("GPUFORMER_CUDA_GRAPHS");
    return !(v && std::string(v) == "0");
  }()};
  return on;
}
bool cuda_graphs_enabled() { return cuda_graphs_flag().load(std::memory_order_relaxed); }

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
    // every tensor the parser reads notes its device: a CUDA program settles only after its stream is drained
    Fields f(c, op, &prog.devices);
    prog.steps.push_back(it->second(f));
    prog.op_names.push_back(&it->first);
  }
  return prog;
}

// The op profile (setOpProfiling / takeOpProfile): while it is on, every program runs step by step with each
// step timed (CUDA steps to the end of their kernels, so the stream is drained after each: no graphs, and
// slower as a whole) and the times are summed by op name. For finding where a forward pass's time goes
// (bench/e2e/op-profile.ts), never for production runs.
struct OpProfile {
  std::atomic<bool> on{false};
  std::mutex mutex;
  struct Entry {
    uint64_t calls = 0;
    double seconds = 0;
  };
  std::map<std::string, Entry> ops;
  uint64_t programs = 0;
  double seconds = 0;  // wall time of the profiled programs, steps and the waits between them
};
OpProfile& op_profile() {
  static OpProfile p;
  return p;
}

void run_profiled(const Program& prog) {
  using Clock = std::chrono::steady_clock;
  auto drain = [&] { for (int dev : prog.devices.cuda) gf::cuda::synchronize(dev); };
  std::vector<double> step_seconds(prog.steps.size());
  const auto start = Clock::now();
  for (size_t i = 0; i < prog.steps.size(); i++) {
    const auto t0 = Clock::now();
    prog.steps[i]();
    drain();
    step_seconds[i] = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  const double total = std::chrono::duration<double>(Clock::now() - start).count();
  OpProfile& p = op_profile();
  std::lock_guard<std::mutex> lock(p.mutex);
  for (size_t i = 0; i < prog.steps.size(); i++) {
    OpProfile::Entry& e = p.ops[*prog.op_names[i]];
    e.calls++;
    e.seconds += step_seconds[i];
  }
  p.programs++;
  p.seconds += total;
}

void run_eagerly(const Program& prog) {
  for (const Step& s : prog.steps) s();
  for (int dev : prog.devices.cuda) gf::cuda::synchronize(dev);
}

// Runs a program: as a CUDA graph where it can be (Program::GraphState), else step by step.
void run_program(Program& prog) {
  if (op_profile().on.load(std::memory_order_relaxed)) return run_profiled(prog);
  Program::GraphState& g = prog.graph;
  const bool graphable = prog.devices.cuda.size() == 1 && !prog.devices.cpu && cuda_graphs_enabled();
  if (!graphable || !g.not_captured.empty()) return run_eagerly(prog);
  const int dev = *prog.devices.cuda.begin();
  const uint64_t epoch = gf::cuda::scratch_epoch(dev);
  if (!g.graph || g.epoch != epoch) {
    g.graph.reset();
    if (g.eager_runs++ == 0) return run_eagerly(prog);  // warm-up: scratch sizes, library plans
    std::string why;
    auto graph = gf::cuda::capture_graph(dev, [&] { for (const Step& s : prog.steps) s(); }, &why);
    // A scratch buffer that grew while capturing (which also breaks the capture) is no reason to give up:
    // this run goes eagerly, the next one captures again with the buffer at its new size.
    if (gf::cuda::scratch_epoch(dev) != epoch) return run_eagerly(prog);
    if (!graph) {
      g.not_captured = why.empty() ? "capture failed" : why;
      return run_eagerly(prog);
    }
    g.graph = std::move(graph);
    g.epoch = epoch;
  }
  gf::cuda::launch_graph(dev, *g.graph);
  gf::cuda::synchronize(dev);
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
  // true once runs replay a captured CUDA graph
  Napi::Value GetGraphed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), prog_ && prog_->graph.graph != nullptr);
  }
  // why the program runs eagerly for good ('' when it is graphed, may still be, or is not a CUDA program)
  Napi::Value GetGraphNote(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), prog_ ? prog_->graph.not_captured : "");
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

Napi::Value SetCudaGraphs(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    if (!info[0].IsBoolean()) input_error("setCudaGraphs: 'on' must be a boolean, got ", type_name(info[0]));
    cuda_graphs_flag().store(info[0].As<Napi::Boolean>().Value());
    return info.Env().Undefined();
  });
}

Napi::Value SetOpProfiling(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    if (!info[0].IsBoolean()) input_error("setOpProfiling: 'on' must be a boolean, got ", type_name(info[0]));
    op_profile().on.store(info[0].As<Napi::Boolean>().Value());
    return info.Env().Undefined();
  });
}

Napi::Value TakeOpProfile(const Napi::CallbackInfo& info) {
  OpProfile& p = op_profile();
  std::lock_guard<std::mutex> lock(p.mutex);
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  result.Set("programs", Napi::Number::New(env, static_cast<double>(p.programs)));
  result.Set("seconds", Napi::Number::New(env, p.seconds));
  Napi::Array ops = Napi::Array::New(env);
  uint32_t i = 0;
  for (const auto& [name, e] : p.ops) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("op", Napi::String::New(env, name));
    o.Set("calls", Napi::Number::New(env, static_cast<double>(e.calls)));
    o.Set("seconds", Napi::Number::New(env, e.seconds));
    ops.Set(i++, o);
  }
  result.Set("ops", ops);
  p.ops.clear();
  p.programs = 0;
  p.seconds = 0;
  return result;
}

Napi::Function DefinePreparedProgram(Napi::Env env) {
  Napi::Function f = PreparedWrap::DefineClass(env, "PreparedProgram", {
    PreparedWrap::InstanceMethod<&PreparedWrap::Dispose>("dispose"),
    PreparedWrap::InstanceAccessor<&PreparedWrap::GetLength>("length"),
    PreparedWrap::InstanceAccessor<&PreparedWrap::GetGraphed>("graphed"),
    PreparedWrap::InstanceAccessor<&PreparedWrap::GetGraphNote>("graphNote"),
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

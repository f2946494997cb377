// The addon's entry point: what lib/native.ts sees. Only the N-API surface lives in native/addon.
#include <napi.h>

#include "args.h"
#include "copy_queue_wrap.h"
#include "errors.h"
#include "exec.h"
#include "gpuformer/allocator.h"
#include "gpuformer/cuda_runtime.h"
#include "core/cpu_isa.h"
#include "core/thread_pool.h"
#include "cpu/fma_peak.h"
#include "tensor_wrap.h"

namespace gfaddon {
namespace {

// { tier, vnni, bf16, dotprod } of one CPU ISA level (native/core/cpu_isa.h).
Napi::Object isa_level(Napi::Env env, const gf::CpuIsaLevel& l) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("tier", gf::cpu_tier_name(l.tier));
  o.Set("vnni", Napi::Boolean::New(env, l.vnni));
  o.Set("bf16", Napi::Boolean::New(env, l.bf16));
  o.Set("dotprod", Napi::Boolean::New(env, l.dotprod));
  return o;
}

// devices(): [{ id: 'cpu', threads, isa }, { id: 'cuda:N', name, totalBytes, freeBytes, computeCapability }]
// plus { cuda: { compiled, available, reason } }. isa: the CPU kernels' tier and sub-features in use,
// what the machine offers, and what capped it ('GPUFORMER_CPU_ISA=…', 'GPUFORMER_CPU_BASELINE=1' or '').
Napi::Value Devices(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Object result = Napi::Object::New(env);
    Napi::Array list = Napi::Array::New(env);
    Napi::Object cpu = Napi::Object::New(env);
    cpu.Set("id", "cpu");
    cpu.Set("threads", Napi::Number::New(env, gf::num_threads()));
    const gf::CpuIsa& isa = gf::cpu_isa();
    Napi::Object isa_info = isa_level(env, isa.active);
    isa_info.Set("machine", isa_level(env, isa.machine));
    isa_info.Set("cap", isa.cap);
    cpu.Set("isa", isa_info);
    list.Set(0u, cpu);
    const std::string reason = gf::cuda::compiled() ? gf::cuda::unavailable_reason()
                                                    : std::string("this gpuformer binary was built without the CUDA backend");
    for (const auto& d : gf::cuda::devices()) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("id", "cuda:" + std::to_string(d.index));
      o.Set("name", d.name);
      o.Set("totalBytes", Napi::Number::New(env, static_cast<double>(d.total_bytes)));
      o.Set("freeBytes", Napi::Number::New(env, static_cast<double>(d.free_bytes)));
      o.Set("computeCapability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor));
      o.Set("multiprocessors", Napi::Number::New(env, d.multiprocessors));
      list.Set(list.Length(), o);
    }
    Napi::Object cuda = Napi::Object::New(env);
    cuda.Set("compiled", Napi::Boolean::New(env, gf::cuda::compiled()));
    cuda.Set("available", Napi::Boolean::New(env, reason.empty()));
    if (!reason.empty()) cuda.Set("reason", reason);
    result.Set("devices", list);
    result.Set("cuda", cuda);
    return result;
  });
}

// memoryTotals(device): { weights, kv, workspace, activations, other, peak, allocations } in bytes.
Napi::Value MemoryTotals(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const gf::Device dev = to_device(info[0], "memoryTotals: 'device'");
    const gf::MemoryTotals t = gf::memory_totals(dev);
    Napi::Object o = Napi::Object::New(info.Env());
    for (int i = 0; i < static_cast<int>(gf::MemoryTag::Count); i++) {
      o.Set(gf::memory_tag_name(static_cast<gf::MemoryTag>(i)), Napi::Number::New(info.Env(), static_cast<double>(t.bytes[i])));
    }
    o.Set("peak", Napi::Number::New(info.Env(), static_cast<double>(t.peak)));
    o.Set("allocations", Napi::Number::New(info.Env(), static_cast<double>(t.allocations)));
    return o;
  });
}

// committedBytes(device): { weights, kv, workspace, activations, other, peak }: the bytes really held (see
// gf::committed_totals: on the CPU, the resident part of each allocation's pages).
Napi::Value CommittedBytes(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const gf::CommittedTotals t = gf::committed_totals(to_device(info[0], "committedBytes: 'device'"));
    Napi::Object o = Napi::Object::New(info.Env());
    for (int i = 0; i < static_cast<int>(gf::MemoryTag::Count); i++) {
      o.Set(gf::memory_tag_name(static_cast<gf::MemoryTag>(i)), Napi::Number::New(info.Env(), static_cast<double>(t.bytes[i])));
    }
    o.Set("peak", Napi::Number::New(info.Env(), static_cast<double>(t.peak)));
    return o;
  });
}

Napi::Value ResetPeak(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    gf::reset_peak(to_device(info[0], "resetPeak: 'device'"));
    return info.Env().Undefined();
  });
}

Napi::Value NumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), gf::num_threads()); }

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const int64_t n = to_integer(info[0], "setNumThreads: 'threads'");
    if (n < 1 || n > 1024) input_error("setNumThreads: 'threads' must be between 1 and 1024, got ", n);
    gf::set_num_threads(static_cast<int>(n));
    return info.Env().Undefined();
  });
}

// setCudaDecodeKernels(on): linear() of M ≤ 16 rows on the row kernels (default) or on cuBLASLt / dequantize +
// GEMM; cudaDecodeKernels() reads it back.
Napi::Value SetCudaDecodeKernels(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    if (!info[0].IsBoolean()) input_error("setCudaDecodeKernels: 'on' must be a boolean, got ", type_name(info[0]));
    gf::cuda::set_decode_kernels(info[0].As<Napi::Boolean>().Value());
    return info.Env().Undefined();
  });
}

Napi::Value CudaDecodeKernels(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), gf::cuda::decode_kernels());
}

// cpuFmaPeak(seconds): { gflops, lanes, threads, seconds }, the f32 FMA rate of this machine at the active
// tier (native/cpu/fma_peak.h), for the benchmarks' fraction-of-peak columns.
Napi::Value CpuFmaPeak(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const double seconds = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0.3;
    if (!(seconds > 0 && seconds <= 10)) input_error("cpuFmaPeak: 'seconds' must be in (0, 10], got ", seconds);
    const gf::cpu::FmaPeak p = gf::cpu::measure_fma_peak(seconds);
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("gflops", Napi::Number::New(info.Env(), p.gflops));
    o.Set("lanes", Napi::Number::New(info.Env(), p.lanes));
    o.Set("threads", Napi::Number::New(info.Env(), p.threads));
    o.Set("seconds", Napi::Number::New(info.Env(), p.seconds));
    return o;
  });
}

// hostToDeviceBandwidth(device): bytes per second from pinned host memory to a CUDA device (measured once)
Napi::Value HostToDeviceBandwidth(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const gf::Device d = to_device(info[0], "hostToDeviceBandwidth: 'device'");
    if (!d.is_cuda()) input_error("hostToDeviceBandwidth: 'device' must be a CUDA device, got ", d.name());
    return Napi::Number::New(info.Env(), gf::cuda::host_to_device_bandwidth(d.index));
  });
}

Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "setErrorClass expects a constructor");
  set_error_class(info.Env(), info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // The CPU tier is decided now, so that a bad GPUFORMER_CPU_ISA fails the load with its reason.
  guard(env, [&]() -> Napi::Value {
    gf::cpu_isa();
    return env.Undefined();
  });
  exports.Set("Tensor", TensorWrap::Define(env));
  exports.Set("exec", Napi::Function::New(env, Exec, "exec"));
  exports.Set("execSync", Napi::Function::New(env, ExecSync, "execSync"));
  exports.Set("prepare", Napi::Function::New(env, Prepare, "prepare"));
  exports.Set("PreparedProgram", DefinePreparedProgram(env));
  exports.Set("CopyQueue", CopyQueueWrap::Define(env));
  exports.Set("hostToDeviceBandwidth", Napi::Function::New(env, HostToDeviceBandwidth, "hostToDeviceBandwidth"));
  exports.Set("setCudaGraphs", Napi::Function::New(env, SetCudaGraphs, "setCudaGraphs"));
  exports.Set("setCudaDecodeKernels", Napi::Function::New(env, SetCudaDecodeKernels, "setCudaDecodeKernels"));
  exports.Set("cudaDecodeKernels", Napi::Function::New(env, CudaDecodeKernels, "cudaDecodeKernels"));
  exports.Set("opNames", Napi::Function::New(env, OpNames, "opNames"));
  exports.Set("setOpProfiling", Napi::Function::New(env, SetOpProfiling, "setOpProfiling"));
  exports.Set("takeOpProfile", Napi::Function::New(env, TakeOpProfile, "takeOpProfile"));
  exports.Set("devices", Napi::Function::New(env, Devices, "devices"));
  exports.Set("memoryTotals", Napi::Function::New(env, MemoryTotals, "memoryTotals"));
  exports.Set("committedBytes", Napi::Function::New(env, CommittedBytes, "committedBytes"));
  exports.Set("resetPeak", Napi::Function::New(env, ResetPeak, "resetPeak"));
  exports.Set("numThreads", Napi::Function::New(env, NumThreads, "numThreads"));
  exports.Set("cpuFmaPeak", Napi::Function::New(env, CpuFmaPeak, "cpuFmaPeak"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass, "setErrorClass"));
  exports.Set("cudaCompiled", Napi::Boolean::New(env, gf::cuda::compiled()));
  return exports;
}

}  // namespace
}  // namespace gfaddon

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return gfaddon::Init(env, exports); }
NODE_API_MODULE(gpuformer, InitModule)

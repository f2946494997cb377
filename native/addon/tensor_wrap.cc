#include "tensor_wrap.h"

#include "args.h"
#include "async.h"
#include "errors.h"
#include "cpu/gemm.h"
#include "cpu/linear_kernels.h"
#include "gpuformer/host_io.h"

namespace gfaddon {
namespace {
Napi::FunctionReference* g_ctor = nullptr;

// Every Tensor object carries this tag from its constructor: checking it is how a value is known to be
// ours before unwrapping. (instanceof walked the prototype chain and looked up Symbol.hasInstance, and
// was the largest single cost of handing a program to exec.)
constexpr napi_type_tag kTensorTypeTag = {0x6770'7566'6f72'6d65ULL, 0x7254'656e'736f'7231ULL};

// The bytes of a Buffer, TypedArray, DataView or ArrayBuffer.
void view_bytes(const Napi::Value& v, const std::string& what, const void** data, size_t* bytes) {
  if (v.IsTypedArray()) {
    Napi::TypedArray t = v.As<Napi::TypedArray>();
    *data = static_cast<const char*>(t.ArrayBuffer().Data()) + t.ByteOffset();
    *bytes = t.ByteLength();
  } else if (v.IsDataView()) {
    Napi::DataView d = v.As<Napi::DataView>();
    *data = static_cast<const char*>(d.ArrayBuffer().Data()) + d.ByteOffset();
    *bytes = d.ByteLength();
  } else if (v.IsArrayBuffer()) {
    Napi::ArrayBuffer a = v.As<Napi::ArrayBuffer>();
    *data = a.Data();
    *bytes = a.ByteLength();
  } else {
    input_error(what, " must be a Buffer, TypedArray or ArrayBuffer, got ", type_name(v));
  }
}

Napi::Array shape_array(Napi::Env env, const std::vector<int64_t>& shape) {
  Napi::Array a = Napi::Array::New(env, shape.size());
  for (size_t i = 0; i < shape.size(); i++) a.Set(i, Napi::Number::New(env, static_cast<double>(shape[i])));
  return a;
}

}  // namespace

Napi::Function TensorWrap::Define(Napi::Env env) {
  Napi::Function f = DefineClass(env, "Tensor", {
    StaticMethod<&TensorWrap::Empty>("empty"),
    StaticMethod<&TensorWrap::FromData>("fromData"),
    InstanceAccessor<&TensorWrap::GetDevice>("device"),
    InstanceAccessor<&TensorWrap::GetDtype>("dtype"),
    InstanceAccessor<&TensorWrap::GetShape>("shape"),
    InstanceAccessor<&TensorWrap::GetNbytes>("nbytes"),
    InstanceAccessor<&TensorWrap::GetTag>("tag"),
    InstanceAccessor<&TensorWrap::GetDisposed>("disposed"),
    InstanceMethod<&TensorWrap::Read>("read"),
    InstanceMethod<&TensorWrap::Write>("write"),
    InstanceMethod<&TensorWrap::View>("view"),
    InstanceMethod<&TensorWrap::LoadFile>("loadFile"),
    InstanceMethod<&TensorWrap::Dispose>("dispose"),
    InstanceMethod<&TensorWrap::PackForLinear>("packForLinear"),
  });
  if (!g_ctor) g_ctor = new Napi::FunctionReference();
  *g_ctor = Napi::Persistent(f);
  return f;
}

TensorWrap::TensorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorWrap>(info) {
  NAPI_THROW_IF_FAILED_VOID(info.Env(), napi_type_tag_object(info.Env(), info.This(), &kTensorTypeTag));
}

Napi::Object TensorWrap::Wrap(Napi::Env env, gf::Tensor t) {
  Napi::Object obj = g_ctor->New({});
  TensorWrap* w = Napi::ObjectWrap<TensorWrap>::Unwrap(obj);
  w->tensor_ = std::move(t);
  w->disposed_ = false;
  return obj;
}

bool TensorWrap::Is(const Napi::Value& v) {
  if (!v.IsObject()) return false;
  bool tagged = false;
  return napi_check_object_type_tag(v.Env(), v, &kTensorTypeTag, &tagged) == napi_ok && tagged;
}

const gf::Tensor& TensorWrap::Get(const Napi::Value& v, const std::string& what) { return Get(v, what.c_str(), nullptr); }

const gf::Tensor& TensorWrap::Get(const Napi::Value& v, const char* where, const char* field) {
  // the message is only assembled on failure: this runs for every tensor of every command
  auto what = [&] { return field ? std::string(where) + ": '" + field + "'" : std::string(where); };
  if (!Is(v)) input_error(what(), " must be a Tensor, got ", type_name(v));
  TensorWrap* w = Napi::ObjectWrap<TensorWrap>::Unwrap(v.As<Napi::Object>());
  if (w->disposed_) input_error(what(), " is a disposed Tensor");
  return w->tensor_;
}

const gf::Tensor& TensorWrap::live(const char* method) const {
  if (disposed_) input_error("Tensor.", method, ": the tensor has been disposed");
  return tensor_;
}

const gf::Tensor& TensorWrap::writable(const char* method) const {
  const gf::Tensor& t = live(method);
  if (t.packed_rows != 0) {
    input_error("Tensor.", method, ": ", t.describe(), " is packed for the CPU's linear (packForLinear)");
  }
  return t;
}

// packForLinear() -> boolean: packs a CPU linear weight [N, K] in place, in the layout this machine's kernel
// tier reads faster (cpu/gemm.h: row pairs of f32 or bf16, groups of 16 quantized rows on AVX-512, 8 on AVX2),
// when it has one for the dtype and N fills whole groups; afterwards only linear, linears, the embedding lookup
// and cast read it.
Napi::Value TensorWrap::PackForLinear(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    live("packForLinear");
    return Napi::Boolean::New(info.Env(), gf::cpu::pack_linear_weight(tensor_));
  });
}

// Tensor.empty(device, dtype, shape, tag?, options?): options.pinned (device 'cpu') takes page-locked host
// memory that CUDA copies from asynchronously (the weights of offloaded layers).
Napi::Value TensorWrap::Empty(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const gf::Device dev = to_device(info[0], "Tensor.empty: 'device'");
    const gf::DType dt = to_dtype(info[1], "Tensor.empty: 'dtype'");
    auto shape = to_shape(info[2], "Tensor.empty: 'shape'");
    const gf::MemoryTag tag = to_tag(info[3], "Tensor.empty: 'tag'");
    bool pinned = false;
    if (!info[4].IsUndefined()) pinned = Fields(info[4], "Tensor.empty: 'options'").boolean_or("pinned", false);
    return Wrap(info.Env(), gf::Tensor::empty(dev, dt, std::move(shape), tag, pinned));
  });
}

// Tensor.fromData(device, dtype, shape, data, tag?, srcDtype?): data holds the elements as srcDtype
// (default: dtype) and is converted on the way in.
Napi::Value TensorWrap::FromData(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const gf::Device dev = to_device(info[0], "Tensor.fromData: 'device'");
    const gf::DType dt = to_dtype(info[1], "Tensor.fromData: 'dtype'");
    auto shape = to_shape(info[2], "Tensor.fromData: 'shape'");
    const void* data;
    size_t bytes;
    view_bytes(info[3], "Tensor.fromData: 'data'", &data, &bytes);
    const gf::MemoryTag tag = to_tag(info[4], "Tensor.fromData: 'tag'");
    const gf::DType src = info[5].IsUndefined() ? dt : to_dtype(info[5], "Tensor.fromData: 'srcDtype'");
    gf::Tensor t = gf::Tensor::empty(dev, dt, std::move(shape), tag);
    const size_t want = gf::dtype_bytes(src, t.numel());
    if (bytes != want) {
      input_error("Tensor.fromData: 'data' has ", bytes, " bytes but ", gf::shape_str(t.shape), " of ",
                  gf::dtype_name(src), " needs ", want);
    }
    gf::write_host(t, 0, data, src, t.numel());
    return Wrap(info.Env(), std::move(t));
  });
}

Napi::Value TensorWrap::GetDevice(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value { return Napi::String::New(info.Env(), live("device").device().name()); });
}
Napi::Value TensorWrap::GetDtype(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value { return Napi::String::New(info.Env(), gf::dtype_name(live("dtype").dtype)); });
}
Napi::Value TensorWrap::GetShape(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value { return shape_array(info.Env(), live("shape").shape); });
}
Napi::Value TensorWrap::GetNbytes(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    return Napi::Number::New(info.Env(), static_cast<double>(live("nbytes").nbytes()));
  });
}
Napi::Value TensorWrap::GetTag(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    return Napi::String::New(info.Env(), gf::memory_tag_name(live("tag").storage->tag));
  });
}
Napi::Value TensorWrap::GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed_); }

// read(): a copy of the bytes as an ArrayBuffer.
Napi::Value TensorWrap::Read(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const gf::Tensor& t = live("read");
    Napi::ArrayBuffer out = Napi::ArrayBuffer::New(info.Env(), t.nbytes());
    gf::read_host(t, out.Data());
    if (t.packed_rows != 0) {  // the rows as they were before packing
      gf::cpu::repack_linear(static_cast<char*>(out.Data()), t.dim(0), t.dtype, t.dim(1), t.packed_rows, /*to_packed=*/false);
    }
    return out;
  });
}

// write(data, elemOffset = 0, srcDtype = dtype)
Napi::Value TensorWrap::Write(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    gf::Tensor t = writable("write");
    const void* data;
    size_t bytes;
    view_bytes(info[0], "Tensor.write: 'data'", &data, &bytes);
    const int64_t offset = info[1].IsUndefined() ? 0 : to_integer(info[1], "Tensor.write: 'elemOffset'");
    const gf::DType src = info[2].IsUndefined() ? t.dtype : to_dtype(info[2], "Tensor.write: 'srcDtype'");
    const size_t unit = gf::dtype_unit_bytes(src);
    if (bytes % unit != 0) input_error("Tensor.write: 'data' has ", bytes, " bytes, not a whole number of ", gf::dtype_name(src));
    const int64_t count = static_cast<int64_t>(bytes / unit) * (gf::is_quantized(src) ? gf::kQuantBlock : 1);
    gf::write_host(t, offset, data, src, count);
    return info.Env().Undefined();
  });
}

// view(elemOffset, shape): a contiguous view sharing the storage.
Napi::Value TensorWrap::View(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const gf::Tensor& t = live("view");
    const int64_t offset = to_integer(info[0], "Tensor.view: 'elemOffset'");
    auto shape = to_shape(info[1], "Tensor.view: 'shape'");
    return Wrap(info.Env(), t.view(offset, std::move(shape)));
  });
}

// loadFile(path, fileOffset, srcDtype, elemOffset, count) -> Promise<void>: reads and converts off the
// event loop.
Napi::Value TensorWrap::LoadFile(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    gf::Tensor t = writable("loadFile");
    if (!info[0].IsString()) input_error("Tensor.loadFile: 'path' must be a string, got ", type_name(info[0]));
    std::string path = info[0].As<Napi::String>().Utf8Value();
    const int64_t file_offset = to_integer(info[1], "Tensor.loadFile: 'fileOffset'");
    if (file_offset < 0) input_error("Tensor.loadFile: 'fileOffset' must be ≥ 0");
    const gf::DType src = to_dtype(info[2], "Tensor.loadFile: 'srcDtype'");
    const int64_t elem_offset = to_integer(info[3], "Tensor.loadFile: 'elemOffset'");
    const int64_t count = to_integer(info[4], "Tensor.loadFile: 'count'");
    return run_async(info.Env(), [t, path, file_offset, src, elem_offset, count]() mutable {
      gf::load_file(t, elem_offset, path, static_cast<uint64_t>(file_offset), src, count);
    });
  });
}

Napi::Value TensorWrap::Dispose(const Napi::CallbackInfo& info) {
  tensor_ = gf::Tensor();  // drops this handle's reference; bytes go when work in flight lets go too
  disposed_ = true;
  return info.Env().Undefined();
}

}  // namespace gfaddon

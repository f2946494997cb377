#include "args.h"

#include <cmath>

#include "errors.h"
#include "tensor_wrap.h"

namespace gfaddon {

std::string type_name(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsBoolean()) return "boolean";
  if (v.IsNumber()) return "number";
  if (v.IsString()) return "string";
  if (v.IsArray()) return "array";
  if (v.IsTypedArray()) return "typed array";
  if (v.IsFunction()) return "function";
  if (TensorWrap::Is(v)) return "Tensor";
  return "object";
}

Fields::Fields(const Napi::Value& obj, std::string where, ProgramDevices* devices)
    : where_(std::move(where)), devices_(devices) {
  if (!obj.IsObject() || obj.IsArray()) input_error(where_, ": expected an options object, got ", type_name(obj));
  obj_ = obj.As<Napi::Object>();
}

Napi::Value Fields::get(const char* name) const { return obj_.Get(name); }

bool Fields::has(const char* name) const {
  Napi::Value v = get(name);
  return !v.IsUndefined() && !v.IsNull();
}

const gf::Tensor& Fields::checked(const Napi::Value& v, const std::string& field, bool packed_ok, bool note) const {
  const gf::Tensor& t = TensorWrap::Get(v, where_.c_str(), field.c_str());
  if (t.packed_rows != 0 && !packed_ok) {
    input_error(where_, ": '", field, "' (", t.describe(), ") is packed for the CPU's linear (packForLinear): only linear, ",
                "linears, embedding and cast read it");
  }
  if (note) note_device(t);
  return t;
}

const gf::Tensor& Fields::tensor(const char* name) const { return checked(get(name), name, false); }
const gf::Tensor& Fields::tensor_or_packed(const char* name) const { return checked(get(name), name, true); }

void Fields::note_device(const gf::Tensor& t) const {
  if (!devices_) return;
  if (t.device().is_cuda()) {
    devices_->cuda.insert(t.device().index);
  } else {
    devices_->cpu = true;
  }
}

std::vector<gf::Tensor> Fields::tensors(const char* name, bool host_copy_source) const {
  return tensor_array(name, false, !host_copy_source);
}
std::vector<gf::Tensor> Fields::tensors_or_packed(const char* name) const { return tensor_array(name, true, true); }

std::vector<gf::Tensor> Fields::tensor_array(const char* name, bool packed_ok, bool note) const {
  Napi::Value v = get(name);
  if (!v.IsArray()) input_error(where_, ": '", name, "' must be an array of Tensors, got ", type_name(v));
  Napi::Array a = v.As<Napi::Array>();
  std::vector<gf::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    out.push_back(checked(a.Get(i), std::string(name) + "[" + std::to_string(i) + "]", packed_ok, note));
  }
  return out;
}

std::vector<std::optional<gf::Tensor>> Fields::opt_tensors(const char* name) const {
  Napi::Value v = get(name);
  if (!v.IsArray()) input_error(where_, ": '", name, "' must be an array of Tensors or nulls, got ", type_name(v));
  Napi::Array a = v.As<Napi::Array>();
  std::vector<std::optional<gf::Tensor>> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (e.IsNull() || e.IsUndefined()) {
      out.emplace_back(std::nullopt);
      continue;
    }
    const gf::Tensor& t = checked(e, std::string(name) + "[" + std::to_string(i) + "]", false);
    out.emplace_back(t);
  }
  return out;
}

const gf::Tensor* Fields::opt_tensor(const char* name) const {
  if (!has(name)) return nullptr;
  return &tensor(name);
}

double Fields::number(const char* name) const {
  Napi::Value v = get(name);
  if (!v.IsNumber()) input_error(where_, ": '", name, "' must be a number, got ", type_name(v));
  return v.As<Napi::Number>().DoubleValue();
}

double Fields::number_or(const char* name, double fallback) const { return has(name) ? number(name) : fallback; }

int64_t Fields::integer(const char* name) const { return to_integer(get(name), where_ + ": '" + name + "'"); }

int64_t Fields::integer_or(const char* name, int64_t fallback) const { return has(name) ? integer(name) : fallback; }

bool Fields::boolean_or(const char* name, bool fallback) const {
  if (!has(name)) return fallback;
  Napi::Value v = get(name);
  if (!v.IsBoolean()) input_error(where_, ": '", name, "' must be a boolean, got ", type_name(v));
  return v.As<Napi::Boolean>().Value();
}

std::string Fields::string(const char* name) const {
  Napi::Value v = get(name);
  if (!v.IsString()) input_error(where_, ": '", name, "' must be a string, got ", type_name(v));
  return v.As<Napi::String>().Utf8Value();
}

std::string Fields::string_or(const char* name, const std::string& fallback) const {
  return has(name) ? string(name) : fallback;
}

int64_t to_integer(const Napi::Value& v, const std::string& what) {
  if (v.IsBigInt()) {
    bool lossless = true;
    const int64_t x = v.As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless) input_error(what, " does not fit in 64 bits");
    return x;
  }
  if (!v.IsNumber()) input_error(what, " must be an integer, got ", type_name(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || std::fabs(d) > 9007199254740991.0) {
    input_error(what, " must be an integer, got ", d);
  }
  return static_cast<int64_t>(d);
}

std::vector<int64_t> to_shape(const Napi::Value& v, const std::string& what) {
  if (!v.IsArray()) input_error(what, " must be an array of dimensions, got ", type_name(v));
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > 8) input_error(what, " has ", a.Length(), " dimensions; at most 8 are supported");
  std::vector<int64_t> shape;
  for (uint32_t i = 0; i < a.Length(); i++) {
    const int64_t d = to_integer(a.Get(i), what + "[" + std::to_string(i) + "]");
    if (d < 0) input_error(what, "[", i, "] must be ≥ 0, got ", d);
    shape.push_back(d);
  }
  return shape;
}

gf::DType to_dtype(const Napi::Value& v, const std::string& what) {
  if (!v.IsString()) input_error(what, " must be a dtype name, got ", type_name(v));
  gf::DType t;
  const std::string s = v.As<Napi::String>().Utf8Value();
  if (!gf::dtype_from_name(s, &t)) {
    input_error(what, ": unknown dtype '", s, "' (expected f32, f16, bf16, i32, i64, i8, q8_0, q4_0 or q4_1)");
  }
  return t;
}

gf::MemoryTag to_tag(const Napi::Value& v, const std::string& what) {
  if (v.IsUndefined()) return gf::MemoryTag::Other;
  if (!v.IsString()) input_error(what, " must be a memory tag name, got ", type_name(v));
  gf::MemoryTag t;
  const std::string s = v.As<Napi::String>().Utf8Value();
  if (!gf::memory_tag_from_name(s, &t)) {
    input_error(what, ": unknown memory tag '", s, "' (expected weights, kv, workspace, activations or other)");
  }
  return t;
}

gf::Device to_device(const Napi::Value& v, const std::string& what) {
  if (!v.IsString()) input_error(what, " must be a device name such as 'cpu' or 'cuda:0', got ", type_name(v));
  return gf::Device::parse(v.As<Napi::String>().Utf8Value());
}

}  // namespace gfaddon

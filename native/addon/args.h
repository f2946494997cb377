// Reading JavaScript arguments with messages that name the argument: every wrong type becomes
// ERR_GPUFORMER_INPUT, never a crash.
#pragma once
#include <napi.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gpuformer/tensor.h"

namespace gfaddon {

std::string type_name(const Napi::Value& v);  // "number", "string", "Tensor", "null", ...

// The devices the tensors of a program live on, noted as its commands are read.
struct ProgramDevices {
  std::set<int> cuda;  // CUDA device indices
  bool cpu = false;
};

// Named fields of an options object (`where` prefixes messages, e.g. "linear").
class Fields {
 public:
  // With `devices`, every tensor field read notes its device there.
  Fields(const Napi::Value& obj, std::string where, ProgramDevices* devices = nullptr);
  // A tensor packed for the CPU's linear (Tensor.packForLinear) is refused except where the op reads that
  // layout: the *_or_packed forms (linear's and linears' weights, embedding's table, cast's input).
  const gf::Tensor& tensor(const char* name) const;
  const gf::Tensor& tensor_or_packed(const char* name) const;
  const gf::Tensor* opt_tensor(const char* name) const;  // null or undefined -> nullptr
  double number(const char* name) const;
  double number_or(const char* name, double fallback) const;
  int64_t integer(const char* name) const;
  int64_t integer_or(const char* name, int64_t fallback) const;
  bool boolean_or(const char* name, bool fallback) const;
  std::string string(const char* name) const;
  std::string string_or(const char* name, const std::string& fallback) const;
  bool has(const char* name) const;
  // An array of tensors. `host_copy_source`: tensors a copy engine reads from host memory (fetch_slot's
  // sources), which are not noted as a device the program computes on (so a CUDA program stays graphable).
  std::vector<gf::Tensor> tensors(const char* name, bool host_copy_source = false) const;
  std::vector<gf::Tensor> tensors_or_packed(const char* name) const;
  // An array whose entries are tensors or null (an optional tensor per entry, e.g. linears' biases).
  std::vector<std::optional<gf::Tensor>> opt_tensors(const char* name) const;
  // The raw value of a field (for handles other than tensors, such as a CopyQueue).
  Napi::Value value(const char* name) const { return get(name); }

 private:
  Napi::Value get(const char* name) const;
  // the Tensor in v (field: its name in messages), noted; a packed one refused unless packed_ok
  const gf::Tensor& checked(const Napi::Value& v, const std::string& field, bool packed_ok, bool note = true) const;
  std::vector<gf::Tensor> tensor_array(const char* name, bool packed_ok, bool note) const;
  void note_device(const gf::Tensor& t) const;  // with `devices`: the program computes on t's device
  Napi::Object obj_;
  std::string where_;
  ProgramDevices* devices_;
};

int64_t to_integer(const Napi::Value& v, const std::string& what);
std::vector<int64_t> to_shape(const Napi::Value& v, const std::string& what);
gf::DType to_dtype(const Napi::Value& v, const std::string& what);
gf::MemoryTag to_tag(const Napi::Value& v, const std::string& what);
gf::Device to_device(const Napi::Value& v, const std::string& what);

}  // namespace gfaddon

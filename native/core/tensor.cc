#include "gpuformer/tensor.h"

#include <cstdlib>
#include <sstream>

#include "gpuformer/allocator.h"

namespace gf {

std::string Device::name() const {
  return kind == DeviceKind::CPU ? std::string("cpu") : cat("cuda:", index);
}

Device Device::parse(const std::string& s) {
  if (s == "cpu") return Device{DeviceKind::CPU, 0};
  if (s == "cuda") return Device{DeviceKind::CUDA, 0};
  if (s.rfind("cuda:", 0) == 0 && s.size() > 5) {
    char* end = nullptr;
    const long idx = std::strtol(s.c_str() + 5, &end, 10);
    if (*end == '\0' && idx >= 0 && idx < 1024) return Device{DeviceKind::CUDA, static_cast<int>(idx)};
  }
  fail(ErrorCode::Input, "unknown device '", s, "': expected 'cpu', 'cuda' or 'cuda:N'");
}

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; i--) strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); i++) s << (i ? ", " : "") << shape[i];
  s << "]";
  return s.str();
}

Tensor Tensor::empty(Device device, DType dtype, std::vector<int64_t> shape, MemoryTag tag, bool pinned) {
  for (int64_t d : shape) GF_CHECK_INPUT(d >= 0, "tensor shape ", shape_str(shape), " has a negative dimension");
  if (is_quantized(dtype)) {
    GF_CHECK_INPUT(!shape.empty() && shape.back() % kQuantBlock == 0, "a ", dtype_name(dtype),
                   " tensor needs a last dimension that is a multiple of 32, got ", shape_str(shape));
  }
  Tensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.strides = contiguous_strides(t.shape);
  t.storage = allocate(device, t.nbytes(), tag, pinned);
  return t;
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

bool Tensor::is_contiguous() const { return strides == contiguous_strides(shape); }

Tensor Tensor::view(int64_t elem_offset, std::vector<int64_t> new_shape) const {
  // rows packed in groups: whole groups only (a fused weight's parts), which keep the layout
  const int64_t group = packed_rows;
  GF_CHECK_INPUT(group == 0 || (new_shape.size() == 2 && ndim() == 2 && new_shape[1] == dim(1) &&
                                new_shape[0] % group == 0 && elem_offset % (group * dim(1)) == 0),
                 "a view of ", describe(), ", whose rows are packed in groups of ", group, " for the CPU's linear, must be ",
                 "whole groups of rows");
  Tensor v;
  v.packed_rows = packed_rows;
  v.storage = storage;
  v.dtype = dtype;
  v.shape = std::move(new_shape);
  v.strides = contiguous_strides(v.shape);
  const int64_t n = v.numel();
  GF_CHECK_INPUT(elem_offset >= 0 && elem_offset + n <= numel(), "view of ", n, " elements at offset ",
                 elem_offset, " does not fit in a tensor of ", numel(), " elements");
  if (is_quantized(dtype)) {
    GF_CHECK_INPUT(elem_offset % kQuantBlock == 0 && !v.shape.empty() && v.shape.back() % kQuantBlock == 0,
                   "a view of a ", dtype_name(dtype), " tensor must start and end on 32-element blocks");
  }
  v.offset = offset + dtype_bytes(dtype, elem_offset);
  return v;
}

std::string Tensor::describe() const {
  return cat(dtype_name(dtype), shape_str(shape), " on ", device().name());
}

void check_dtype(const char* op, const char* arg, const Tensor& t, DType want) {
  GF_CHECK_INPUT(t.dtype == want, op, ": '", arg, "' must be ", dtype_name(want), ", got ", t.describe());
}

void check_float(const char* op, const char* arg, const Tensor& t) {
  GF_CHECK_INPUT(is_float(t.dtype), op, ": '", arg, "' must be f32, f16 or bf16, got ", t.describe());
}

void check_ndim(const char* op, const char* arg, const Tensor& t, int ndim) {
  GF_CHECK_INPUT(t.ndim() == ndim, op, ": '", arg, "' must have ", ndim, " dimensions, got ", t.describe());
}

void check_same_device(const char* op, const Tensor& a, const char* aname, const Tensor& b, const char* bname) {
  GF_CHECK_INPUT(a.device() == b.device(), op, ": '", aname, "' is on ", a.device().name(), " but '", bname,
                 "' is on ", b.device().name());
}

void check_shape(const char* op, const char* arg, const Tensor& t, const std::vector<int64_t>& want) {
  GF_CHECK_INPUT(t.shape == want, op, ": '", arg, "' must have shape ", shape_str(want), ", got ", t.describe());
}

void check_contiguous(const char* op, const char* arg, const Tensor& t) {
  GF_CHECK_INPUT(t.is_contiguous(), op, ": '", arg, "' must be contiguous");
}

}  // namespace gf

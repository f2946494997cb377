// Tensor descriptors shared by both backends: where the bytes live (device), what they are (dtype), and how
// they are arranged (shape, strides). Storage is reference counted so that work in flight keeps its buffers
// alive even when JavaScript disposes the handle; the bytes are released when the last reference goes.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gpuformer/dtype.h"
#include "gpuformer/error.h"

namespace gf {

enum class DeviceKind : int { CPU = 0, CUDA = 1 };

struct Device {
  DeviceKind kind = DeviceKind::CPU;
  int index = 0;
  bool operator==(const Device& o) const { return kind == o.kind && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  bool is_cpu() const { return kind == DeviceKind::CPU; }
  bool is_cuda() const { return kind == DeviceKind::CUDA; }
  std::string name() const;                             // "cpu" or "cuda:N"
  static Device parse(const std::string& s);            // throws ERR_GPUFORMER_INPUT on unknown names
};

// What an allocation is for; the allocator keeps totals per tag (engine.memory()).
enum class MemoryTag : int { Weights = 0, KV, Workspace, Activations, Other, Count };
const char* memory_tag_name(MemoryTag t);
bool memory_tag_from_name(const std::string& s, MemoryTag* out);

// One allocation. Destroying it frees the bytes and updates the allocator's totals.
struct Storage {
  void* ptr = nullptr;
  size_t bytes = 0;
  Device device;
  MemoryTag tag = MemoryTag::Other;
  bool pinned = false;  // CPU memory from cudaHostAlloc: CUDA's copy engines read it directly (offloaded weights)
  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();
};

// Allocates `bytes` on `device` through the one tagged allocator. Throws ERR_GPUFORMER_OOM on failure. `pinned`
// (CPU only) takes page-locked host memory from the CUDA driver, which copies to a GPU asynchronously at full
// bus speed; it needs the CUDA backend and a device (ERR_GPUFORMER_UNSUPPORTED otherwise). Counted as CPU bytes.
std::shared_ptr<Storage> allocate(Device device, size_t bytes, MemoryTag tag, bool pinned = false);

struct Tensor {
  std::shared_ptr<Storage> storage;
  size_t offset = 0;  // bytes from storage->ptr
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;  // in elements; contiguous row-major unless a view says otherwise
  // 0, or a CPU linear weight packed for the active tier's tiles in groups of this many rows
  // (cpu::pack_linear_weight: 2 for f32 / bf16 row pairs, 16 or 8 for quantized ones): only linear, linears,
  // the embedding lookup and cast read it (the addon refuses it to other ops); views take whole groups of
  // rows, Tensor.read unpacks, writes are refused.
  int packed_rows = 0;

  static Tensor empty(Device device, DType dtype, std::vector<int64_t> shape, MemoryTag tag, bool pinned = false);

  Device device() const { return storage ? storage->device : Device{}; }
  int ndim() const { return static_cast<int>(shape.size()); }
  int64_t dim(int i) const { return shape.at(i < 0 ? i + ndim() : i); }
  int64_t numel() const;
  size_t nbytes() const { return dtype_bytes(dtype, numel()); }
  bool is_contiguous() const;
  void* raw() const { return static_cast<char*>(storage->ptr) + offset; }
  template <typename T>
  T* data() const { return reinterpret_cast<T*>(raw()); }

  // A contiguous view of `shape` starting `elem_offset` elements in (shares storage).
  Tensor view(int64_t elem_offset, std::vector<int64_t> new_shape) const;
  std::string describe() const;  // "f32[3, 4] on cpu" for messages
};

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape);
std::string shape_str(const std::vector<int64_t>& shape);

// ---- argument checks used by every op (messages name the op and the argument)
void check_dtype(const char* op, const char* arg, const Tensor& t, DType want);
void check_float(const char* op, const char* arg, const Tensor& t);  // f32, f16 or bf16
void check_ndim(const char* op, const char* arg, const Tensor& t, int ndim);
void check_same_device(const char* op, const Tensor& a, const char* aname, const Tensor& b, const char* bname);
void check_shape(const char* op, const char* arg, const Tensor& t, const std::vector<int64_t>& want);
void check_contiguous(const char* op, const char* arg, const Tensor& t);

}  // namespace gf

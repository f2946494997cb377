#include "gpuformer/allocator.h"

#include <atomic>
#include <cstdlib>
#include <mutex>

#include "gpuformer/cuda_runtime.h"

namespace gf {
namespace {

struct Ledger {
  std::mutex mutex;
  MemoryTotals totals[2];  // by DeviceKind
};

Ledger& ledger() {
  static Ledger* l = new Ledger();  // outlives finalizers that run at exit
  return *l;
}

void account(Device device, MemoryTag tag, int64_t delta) {
  Ledger& l = ledger();
  std::lock_guard<std::mutex> lock(l.mutex);
  MemoryTotals& t = l.totals[static_cast<int>(device.kind)];
  t.bytes[static_cast<int>(tag)] += delta;
  t.allocations += delta > 0 ? 1 : -1;
  int64_t live = 0;
  for (int64_t b : t.bytes) live += b;
  if (live > t.peak) t.peak = live;
}

}  // namespace

std::shared_ptr<Storage> allocate(Device device, size_t bytes, MemoryTag tag) {
  auto s = std::make_shared<Storage>();
  s->device = device;
  s->tag = tag;
  s->bytes = bytes;
  const size_t request = bytes == 0 ? kCpuAlignment : bytes;
  if (device.is_cpu()) {
    const size_t rounded = (request + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
    s->ptr = std::aligned_alloc(kCpuAlignment, rounded);
  } else {
    s->ptr = cuda::device_malloc(device.index, request);
  }
  if (!s->ptr) {
    s->bytes = 0;
    fail(ErrorCode::OOM, "out of memory on ", device.name(), ": could not allocate ", bytes, " bytes for ",
         memory_tag_name(tag));
  }
  account(device, tag, static_cast<int64_t>(bytes));
  return s;
}

Storage::~Storage() {
  if (!ptr) return;
  if (device.is_cpu()) {
    std::free(ptr);
  } else {
    cuda::device_free(device.index, ptr);
  }
  account(device, tag, -static_cast<int64_t>(bytes));
}

MemoryTotals memory_totals(Device device) {
  Ledger& l = ledger();
  std::lock_guard<std::mutex> lock(l.mutex);
  return l.totals[static_cast<int>(device.kind)];
}

void reset_peak(Device device) {
  Ledger& l = ledger();
  std::lock_guard<std::mutex> lock(l.mutex);
  MemoryTotals& t = l.totals[static_cast<int>(device.kind)];
  int64_t live = 0;
  for (int64_t b : t.bytes) live += b;
  t.peak = live;
}

}  // namespace gf

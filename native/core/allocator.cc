#include "gpuformer/allocator.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#if defined(__linux__) || defined(__APPLE__)
#include <sys/mman.h>
#include <unistd.h>
#define GF_HAS_MINCORE 1
#endif

#include "gpuformer/cuda_runtime.h"

namespace gf {
namespace {

struct Ledger {
  std::mutex mutex;
  MemoryTotals totals[2];  // by DeviceKind
  // live CPU allocations (pointer → bytes, tag), for committed_totals
  std::unordered_map<const void*, std::pair<size_t, MemoryTag>> cpu_live;
  int64_t cpu_committed_peak = 0;
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

// The bytes of [p, p + n) whose pages are resident: every byte when the OS cannot tell.
int64_t resident_bytes(const void* p, size_t n) {
#ifdef GF_HAS_MINCORE
  if (n == 0) return 0;
  static const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p), end = begin + n;
  const uintptr_t first = begin / page * page, last = (end + page - 1) / page * page;
  std::vector<unsigned char> resident((last - first) / page);
#ifdef __APPLE__
  const int rc = mincore(reinterpret_cast<void*>(first), last - first, reinterpret_cast<char*>(resident.data()));
#else
  const int rc = mincore(reinterpret_cast<void*>(first), last - first, resident.data());
#endif
  if (rc != 0) return static_cast<int64_t>(n);
  int64_t total = 0;
  for (size_t i = 0; i < resident.size(); i++) {
    if (!(resident[i] & 1)) continue;
    const uintptr_t a = first + i * page, b = a + page;
    total += static_cast<int64_t>(std::min(b, end) - std::max(a, begin));
  }
  return total;
#else
  (void)p;
  return static_cast<int64_t>(n);
#endif
}

}  // namespace

std::shared_ptr<Storage> allocate(Device device, size_t bytes, MemoryTag tag, bool pinned) {
  GF_CHECK_INPUT(!pinned || device.is_cpu(), "pinned memory is host memory: it is allocated on the cpu, not on ",
                 device.name());
  auto s = std::make_shared<Storage>();
  s->device = device;
  s->tag = tag;
  s->bytes = bytes;
  s->pinned = pinned;
  const size_t request = bytes == 0 ? kCpuAlignment : bytes;
  if (pinned) {
    s->ptr = cuda::host_alloc(request);
  } else if (device.is_cpu()) {
    const size_t rounded = (request + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
    s->ptr = std::aligned_alloc(kCpuAlignment, rounded);
  } else {
    s->ptr = cuda::device_malloc(device.index, request);
  }
  if (!s->ptr) {
    s->bytes = 0;
    fail(ErrorCode::OOM, "out of memory on ", device.name(), ": could not allocate ", bytes, pinned ? " pinned" : "",
         " bytes for ", memory_tag_name(tag));
  }
  account(device, tag, static_cast<int64_t>(bytes));
  if (device.is_cpu()) {
    Ledger& l = ledger();
    std::lock_guard<std::mutex> lock(l.mutex);
    l.cpu_live[s->ptr] = {bytes, tag};
  }
  return s;
}

Storage::~Storage() {
  if (!ptr) return;
  if (device.is_cpu()) {  // pinned storage too: it is host memory
    Ledger& l = ledger();
    std::lock_guard<std::mutex> lock(l.mutex);
    l.cpu_live.erase(ptr);
  }
  if (pinned) {
    cuda::host_free(ptr);
  } else if (device.is_cpu()) {
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

CommittedTotals committed_totals(Device device) {
  Ledger& l = ledger();
  std::lock_guard<std::mutex> lock(l.mutex);
  CommittedTotals c;
  if (!device.is_cpu()) {
    const MemoryTotals& t = l.totals[static_cast<int>(device.kind)];
    std::copy(std::begin(t.bytes), std::end(t.bytes), std::begin(c.bytes));
    c.peak = t.peak;
    return c;
  }
  int64_t total = 0;
  for (const auto& [ptr, entry] : l.cpu_live) {
    const int64_t r = resident_bytes(ptr, entry.first);
    c.bytes[static_cast<int>(entry.second)] += r;
    total += r;
  }
  l.cpu_committed_peak = std::max(l.cpu_committed_peak, total);
  c.peak = l.cpu_committed_peak;
  return c;
}

void reset_peak(Device device) {
  Ledger& l = ledger();
  std::lock_guard<std::mutex> lock(l.mutex);
  MemoryTotals& t = l.totals[static_cast<int>(device.kind)];
  int64_t live = 0;
  for (int64_t b : t.bytes) live += b;
  t.peak = live;
  if (device.is_cpu()) l.cpu_committed_peak = 0;
}

}  // namespace gf

// The one tagged allocator. Every device allocation goes through gf::allocate(); totals are kept per device
// kind and tag so JavaScript can report exactly what is held (engine.memory()) and tests can check that
// disposing an engine returns every tag to zero.
#pragma once
#include <cstdint>

#include "gpuformer/tensor.h"

namespace gf {

struct MemoryTotals {
  int64_t bytes[static_cast<int>(MemoryTag::Count)] = {};  // live bytes by tag
  int64_t peak = 0;                                         // highest live total seen
  int64_t allocations = 0;                                  // live allocation count
};

// Totals for one device kind (all CUDA devices are summed per index).
MemoryTotals memory_totals(Device device);
void reset_peak(Device device);

// The bytes the allocations of one device kind really hold, by tag. A CUDA allocation is backed by device
// memory when it is made. A CPU allocation of some size is address space whose pages the OS backs as they are
// first written (a KV cache nobody has used yet holds none), so on the CPU they are read from the page tables
// (mincore) at each call: the part of each allocation's pages that is resident.
struct CommittedTotals {
  int64_t bytes[static_cast<int>(MemoryTag::Count)] = {};
  int64_t peak = 0;  // the highest total seen (CUDA: as memory_totals' peak; CPU: over the calls so far)
};
CommittedTotals committed_totals(Device device);

// CPU allocations are aligned to this many bytes (a cache line, and enough for AVX-512 loads).
constexpr size_t kCpuAlignment = 64;

}  // namespace gf

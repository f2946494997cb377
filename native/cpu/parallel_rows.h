// Grain sizes for gf::parallel_for over rows: enough elements per chunk that scheduling costs nothing next
// to the work, and a single small row never pays for waking the pool.
#pragma once
#include <algorithm>
#include <cstdint>

namespace gf {
namespace cpu {

// Rows per chunk so that a chunk holds about 16k elements (memory-bound ops).
inline int64_t rows_grain(int64_t cols) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1)); }

// Elements per chunk for flat elementwise loops.
constexpr int64_t kElementGrain = 32768;

}  // namespace cpu
}  // namespace gf

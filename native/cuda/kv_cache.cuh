// KV-cache family: writing new keys and values into the paged cache, and the addressing every paged kernel
// shares. Cache layout per layer (DESIGN section 4): K and V each [num_blocks, block_size, Hkv, D];
// a token's slot = block * block_size + offset.
#pragma once
#include "cuda/common.cuh"
#include "cuda/device_faults.cuh"

namespace gf {
namespace cuda {

// Where key j of a sequence lives: row j of a contiguous [S, Hkv, D] tensor, or the slot a block table
// gives it in a paged cache. Element (j, h, d) is at base + row_of(j) * row_stride + h * D + d.
struct KvAddress {
  const int32_t* block_table = nullptr;  // this sequence's row of the block table; null when contiguous
  int block_size = 0;
  int num_blocks = 0;                    // entries must lie in [0, num_blocks)
  DeviceFault* faults = nullptr;
  int64_t first_row = 0;                 // contiguous: the sequence's first token row

  __device__ __forceinline__ int64_t row_of(int j) const {
    if (!block_table) return first_row + j;
    const int i = j / block_size;
    int blk = block_table[i];
    if (static_cast<unsigned>(blk) >= static_cast<unsigned>(num_blocks)) {
      report_fault(faults, FaultKind::BlockTable, i, blk, num_blocks);
      blk = 0;
    }
    return int64_t(blk) * block_size + j % block_size;
  }
};

}  // namespace cuda
}  // namespace gf

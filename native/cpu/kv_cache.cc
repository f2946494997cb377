// The paged KV cache write: each new token's keys and values go to their slot (block · block_size + offset).
#include <cstring>

#include "core/thread_pool.h"
#include "cpu/cpu_ops.h"
#include "cpu/parallel_rows.h"

namespace gf {
namespace cpu {

// k, v [T,Hkv,D]; k_cache, v_cache [num_blocks, block_size, Hkv, D]; slot_mapping i32 [T] (< 0: skip)
void kv_cache_write(const Tensor& k, const Tensor& v, Tensor& k_cache, Tensor& v_cache, const Tensor& slot_mapping) {
  const int64_t T = k.dim(0);
  const size_t row_bytes = dtype_bytes(k.dtype, k.dim(1) * k.dim(2));  // one token: all kv heads
  const int32_t* slot = slot_mapping.data<int32_t>();
  const char* pk = static_cast<const char*>(k.raw());
  const char* pv = static_cast<const char*>(v.raw());
  char* ck = static_cast<char*>(k_cache.raw());
  char* cv = static_cast<char*>(v_cache.raw());
  parallel_for(T, rows_grain(k.dim(1) * k.dim(2)), [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; t++) {
      if (slot[t] < 0) continue;
      std::memcpy(ck + slot[t] * row_bytes, pk + t * row_bytes, row_bytes);
      std::memcpy(cv + slot[t] * row_bytes, pv + t * row_bytes, row_bytes);
    }
  });
}

}  // namespace cpu
}  // namespace gf

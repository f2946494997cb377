// rope_kv_cache_write on the CPU: exactly its definition, rope(q), rope(k) (one pass: each token's angles
// computed once for both), then kv_cache_write(k, v).
#include "cpu/cpu_ops.h"

namespace gf {
namespace cpu {

// q [T,Hq,D], k [T,Hkv,D] rotated in place; v [T,Hkv,D]; positions [T]; inv_freq [R/2]; caches [blocks, bs, Hkv, D];
// slot_mapping [T]
void rope_kv_cache_write(Tensor& q, Tensor& k, const Tensor& v, const Tensor& positions, const Tensor& inv_freq,
                         bool interleaved, Tensor& k_cache, Tensor& v_cache, const Tensor& slot_mapping) {
  rope_rows({&q, &k}, positions, inv_freq, interleaved);
  cpu::kv_cache_write(k, v, k_cache, v_cache, slot_mapping);
}

}  // namespace cpu
}  // namespace gf

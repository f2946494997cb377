// rope_kv_cache_write on the CPU: exactly its definition, rope(q), rope(k), then kv_cache_write(k, v).
#include "cpu/cpu_ops.h"

namespace gf {
namespace cpu {

// q [T,Hq,D], k [T,Hkv,D] rotated in place; v [T,Hkv,D]; positions [T]; inv_freq [R/2]; caches [blocks, bs, Hkv, D];
// slot_mapping [T]
void rope_kv_cache_write(Tensor& q, Tensor& k, const Tensor& v, const Tensor& positions, const Tensor& inv_freq,
                         bool interleaved, Tensor& k_cache, Tensor& v_cache, const Tensor& slot_mapping) {
  cpu::rope(q, positions, inv_freq, interleaved);  // qualified: ADL would also find gf::rope
  cpu::rope(k, positions, inv_freq, interleaved);
  cpu::kv_cache_write(k, v, k_cache, v_cache, slot_mapping);
}

}  // namespace cpu
}  // namespace gf

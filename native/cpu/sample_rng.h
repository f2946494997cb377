// The sampler's random number: a pure function of (seed, step), so a request draws the same token at the
// same step whatever else is batched with it, on either backend. Counter-based (two rounds of the
// splitmix64 finalizer, a bijective 64-bit mixer), no state to carry between steps. Plain inline code so
// the CUDA sampler can include this header and draw identical numbers.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define GF_HOST_DEVICE __host__ __device__
#else
#define GF_HOST_DEVICE
#endif

namespace gf {

GF_HOST_DEVICE inline uint64_t splitmix64_mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) with 53 random bits.
GF_HOST_DEVICE inline double sample_uniform(int64_t seed, int32_t step) {
  const uint64_t key = splitmix64_mix(static_cast<uint64_t>(seed));
  const uint64_t bits = splitmix64_mix(key ^ (static_cast<uint64_t>(static_cast<uint32_t>(step)) * 0xd1b54a32d192ed03ull));
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);
}

}  // namespace gf

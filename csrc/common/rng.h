// Counter-based random numbers shared by the CPU and CUDA kernels (and mirrored in
// fedras_ext/reference.py): draw t of segment s under seed is a pure function of
// (seed, s, t), so results do not depend on thread count, device or launch order.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define FEDRAS_HD __host__ __device__ __forceinline__
#else
#define FEDRAS_HD inline
#endif

namespace fedras {

FEDRAS_HD uint64_t splitmix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Uniform double in [0, 1) for draw `t` of segment `seg`.
FEDRAS_HD double uniform01(uint64_t seed, uint64_t seg, uint64_t t) {
  const uint64_t h = splitmix64(splitmix64(splitmix64(seed) ^ seg) ^ t);
  return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);
}

// Uniform integer in [0, n), n >= 1.
FEDRAS_HD int64_t uniform_index(uint64_t seed, uint64_t seg, uint64_t t, int64_t n) {
  int64_t i = static_cast<int64_t>(uniform01(seed, seg, t) * static_cast<double>(n));
  return i < n ? i : n - 1;
}

}  // namespace fedras

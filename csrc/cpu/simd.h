// Vector building blocks of the CPU kernels.
//
// One binary carries two code paths picked at load time (x86-64-v3, i.e. AVX2, and the
// baseline ISA). Arithmetic is written so every path gives the same bits: explicit
// 8-wide vectors (GCC/Clang vector extensions) whose lanes are independent sums in a
// fixed order, and no FMA contraction (-ffp-contract=off in CMakeLists.txt). The CUDA
// kernels reproduce the same orders.
#pragma once
#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define FEDRAS_MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define FEDRAS_MULTIVERSION
#endif
#define FEDRAS_INLINE inline __attribute__((always_inline))

namespace fedras {

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

constexpr int kTile = 16;  // columns (centroids, directions) scored together

FEDRAS_INLINE v8f load8(const float* p) {
  v8f v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Dot products of R consecutive rows x[r] (stride d) with the kTile columns
// c0..c0+15 of ct ([d, kpad], column-major copy of the centroids): acc[r][t/8][t%8]
// = sum_j x[r][j] * ct[j][c0 + t], each summed over j in order. R rows share every
// load of ct, and R x 2 independent vector accumulators hide the add latency.
template <int R>
FEDRAS_INLINE void tile_dots(const float* x, const float* ct, int64_t d, int kpad, int c0, v8f (&acc)[R][2]) {
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = v8f{};
  for (int64_t j = 0; j < d; ++j) {
    const v8f lo = load8(ct + j * kpad + c0), hi = load8(ct + j * kpad + c0 + 8);
    for (int r = 0; r < R; ++r) {
      const float xj = x[r * d + j];
      acc[r][0] += xj * lo;
      acc[r][1] += xj * hi;
    }
  }
}

// Lane-wise minimum of NaN-free vectors (callers map NaN to +inf first: see no_nan8).
FEDRAS_INLINE v8f min8(v8f a, v8f b) { return b < a ? b : a; }

// Smallest lane of a NaN-free vector, in three shuffles.
FEDRAS_INLINE float hmin8(v8f m) {
  m = min8(m, __builtin_shuffle(m, v8i{4, 5, 6, 7, 0, 1, 2, 3}));
  m = min8(m, __builtin_shuffle(m, v8i{2, 3, 0, 1, 6, 7, 4, 5}));
  m = min8(m, __builtin_shuffle(m, v8i{1, 0, 3, 2, 5, 4, 7, 6}));
  return m[0];
}

// NaN lanes -> +inf, so a NaN score never wins a minimum, as in a sequential `<` scan.
FEDRAS_INLINE v8f no_nan8(v8f a) {
  const v8f inf = v8f{} + std::numeric_limits<float>::infinity();
  return a == a ? a : inf;
}

// Pad count k up to a multiple of kTile.
inline int padded_columns(int64_t k) { return static_cast<int>((k + kTile - 1) / kTile * kTile); }

}  // namespace fedras

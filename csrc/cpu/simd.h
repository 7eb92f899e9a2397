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
#include <type_traits>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define FEDRAS_MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define FEDRAS_MULTIVERSION
#endif
#define FEDRAS_INLINE inline __attribute__((always_inline))

namespace fedras {

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef double v4d __attribute__((vector_size(32)));
typedef int64_t v4l __attribute__((vector_size(32)));

// Eight doubles as two AVX vectors (a 64-byte vector type would go through the stack
// without AVX-512).
struct v8d {
  v4d lo, hi;
};
FEDRAS_INLINE v8d operator+(v8d a, v8d b) { return {a.lo + b.lo, a.hi + b.hi}; }
FEDRAS_INLINE v8d operator-(v8d a, v8d b) { return {a.lo - b.lo, a.hi - b.hi}; }
FEDRAS_INLINE v8d operator*(v8d a, v8d b) { return {a.lo * b.lo, a.hi * b.hi}; }
FEDRAS_INLINE v8d& operator+=(v8d& a, v8d b) { return a = a + b; }

// Lane t of an eight-lane vector.
FEDRAS_INLINE float lane(const v8f& v, int t) { return v[t]; }
FEDRAS_INLINE double lane(const v8d& v, int t) { return t < 4 ? v.lo[t] : v.hi[t - 4]; }

// v + w in the lanes below `count`, v elsewhere (exactly v: no +0 is added there).
FEDRAS_INLINE v8f add_below(v8f v, v8f w, int count) {
  const v8i below = v8i{0, 1, 2, 3, 4, 5, 6, 7} < count;
  return below ? v + w : v;
}
FEDRAS_INLINE v8d add_below(v8d v, v8d w, int count) {
  const v4l lo = v4l{0, 1, 2, 3} < count, hi = v4l{4, 5, 6, 7} < count;
  return {lo ? v.lo + w.lo : v.lo, hi ? v.hi + w.hi : v.hi};
}

constexpr int kTile = 16;  // columns (centroids, directions) scored together

FEDRAS_INLINE v8f load8(const float* p) {
  v8f v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Eight consecutive values as the lanes of V: v8f from floats, v8d from floats (widened
// exactly) or doubles.
template <class V, class T>
FEDRAS_INLINE V load_lanes(const T* p);

template <>
FEDRAS_INLINE v8f load_lanes<v8f, float>(const float* p) {
  return load8(p);
}

template <>
FEDRAS_INLINE v8d load_lanes<v8d, float>(const float* p) {
  typedef float v4f __attribute__((vector_size(16)));
  v4f lo, hi;
  std::memcpy(&lo, p, sizeof(lo));
  std::memcpy(&hi, p + 4, sizeof(hi));
  return {__builtin_convertvector(lo, v4d), __builtin_convertvector(hi, v4d)};
}

template <>
FEDRAS_INLINE v8d load_lanes<v8d, double>(const double* p) {
  v8d v;
  std::memcpy(&v.lo, p, sizeof(v.lo));
  std::memcpy(&v.hi, p + 4, sizeof(v.hi));
  return v;
}

// The first `count` (< 8) values as lanes, zeros after them.
template <class V, class T>
FEDRAS_INLINE V load_lanes_below(const T* p, int count) {
  T buf[8] = {};
  std::memcpy(buf, p, static_cast<size_t>(count) * sizeof(T));
  return load_lanes<V>(buf);
}

// ((((0 + v[0]) + v[1]) + ...) + v[7]), the lanes in order, of eight vectors at once:
// lane q of the result is v[q]'s total. An 8 x 8 transpose, then eight vector adds.
FEDRAS_INLINE v8f lane_totals(const v8f (&v)[8]) {
  v8f s[8], u[8];
  for (int p = 0; p < 8; p += 2) {
    s[p] = __builtin_shuffle(v[p], v[p + 1], v8i{0, 8, 1, 9, 4, 12, 5, 13});
    s[p + 1] = __builtin_shuffle(v[p], v[p + 1], v8i{2, 10, 3, 11, 6, 14, 7, 15});
  }
  for (int h = 0; h < 8; h += 4) {  // rows h..h+3: u[h + t] holds lanes t and t + 4
    u[h] = __builtin_shuffle(s[h], s[h + 2], v8i{0, 1, 8, 9, 4, 5, 12, 13});
    u[h + 1] = __builtin_shuffle(s[h], s[h + 2], v8i{2, 3, 10, 11, 6, 7, 14, 15});
    u[h + 2] = __builtin_shuffle(s[h + 1], s[h + 3], v8i{0, 1, 8, 9, 4, 5, 12, 13});
    u[h + 3] = __builtin_shuffle(s[h + 1], s[h + 3], v8i{2, 3, 10, 11, 6, 7, 14, 15});
  }
  v8f total = {};
  for (int t = 0; t < 4; ++t) total += __builtin_shuffle(u[t], u[t + 4], v8i{0, 1, 2, 3, 8, 9, 10, 11});
  for (int t = 0; t < 4; ++t) total += __builtin_shuffle(u[t], u[t + 4], v8i{4, 5, 6, 7, 12, 13, 14, 15});
  return total;
}

// The same for four eight-lane double vectors (lanes 0-3 in lo, 4-7 in hi).
FEDRAS_INLINE v4d lane_totals(const v8d (&v)[4]) {
  v4d total = {};
  for (int half = 0; half < 2; ++half) {
    const v4d a = half ? v[0].hi : v[0].lo, b = half ? v[1].hi : v[1].lo;
    const v4d c = half ? v[2].hi : v[2].lo, d = half ? v[3].hi : v[3].lo;
    const v4d t0 = __builtin_shuffle(a, b, v4l{0, 4, 2, 6}), t1 = __builtin_shuffle(a, b, v4l{1, 5, 3, 7});
    const v4d t2 = __builtin_shuffle(c, d, v4l{0, 4, 2, 6}), t3 = __builtin_shuffle(c, d, v4l{1, 5, 3, 7});
    total += __builtin_shuffle(t0, t2, v4l{0, 1, 4, 5});
    total += __builtin_shuffle(t1, t3, v4l{0, 1, 4, 5});
    total += __builtin_shuffle(t0, t2, v4l{2, 3, 6, 7});
    total += __builtin_shuffle(t1, t3, v4l{2, 3, 6, 7});
  }
  return total;
}

// Dot products of R rows x[r] with the kTile columns c0..c0+15 of ct ([d, kpad],
// column-major copy of the centroids): acc[r][t/8][t%8] = sum_j x[r][j] * ct[j][c0 + t],
// each summed over j in order. R rows share every load of ct, and R x 2 independent
// vector accumulators hide the add latency.
template <int R>
FEDRAS_INLINE void tile_dots(const float* const (&x)[R], const float* ct, int64_t d, int kpad, int c0,
                             v8f (&acc)[R][2]) {
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = v8f{};
  for (int64_t j = 0; j < d; ++j) {
    const v8f lo = load8(ct + j * kpad + c0), hi = load8(ct + j * kpad + c0 + 8);
    for (int r = 0; r < R; ++r) {
      const float xj = x[r][j];
      acc[r][0] += xj * lo;
      acc[r][1] += xj * hi;
    }
  }
}

// The same for R consecutive rows (stride d) from x.
template <int R>
FEDRAS_INLINE void tile_dots(const float* x, const float* ct, int64_t d, int kpad, int c0, v8f (&acc)[R][2]) {
  const float* rows[R];
  for (int r = 0; r < R; ++r) rows[r] = x + r * d;
  tile_dots<R>(rows, ct, d, kpad, c0, acc);
}

// Columns 0..d in chunks of 32, then of 8, for kernels that keep a chunk's sums in
// registers: calls f(std::integral_constant<int, W>{}, j0) for each chunk [j0, j0 + W)
// and returns where the scalar tail (fewer than 8 columns) starts.
template <class F>
FEDRAS_INLINE int64_t for_column_chunks(int64_t d, F&& f) {
  int64_t j0 = 0;
  for (; j0 + 32 <= d; j0 += 32) f(std::integral_constant<int, 32>{}, j0);
  for (; j0 + 8 <= d; j0 += 8) f(std::integral_constant<int, 8>{}, j0);
  return j0;
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

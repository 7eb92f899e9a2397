// Exact pruning for the CPU k-means (l2 metric): bounds that let a Lloyd pass skip the
// scoring of rows whose label cannot change (Elkan's per-centroid lower bounds), and let
// k-means++ seeding skip rows that a new centre cannot be closer to (triangle inequality).
//
// "Exact" means the result has the same bits as scoring every row. A row is skipped only
// when the float scores a full pass would compute are provably ordered the same way.
// With u = 2^-24 and gamma_m = m u / (1 - m u) (the textbook bound of an m-term float sum):
// - a score s_c = ||c||^2 - 2 x.c computed in float (sequential d-term sums, no FMA, one
//   final subtraction) is within (gamma_d + u)(||c||^2 + 2 ||x|| ||c||) of its exact value;
// - ||x - c||^2 summed in float (a rounded difference, squared, summed) is within
//   gamma_{d+3} of its exact value, relatively;
// so eta = 1.01 gamma_{d+3} covers both, and E = eta (||c|| + ||x||)^2 bounds a score's
// error. kTiny covers underflow (an absolute error of 2^-150 per float operation).
// If U bounds ||x - c_a|| from above and L_c bounds ||x - c|| from below with
// U^2 + 2E < L_c^2 for every c != a, then every full-pass score of c exceeds a's, so a
// full pass would keep label a. Segments with non-finite or huge (>= kMaxNorm) values,
// or d so large that eta is no longer small, are never pruned, so no float score can
// overflow while bounds are in use.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "cpu/simd.h"

namespace fedras {

constexpr double kTiny = 1e-30;
constexpr double kMaxNorm = 1e15;

// Relative error bound of a d-term float score or squared distance (see above); 0 when
// d is too large for the bounds to be worth having (no pruning then).
inline double score_eta(int64_t d) {
  const double mu = static_cast<double>(d + 3) * 0x1p-24;
  return mu < 0.01 ? 1.01 * mu / (1.0 - mu) : 0.0;
}

// Lower bounds live in float, eight to a vector, and every rounding goes down (see
// reset and keeps_label): kDown takes a non-negative bound below up to two float
// roundings. A bound of 0 is useless, never wrong; one that reaches the subnormal range
// is useless anyway (see kTiny).
constexpr float kDown = 1.0f - 0x1p-22f;

// k rounded up to whole vectors: the row stride of the bounds (padding lanes hold +inf).
inline int64_t bound_stride(int64_t k) { return (k + 7) / 8 * 8; }

// What the Lloyd pass of one block needs to prune. With xnorm == nullptr there is no
// pruning; with drift == nullptr every row is scored and its bounds are (re)set.
struct Pruning {
  const double* xnorm = nullptr;  // [n] ||x|| of each row of the segment, in double
  float* lower = nullptr;         // [n, bound_stride(k)] lower bounds on ||x - c||
  const float* drift = nullptr;   // [bound_stride(k)] upper bounds on each centroid's move (0 on padding)
  double cmax = 0.0;              // upper bound on max_c ||c|| this pass
  double eta = 0.0;               // score_eta(d)
  int64_t k = 0;

  // Score error bound E for a row of norm xn.
  FEDRAS_INLINE double margin(double xn) const {
    const double m = cmax + xn;
    return eta * m * m + kTiny;
  }

  // Move row r's bounds past this pass's centroid drift and test whether label a
  // provably stays; da is ||x - c_a||^2 as the pass computes it (float lane sum).
  FEDRAS_INLINE bool keeps_label(int64_t r, int a, double da) const {
    const int64_t kl = bound_stride(k);
    float* lo = lower + r * kl;
    const v8f down = v8f{} + kDown, zero = v8f{}, inf = zero + std::numeric_limits<float>::infinity();
    v8f m = inf;
    v8i lane = v8i{0, 1, 2, 3, 4, 5, 6, 7} - a;  // 0 in a's lane: a's own bound is not a rival
    for (int64_t c = 0; c < kl; c += 8, lane += 8) {
      // (l - drift) (1 - 2^-22): the drift is rounded up, the factor covers two float roundings.
      v8f l = (load8(lo + c) - load8(drift + c)) * down;
      l = l > zero ? l : zero;
      std::memcpy(lo + c, &l, sizeof(l));
      m = min8(m, lane == 0 ? inf : l);
    }
    const double lmin = hmin8(m);
    const double u2 = da * (1.0 + eta) + kTiny;
    return u2 + 2.0 * margin(xnorm[r]) < lmin * lmin;
  }

  // Reset row r's bounds from the full pass's float scores (kpad >= bound_stride(k) of
  // them, +inf on padding): ||x - c||^2 = s_c + ||x||^2 >= score - E + ||x||^2. Done in
  // float, eight at a time: subtracting 2E instead of E covers the float rounding of
  // the base and the sum (at most 3 u (cmax + ||x||)^2 < E, as eta > 4 u), and `down`
  // that of the sqrt.
  FEDRAS_INLINE void reset(int64_t r, const float* scores) const {
    const int64_t kl = bound_stride(k);
    float* lo = lower + r * kl;
    const double xn = xnorm[r];
    const v8f base = v8f{} + static_cast<float>(xn * xn - 2.0 * margin(xn));
    const v8f down = v8f{} + kDown, zero = v8f{};
    for (int64_t c = 0; c < kl; c += 8) {
      v8f t = load8(scores + c) + base;
      t = t > zero ? t : zero;
      for (int q = 0; q < 8; ++q) t[q] = std::sqrt(t[q]);
      t = t * down;
      std::memcpy(lo + c, &t, sizeof(t));
    }
  }
};

// k-means++ seeding: a new centre c_t cannot be nearer to x than x's nearest chosen
// centre c_n (distance^2 mind) when ||c_t - c_n||^2 >= 4 mind, since then
// ||x - c_t|| >= ||c_t - c_n|| - ||x - c_n|| >= ||x - c_n||. Such rows are the ones with
// mind <= seed_skip_limit(||c_t - c_n||^2): the 2e-8 slack dwarfs the double rounding
// of either side, a non-finite gap gives -1 (no row), and a NaN weight compares false.
FEDRAS_INLINE double seed_skip_limit(double centre_gap2) {
  return std::isfinite(centre_gap2) ? centre_gap2 * (0.25 / (1.0 + 2e-8)) : -1.0;
}

}  // namespace fedras

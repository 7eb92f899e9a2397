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
// reset and unsure_rows): kDown takes a non-negative bound below up to two float
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
  int64_t stride = 0;             // bound_stride(k)

  // Score error bound E for a row of norm xn.
  FEDRAS_INLINE double margin(double xn) const {
    const double m = cmax + xn;
    return eta * m * m + kTiny;
  }

  // Move the bounds of rows r0..r0+n past this pass's centroid drift and list (in
  // todo) the rows whose label might change: row i keeps label[i] for sure when its
  // bounds prove it, with dist[i] = ||x - c_label||^2 as the pass computes it (float lane
  // sum). KL is the bound stride when known at compile time (0: `stride`), which keeps
  // the drift in registers. Returns the number of rows listed.
  template <int KL>
  FEDRAS_INLINE int unsure_rows(int64_t r0, int n, const int32_t* label, const double* dist, int32_t* todo) const {
    const int64_t kl = KL > 0 ? KL : stride;
    const v8f down = v8f{} + kDown, zero = v8f{}, inf = zero + std::numeric_limits<float>::infinity();
    v8f fixed_drift[KL > 0 ? KL / 8 : 1];
    if constexpr (KL > 0)
      for (int v = 0; v < KL / 8; ++v) fixed_drift[v] = load8(drift + 8 * v);
    int n_todo = 0;
    for (int i = 0; i < n; ++i) {
      float* lo = lower + (r0 + i) * kl;
      v8f m = inf;
      v8i lane = v8i{0, 1, 2, 3, 4, 5, 6, 7} - label[i];  // 0 in the label's lane: not a rival
      for (int64_t c = 0; c < kl; c += 8, lane += 8) {
        // (l - drift) (1 - 2^-22): the drift is rounded up, the factor covers two float roundings.
        const v8f dv = KL > 0 ? fixed_drift[c / 8] : load8(drift + c);
        v8f l = (load8(lo + c) - dv) * down;
        l = l > zero ? l : zero;
        std::memcpy(lo + c, &l, sizeof(l));
        m = min8(m, lane == 0 ? inf : l);
      }
      const double lmin = hmin8(m);
      const double u2 = dist[i] * (1.0 + eta) + kTiny;
      todo[n_todo] = i;
      n_todo += !(u2 + 2.0 * margin(xnorm[r0 + i]) < lmin * lmin);
    }
    return n_todo;
  }

  // Reset row r's bounds from the full pass's float scores (kpad >= stride of
  // them, +inf on padding): ||x - c||^2 = s_c + ||x||^2 >= score - E + ||x||^2. Done in
  // float, eight at a time: subtracting 2E instead of E covers the float rounding of
  // the base and the sum (at most 3 u (cmax + ||x||)^2 < E, as eta > 4 u), and `down`
  // that of the sqrt.
  FEDRAS_INLINE void reset(int64_t r, const float* scores) const {
    const int64_t kl = stride;
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

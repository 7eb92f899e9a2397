// CPU segmented k-means (Lloyd with k-means++ or random init).
//
// Parallelism: small segments run one per thread; a segment larger than
// kBigSegmentRows gets all threads, split into fixed blocks of kBlockRows rows.
// Every reduction (cluster sums, inertia, k-means++ weights) is done per block and
// combined in block order, so the result is bit-identical for any thread count.
//
// Empty clusters keep their previous centroid (the cuVS policy), so no NaN is emitted.
#include <algorithm>
#include <numeric>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <strings.h>  // strcasecmp
#include <limits>
#include <vector>

#include "common/parallel.h"
#include "common/rng.h"
#include "common/rowmath.h"
#include "cpu/kmeans_bounds.h"
#include "cpu/simd.h"
#include "ops/kmeans.h"

namespace fedras {
namespace {

constexpr int64_t kBlockRows = 2048;
constexpr int64_t kBigSegmentRows = 4 * kBlockRows;
constexpr int64_t kMaxBoundBytes = int64_t{256} << 20;  // a segment's pruning bounds, at most

template <class F>
void for_blocks(int64_t n_blocks, bool parallel, int threads, F&& f) {
  if (!parallel || n_blocks <= 1 || threads <= 1) {
    for (int64_t b = 0; b < n_blocks; ++b) f(b);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t b = 0; b < n_blocks; ++b) f(b);
}

// sum_j op(x[j], c[j]) over d with 8 fixed partial sums (lane t takes j = t mod 8, in
// order), then the lanes 0..7 in order, in the lane type of V (v8f: float, v8d: double).
// Explicit vectors, so the code stays vector code when a fixed d unrolls the loop, and
// the summation order is the same on every machine (and in the CUDA kernels).
constexpr int kLanes = 8;

// lanes += op(x[j..j+8), c[j..j+8)); with fewer than 8 terms left, they go to lanes
// 0, 1, ... and the other lanes stay exactly as they were.
template <class V, class T, class Op>
FEDRAS_INLINE void add_terms(V& lanes, const T* x, const T* c, int64_t j, int64_t d, Op op) {
  if (j + kLanes <= d) {
    lanes += op(load_lanes<V>(x + j), load_lanes<V>(c + j));
  } else {
    const int rest = static_cast<int>(d - j);
    lanes = add_below(lanes, op(load_lanes_below<V>(x + j, rest), load_lanes_below<V>(c + j, rest)), rest);
  }
}

template <class V, class T, class Op>
FEDRAS_INLINE auto lane_sum(const T* x, const T* c, int64_t d, Op op) {
  V lanes = {};
  for (int64_t j = 0; j < d; j += kLanes) add_terms(lanes, x, c, j, d, op);
  decltype(lane(lanes, 0)) total = 0;
  for (int t = 0; t < kLanes; ++t) total += lane(lanes, t);
  return total;
}

// lane_sum of B row pairs (x[q], c[q]) at once, the same bits: lane q of the result is
// pair q's sum. B is 8 for float lanes, 4 for double lanes (one vector of totals).
template <class V, class T, class Op, int B>
FEDRAS_INLINE auto lane_sums(const T* const (&x)[B], const T* const (&c)[B], int64_t d, Op op) {
  static_assert(B * sizeof(lane(V{}, 0)) == 32, "one vector of totals");
  V lanes[B];
  for (int q = 0; q < B; ++q) lanes[q] = V{};
  for (int64_t j = 0; j < d; j += kLanes)
    for (int q = 0; q < B; ++q) add_terms(lanes[q], x[q], c[q], j, d, op);
  return lane_totals(lanes);
}

constexpr auto kProduct = [](auto a, auto b) { return a * b; };
constexpr auto kSquaredDiff = [](auto a, auto b) {
  const auto diff = a - b;
  return diff * diff;
};

// Distance used by k-means++ sampling, in double so that the weights agree with the
// PyTorch reference to within a few ulps. Rows and centre come already widened to
// double (converting once per segment, not once per centre, is what makes this fast).
FEDRAS_INLINE double seed_distance(const double* x, const double* c, int64_t d, bool cosine) {
  if (cosine) return std::max(0.0, 1.0 - lane_sum<v8d>(x, c, d, kProduct));
  return lane_sum<v8d>(x, c, d, kSquaredDiff);
}

// Distance of a row to its assigned centroid, as counted in the inertia.
FEDRAS_INLINE double assigned_distance(const float* x, const float* c, int64_t d, bool cosine) {
  if (cosine) return 1.0 - lane_sum<v8d>(x, c, d, kProduct);
  return lane_sum<v8f>(x, c, d, kSquaredDiff);
}

// assigned_distance of n consecutive rows to the centroids `label` names, into dist:
// eight rows (four for cosine's double lanes) share one transpose of their lane sums.
FEDRAS_INLINE void assigned_distances(const float* xs, int n, int64_t d, const float* C, const int32_t* label,
                                      bool cosine, double* dist) {
  int i = 0;
  if (cosine) {
    for (; i + 4 <= n; i += 4) {
      const float *x[4], *c[4];
      for (int q = 0; q < 4; ++q) x[q] = xs + (i + q) * d, c[q] = C + label[i + q] * d;
      const v4d dots = lane_sums<v8d>(x, c, d, kProduct);
      for (int q = 0; q < 4; ++q) dist[i + q] = 1.0 - dots[q];
    }
  } else {
    for (; i + 8 <= n; i += 8) {
      const float *x[8], *c[8];
      for (int q = 0; q < 8; ++q) x[q] = xs + (i + q) * d, c[q] = C + label[i + q] * d;
      const v8f sq = lane_sums<v8f>(x, c, d, kSquaredDiff);
      for (int q = 0; q < 8; ++q) dist[i + q] = sq[q];
    }
  }
  for (; i < n; ++i) dist[i] = assigned_distance(xs + i * d, C + label[i] * d, d, cosine);
}

// Best centroid for R rows: argmin over c of cn[c] - 2 x.c, with
// cn = ||c||^2 (l2) or 0 (cosine, i.e. argmax x.c). Ties go to the lowest index. With
// `scores` (row stride kpad), also stores every score (NaN as +inf), for the bounds.
template <int R>
FEDRAS_INLINE void best_centroids(const float* const (&x)[R], const float* ct, const float* cn, int64_t d, int kpad, int* best,
                                  float* scores) {
  float best_score[R];
  for (int r = 0; r < R; ++r) {
    best[r] = 0;
    best_score[r] = std::numeric_limits<float>::infinity();
  }
  for (int c0 = 0; c0 < kpad; c0 += kTile) {
    v8f acc[R][2];
    tile_dots<R>(x, ct, d, kpad, c0, acc);
    const v8f cn_lo = load8(cn + c0), cn_hi = load8(cn + c0 + 8);
    for (int r = 0; r < R; ++r) {
      const v8f lo = no_nan8(cn_lo - 2.0f * acc[r][0]), hi = no_nan8(cn_hi - 2.0f * acc[r][1]);
      if (scores != nullptr) {
        std::memcpy(scores + r * kpad + c0, &lo, sizeof(lo));
        std::memcpy(scores + r * kpad + c0 + 8, &hi, sizeof(hi));
      }
      // Minimum of the tile, then its first index: the same choice as a sequential scan
      // with `<` (lowest index on ties), in a handful of vector operations.
      const float tile_min = hmin8(min8(lo, hi));
      if (!(tile_min < best_score[r])) continue;
      best_score[r] = tile_min;
      int t = 0;
      while (t < 8 && lo[t] != tile_min) ++t;
      if (t == 8)
        while (t < 16 && hi[t - 8] != tile_min) ++t;
      best[r] = c0 + (t < 16 ? t : 0);
    }
  }
}

struct BlockResult {
  double inertia = 0.0;
  bool changed = false;
  int64_t scored = 0;  // rows scored against every centroid (the rest were pruned)
};

// One block of rows of a Lloyd pass: assign, and accumulate the cluster sums/counts
// the next update needs. Rows whose label provably stays (see kmeans_bounds.h) skip the
// scoring; everything else is done in row order, so the bits do not depend on pruning.
// Compiled for AVX2+FMA and for the baseline ISA.
template <int D>
FEDRAS_INLINE BlockResult assign_rows(const float* xs, int64_t r0, int64_t r1, int64_t d_any, const float* ct,
                                      const float* cn, int kpad, const float* C, bool cosine, const Pruning& pr,
                                      int32_t* labels, bool track_changes, double* sums, int64_t* counts) {
  constexpr int R = 4;
  const int64_t d = D > 0 ? D : d_any;
  const int n = static_cast<int>(r1 - r0);
  const bool steady = pr.xnorm != nullptr && pr.drift != nullptr;  // bounds from an earlier pass
  int32_t label[kBlockRows];
  double dist[kBlockRows];  // ||x - c_label||^2, as the inertia counts it
  int32_t todo[kBlockRows];
  int n_todo = 0;
  if (steady) {
    for (int i = 0; i < n; ++i) label[i] = labels[r0 + i];
    assigned_distances(xs + r0 * d, n, d, C, label, cosine, dist);
    switch (pr.stride) {
      case 8: n_todo = pr.unsure_rows<8>(r0, n, label, dist, todo); break;
      case 16: n_todo = pr.unsure_rows<16>(r0, n, label, dist, todo); break;
      default: n_todo = pr.unsure_rows<0>(r0, n, label, dist, todo);
    }
  } else {
    for (int i = 0; i < n; ++i) todo[n_todo++] = i;
  }
  std::vector<float> scores(pr.xnorm != nullptr ? static_cast<size_t>(R * kpad) : 0);
  float* sc = scores.empty() ? nullptr : scores.data();
  int best[R];
  for (int t = 0; t < n_todo;) {
    // Four rows at a time share the centroid loads; the last few go one at a time.
    const int rows = t + R <= n_todo ? R : 1;
    if (rows == R) {
      const float* x[R];
      for (int q = 0; q < R; ++q) x[q] = xs + (r0 + todo[t + q]) * d;
      best_centroids<R>(x, ct, cn, d, kpad, best, sc);
    } else {
      const float* x[1] = {xs + (r0 + todo[t]) * d};
      best_centroids<1>(x, ct, cn, d, kpad, best, sc);
    }
    for (int q = 0; q < rows; ++q) {
      const int i = todo[t + q];
      if (sc != nullptr) pr.reset(r0 + i, sc + q * kpad);
      if (!steady || best[q] != label[i]) dist[i] = assigned_distance(xs + (r0 + i) * d, C + best[q] * d, d, cosine);
      label[i] = best[q];
    }
    t += rows;
  }
  BlockResult res;
  res.scored = n_todo;
  for (int i = 0; i < n; ++i) {
    const int64_t r = r0 + i;
    const float* x = xs + r * d;
    const int b = label[i];
    res.inertia += dist[i];
    if (track_changes && labels[r] != b) res.changed = true;
    labels[r] = b;
    counts[b] += 1;
    double* srow = sums + b * d;
    for (int64_t j = 0; j < d; ++j) srow[j] += x[j];
  }
  return res;
}

// The common widths get their own unrolled copy (same operations, same order).
FEDRAS_MULTIVERSION
BlockResult assign_block(const float* xs, int64_t r0, int64_t r1, int64_t d, const float* ct, const float* cn,
                         int kpad, const float* C, bool cosine, const Pruning& pr, int32_t* labels,
                         bool track_changes, double* sums, int64_t* counts) {
  switch (d) {
    case 16: return assign_rows<16>(xs, r0, r1, d, ct, cn, kpad, C, cosine, pr, labels, track_changes, sums, counts);
    case 32: return assign_rows<32>(xs, r0, r1, d, ct, cn, kpad, C, cosine, pr, labels, track_changes, sums, counts);
    case 64: return assign_rows<64>(xs, r0, r1, d, ct, cn, kpad, C, cosine, pr, labels, track_changes, sums, counts);
    default: return assign_rows<0>(xs, r0, r1, d, ct, cn, kpad, C, cosine, pr, labels, track_changes, sums, counts);
  }
}

// ||x|| of rows r0..r1 into xnorm (four rows per lane transpose); false if one is
// non-finite or huge. Any summation order will do: the bounds' margins dwarf it.
FEDRAS_MULTIVERSION
bool row_norms(const float* xs, int64_t r0, int64_t r1, int64_t d, double* xnorm) {
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) {
    const float* x[4] = {xs + r * d, xs + (r + 1) * d, xs + (r + 2) * d, xs + (r + 3) * d};
    const v4d sq = lane_sums<v8d>(x, x, d, kProduct);
    for (int q = 0; q < 4; ++q) xnorm[r + q] = std::sqrt(sq[q]);
  }
  for (; r < r1; ++r) xnorm[r] = std::sqrt(lane_sum<v8d>(xs + r * d, xs + r * d, d, kProduct));
  bool ok = true;
  for (r = r0; r < r1; ++r) ok &= xnorm[r] < kMaxNorm;
  return ok;
}

// k-means++ weights of one block after adding centroid t (c): mind = min(mind, dist(x, c)).
// With `skip_limit` (seed_skip_limit of ||c - chosen centre j||^2 for j < t, l2 only),
// rows the new centre provably cannot improve keep their weight unscored, and `nearest`
// tracks each row's nearest chosen centre. Stores the block's running weight, summed in row order, in
// `running` (the pick searches it) and returns its total; counts the rows skipped.
FEDRAS_MULTIVERSION
double seed_block(const double* xs, int64_t r0, int64_t r1, int64_t d, const double* c, int32_t t, bool cosine,
                  const double* skip_limit, int32_t* nearest, double* mind, double* running, int64_t* skipped) {
  // The rows to score first (no branch per row), then their distances four at a time.
  int32_t todo[kBlockRows];
  int n_todo = 0;
  for (int64_t r = r0; r < r1; ++r) {
    todo[n_todo] = static_cast<int32_t>(r);
    n_todo += !(t > 0 && skip_limit != nullptr && mind[r] <= skip_limit[nearest[r]]);
  }
  const auto improve = [&](int64_t r, double dist) {
    if (t == 0 || dist < mind[r]) {  // std::min(mind, dist), plus who is nearest
      mind[r] = dist;
      nearest[r] = t;
    }
  };
  int p = 0;
  for (; p + 4 <= n_todo; p += 4) {
    const double *x[4], *cs[4] = {c, c, c, c};
    for (int q = 0; q < 4; ++q) x[q] = xs + todo[p + q] * d;
    if (cosine) {  // as seed_distance
      const v4d dots = lane_sums<v8d>(x, cs, d, kProduct);
      for (int q = 0; q < 4; ++q) improve(todo[p + q], std::max(0.0, 1.0 - dots[q]));
    } else {
      const v4d dist = lane_sums<v8d>(x, cs, d, kSquaredDiff);
      for (int q = 0; q < 4; ++q) improve(todo[p + q], dist[q]);
    }
  }
  for (; p < n_todo; ++p) improve(todo[p], seed_distance(xs + todo[p] * d, c, d, cosine));
  double acc = 0.0;
  for (int64_t r = r0; r < r1; ++r) running[r] = acc += mind[r];
  *skipped = (r1 - r0) - n_todo;
  return acc;
}

// What the pruning spared, for FEDRAS_KMEANS_STATS.
struct PruneStats {
  int64_t row_passes = 0;   // rows times Lloyd passes
  int64_t rows_scored = 0;  // of which scored against every centroid
  int64_t seed_rows = 0;    // rows times k-means++ centres after the first
  int64_t seed_skips = 0;   // of which skipped by the gap test

  PruneStats& operator+=(const PruneStats& o) {
    row_passes += o.row_passes;
    rows_scored += o.rows_scored;
    seed_rows += o.seed_rows;
    seed_skips += o.seed_skips;
    return *this;
  }
};

// Per-thread scratch, reused across the segments one thread solves.
class SegmentSolver {
 public:
  explicit SegmentSolver(bool allow_pruning) : allow_pruning_(allow_pruning) {}
  void run(const KMeansArgs& a, int64_t s, bool parallel, int threads);

  PruneStats stats;

 private:
  bool init_pruning(const float* xs, int64_t n, int64_t d, bool parallel, int threads);
  void prepare_centroids(const float* C, int64_t k, int64_t d);
  void pass(const float* xs, int64_t n, int64_t k, int64_t d, const float* C, const Pruning& pr, int32_t* labels,
            bool track_changes, bool parallel, int threads, double* inertia, bool* changed);
  bool update(float* C, int64_t k, int64_t d);
  Pruning measure_moves(const float* C, int64_t k, int64_t d, bool first);
  void init_kmeanspp(const KMeansArgs& a, uint64_t stream, const float* xs, int64_t n, int64_t k,
                     int64_t d, float* C, bool parallel, int threads);

  const bool allow_pruning_;
  bool prune_ = false;            // this segment is pruned (l2, finite, not huge)

  int64_t n_blocks_ = 0;
  int kpad_ = 0;
  bool cosine_ = false;
  std::vector<float> xs_;         // normalised rows (cosine only)
  std::vector<float> ct_;         // centroids transposed, [d, kpad]
  std::vector<float> cn_;         // [kpad], +inf on padding
  std::vector<double> sums_;      // [n_blocks, k, d]
  std::vector<int64_t> counts_;   // [n_blocks, k]
  std::vector<BlockResult> blocks_;  // [n_blocks] the last pass's
  int64_t last_scored_ = 0;          // rows the last pass scored in full
  bool seed_gaps_paid_ = true;       // the seeding's first gap test skipped at least 2% of the rows
  std::vector<double> mind_;      // [n] k-means++ weights
  std::vector<double> running_;   // [n] their running sums, restarting at each block
  std::vector<double> xd_;        // [n, d] the rows in double (k-means++)
  std::vector<int64_t> perm_;     // [n] random init
  std::vector<double> xnorm_;     // [n] ||x|| (pruning)
  std::vector<float> lower_;      // [n, bound_stride(k)] Lloyd lower bounds (pruning)
  std::vector<float> cprev_;      // [k, d] the centroids before the last update (pruning)
  std::vector<float> drift_;      // [bound_stride(k)] how far each moved in it (pruning)
  std::vector<int32_t> nearest_;  // [n] nearest chosen centre while seeding (pruning)
  std::vector<int64_t> picks_;    // [k] the rows chosen as centres while seeding
  std::vector<double> skip_limit_;  // [k] seed_skip_limit of each chosen centre's gap to the new one
};

// Row norms for the bounds; false (no pruning) if a row is non-finite or huge.
bool SegmentSolver::init_pruning(const float* xs, int64_t n, int64_t d, bool parallel, int threads) {
  xnorm_.resize(static_cast<size_t>(n));
  std::vector<char> ok(static_cast<size_t>(n_blocks_), 1);
  for_blocks(n_blocks_, parallel, threads, [&](int64_t b) {
    ok[b] = row_norms(xs, b * kBlockRows, std::min(n, (b + 1) * kBlockRows), d, xnorm_.data());
  });
  return std::all_of(ok.begin(), ok.end(), [](char v) { return v != 0; });
}

// The pruning state of the next pass: how far each centroid moved since the last one
// (first: no bounds yet, score every row) and a bound on the centroid norms.
Pruning SegmentSolver::measure_moves(const float* C, int64_t k, int64_t d, bool first) {
  Pruning pr;
  if (!prune_) return pr;
  pr.xnorm = xnorm_.data();
  pr.lower = lower_.data();
  pr.eta = score_eta(d);
  pr.stride = bound_stride(k);
  drift_.assign(static_cast<size_t>(pr.stride), 0.0f);
  double cmax = 0.0;
  for (int64_t c = 0; c < k; ++c) {
    double norm2 = 0.0, move2 = 0.0;
    for (int64_t j = 0; j < d; ++j) {
      const double v = C[c * d + j], step = first ? 0.0 : v - double(cprev_[c * d + j]);
      norm2 += v * v;
      move2 += step * step;
    }
    cmax = std::max(cmax, std::sqrt(norm2));
    // 1e-9: this double arithmetic's rounding; 2^-20: the float's (rounded up).
    drift_[c] = static_cast<float>((std::sqrt(move2) * (1.0 + 1e-9) + kTiny) * (1.0 + 0x1p-20));
  }
  pr.cmax = cmax * (1.0 + 1e-9);
  // Huge or non-finite centroids: score every row (their bounds become 0, i.e. useless).
  if (!first && pr.cmax < kMaxNorm) pr.drift = drift_.data();
  return pr;
}

void SegmentSolver::prepare_centroids(const float* C, int64_t k, int64_t d) {
  kpad_ = padded_columns(k);
  ct_.assign(static_cast<size_t>(d * kpad_), 0.0f);
  cn_.assign(static_cast<size_t>(kpad_), std::numeric_limits<float>::infinity());
  for (int64_t c = 0; c < k; ++c) {
    float norm = 0.0f;
    for (int64_t j = 0; j < d; ++j) {
      const float v = C[c * d + j];
      ct_[j * kpad_ + c] = v;
      norm += v * v;
    }
    cn_[c] = cosine_ ? 0.0f : norm;
  }
}

// Assign every row to its best centroid and accumulate, per block, the sums and
// counts the next update needs plus the exact inertia of this assignment.
void SegmentSolver::pass(const float* xs, int64_t n, int64_t k, int64_t d, const float* C, const Pruning& pr,
                         int32_t* labels, bool track_changes, bool parallel, int threads,
                         double* inertia, bool* changed) {
  prepare_centroids(C, k, d);
  sums_.assign(static_cast<size_t>(n_blocks_ * k * d), 0.0);
  counts_.assign(static_cast<size_t>(n_blocks_ * k), 0);
  blocks_.assign(static_cast<size_t>(n_blocks_), BlockResult{});
  last_scored_ = 0;
  const float* ct = ct_.data();
  const float* cn = cn_.data();
  const int kpad = kpad_;
  const bool cosine = cosine_;
  for_blocks(n_blocks_, parallel, threads, [&](int64_t b) {
    blocks_[b] =
        assign_block(xs, b * kBlockRows, std::min(n, (b + 1) * kBlockRows), d, ct, cn, kpad, C, cosine, pr,
                     labels, track_changes, sums_.data() + b * k * d, counts_.data() + b * k);
  });
  double total = 0.0;
  bool any_changed = !track_changes;
  for (int64_t b = 0; b < n_blocks_; ++b) {
    total += blocks_[b].inertia;
    any_changed = any_changed || blocks_[b].changed;
    last_scored_ += blocks_[b].scored;
  }
  stats.rows_scored += last_scored_;
  stats.row_passes += n;
  *inertia = total;
  *changed = any_changed;
}

// New centroids from the last pass's sums (combined in block order). Returns
// false if no centroid moved. Empty clusters (and, for cosine, zero sums) keep theirs.
bool SegmentSolver::update(float* C, int64_t k, int64_t d) {
  for (int64_t b = 1; b < n_blocks_; ++b) {
    for (int64_t i = 0; i < k * d; ++i) sums_[i] += sums_[b * k * d + i];
    for (int64_t c = 0; c < k; ++c) counts_[c] += counts_[b * k + c];
  }
  bool moved = false;
  for (int64_t c = 0; c < k; ++c) {
    const double* srow = sums_.data() + c * d;
    double denom = static_cast<double>(counts_[c]);
    if (counts_[c] == 0) continue;
    if (cosine_) {
      double norm2 = 0.0;
      for (int64_t j = 0; j < d; ++j) norm2 += srow[j] * srow[j];
      if (!(norm2 > 0.0)) continue;
      denom = std::sqrt(norm2);
    }
    for (int64_t j = 0; j < d; ++j) {
      const float v = static_cast<float>(srow[j] / denom);
      moved = moved || v != C[c * d + j];
      C[c * d + j] = v;
    }
  }
  return moved;
}

void SegmentSolver::init_kmeanspp(const KMeansArgs& a, uint64_t stream, const float* xs, int64_t n,
                                  int64_t k, int64_t d, float* C, bool parallel, int threads) {
  mind_.assign(static_cast<size_t>(n), 0.0);
  running_.resize(static_cast<size_t>(n));
  xd_.resize(static_cast<size_t>(n * d));
  std::copy(xs, xs + n * d, xd_.begin());
  nearest_.resize(static_cast<size_t>(n));
  picks_.resize(static_cast<size_t>(k));
  skip_limit_.resize(static_cast<size_t>(k));
  std::vector<double> bsum(static_cast<size_t>(n_blocks_), 0.0);
  std::vector<int64_t> bskipped(static_cast<size_t>(n_blocks_), 0);
  bool use_gaps = prune_;
  int64_t pick = uniform_index(a.seed, stream, 0, n);
  for (int64_t t = 0;; ++t) {
    std::copy(xs + pick * d, xs + (pick + 1) * d, C + t * d);
    if (t + 1 == k) break;
    picks_[t] = pick;
    const double* centre = xd_.data() + pick * d;
    if (use_gaps)
      for (int64_t j = 0; j < t; ++j)
        skip_limit_[j] = seed_skip_limit(seed_distance(xd_.data() + picks_[j] * d, centre, d, false));
    const double* skip_limit = use_gaps ? skip_limit_.data() : nullptr;
    for_blocks(n_blocks_, parallel, threads, [&](int64_t b) {
      bsum[b] = seed_block(xd_.data(), b * kBlockRows, std::min(n, (b + 1) * kBlockRows), d, centre,
                           static_cast<int32_t>(t), cosine_, skip_limit, nearest_.data(), mind_.data(), running_.data(),
                           &bskipped[b]);
    });
    // Skipping under a fifth of the rows costs more than it saves (unclustered data).
    const int64_t skips = std::accumulate(bskipped.begin(), bskipped.end(), int64_t{0});
    if (t > 0) {
      stats.seed_rows += n;
      stats.seed_skips += skips;
    }
    if (t == 1) seed_gaps_paid_ = use_gaps && 50 * skips >= n;
    if (use_gaps && t > 0 && 5 * skips < n) use_gaps = false;
    double total = 0.0;
    for (double v : bsum) total += v;
    if (total > 0.0) {
      // First row whose running weight exceeds u * total (blocks first, then rows).
      const double target = uniform01(a.seed, stream, t + 1) * total;
      double run = 0.0;
      for (int64_t b = 0; b < n_blocks_; ++b) {
        if (run + bsum[b] <= target && b + 1 < n_blocks_) {
          run += bsum[b];
          continue;
        }
        const int64_t r1 = std::min(n, (b + 1) * kBlockRows);
        pick = r1 - 1;
        for (int64_t r = b * kBlockRows; r < r1; ++r) {
          if (run + running_[r] > target) {
            pick = r;
            break;
          }
        }
        break;
      }
      // Rounding can leave `pick` on a zero-weight row; step back to a real one.
      while (pick > 0 && mind_[pick] == 0.0) --pick;
    } else {
      // Every row coincides with a chosen centre (all-zero or duplicate rows):
      // any row is as good as any other.
      pick = uniform_index(a.seed, stream, t + 1, n);
    }
  }
}

void SegmentSolver::run(const KMeansArgs& a, int64_t s, bool parallel, int threads) {
  const int64_t r0 = a.offsets[s];
  const int64_t n = a.offsets[s + 1] - r0;
  const int64_t k = a.k_offsets[s + 1] - a.k_offsets[s];
  const int64_t d = a.dim;
  a.inertia[s] = 0.0;
  a.n_iter[s] = 0;
  if (n == 0 || k == 0) return;
  cosine_ = a.cosine;
  n_blocks_ = (n + kBlockRows - 1) / kBlockRows;
  float* C = a.centroids + a.k_offsets[s] * d;
  int32_t* labels = a.assignment + r0;

  const float* xs = a.x + r0 * d;
  if (cosine_) {
    xs_.resize(static_cast<size_t>(n * d));
    for_blocks(n_blocks_, parallel, threads, [&](int64_t b) {
      const int64_t r1 = std::min(n, (b + 1) * kBlockRows);
      for (int64_t r = b * kBlockRows; r < r1; ++r) normalize_row(a.x + (r0 + r) * d, xs_.data() + r * d, d);
    });
    xs = xs_.data();
  }

  // Not for k == n (exact at once) nor when the bounds would take over kMaxBoundBytes.
  // The seeding's gap test needs no more than this; the Lloyd bounds are set up below.
  prune_ = allow_pruning_ && !cosine_ && k > 1 && k < n && score_eta(d) > 0.0 &&
           n * bound_stride(k) * static_cast<int64_t>(sizeof(float)) <= kMaxBoundBytes;

  // The random stream of a segment is its id (stable across batches) or its index.
  const uint64_t stream = a.segment_ids != nullptr ? static_cast<uint64_t>(a.segment_ids[s]) : static_cast<uint64_t>(s);
  if (k == n) {
    // Exact case: every row is its own centroid.
    std::copy(xs, xs + n * d, C);
  } else if (a.kmeanspp) {
    seed_gaps_paid_ = true;
    init_kmeanspp(a, stream, xs, n, k, d, C, parallel, threads);
    // A first gap test that skips almost nothing says the rows are unclustered: Lloyd's
    // bounds would not pay either (they cost most in the first passes, before they can
    // switch themselves off).
    if (!seed_gaps_paid_) prune_ = false;
  } else {
    perm_.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) perm_[i] = i;
    for (int64_t t = 0; t < k; ++t) {
      std::swap(perm_[t], perm_[t + uniform_index(a.seed, stream, t, n - t)]);
      std::copy(xs + perm_[t] * d, xs + (perm_[t] + 1) * d, C + t * d);
    }
  }
  if (prune_ && init_pruning(xs, n, d, parallel, threads)) {
    lower_.resize(static_cast<size_t>(n * bound_stride(k)));
  } else {
    prune_ = false;
  }

  double inertia = 0.0;
  bool changed = true;
  pass(xs, n, k, d, C, measure_moves(C, k, d, true), labels, false, parallel, threads, &inertia, &changed);
  int iter = 0;
  for (int it = 1; it <= a.iters; ++it) {
    const double previous = inertia;
    if (prune_) cprev_.assign(C, C + k * d);
    if (!update(C, k, d)) break;  // nothing moved: already a fixed point
    pass(xs, n, k, d, C, measure_moves(C, k, d, false), labels, true, parallel, threads, &inertia, &changed);
    // Bounds that spare under 30% of the scoring cost more than they save: drop them.
    if (prune_ && 10 * last_scored_ > 7 * n) prune_ = false;
    iter = it;
    if (!changed) break;
    if (a.tol > 0.0 && previous - inertia <= a.tol * previous) break;
  }
  a.inertia[s] = inertia;
  a.n_iter[s] = iter;
}

}  // namespace

// An on/off environment switch, read on every call: "", "0", "false", "off" and "no"
// (any case) are off, anything else is on, and unset is `otherwise`.
static bool env_switch(const char* name, bool otherwise) {
  const char* v = std::getenv(name);
  if (v == nullptr) return otherwise;
  for (const char* off : {"", "0", "false", "off", "no"})
    if (strcasecmp(v, off) == 0) return false;
  return true;
}

void segmented_kmeans_cpu(const KMeansArgs& a) {
  const int threads = resolve_threads(a.num_threads);
  // FEDRAS_KMEANS_PRUNE=0 turns the exact pruning off (the tests check that it changes no
  // bit); FEDRAS_KMEANS_STATS=1 prints how many rows each call scored in full.
  const bool prune = env_switch("FEDRAS_KMEANS_PRUNE", true);
  PruneStats stats;
  std::vector<int64_t> big;
  for (int64_t s = 0; s < a.n_segments; ++s)
    if (a.offsets[s + 1] - a.offsets[s] > kBigSegmentRows) big.push_back(s);

  if (big.size() < static_cast<size_t>(a.n_segments)) {
#pragma omp parallel num_threads(threads) if (threads > 1 && a.n_segments > 1)
    {
      SegmentSolver solver(prune);
#pragma omp for schedule(dynamic, 1)
      for (int64_t s = 0; s < a.n_segments; ++s)
        if (a.offsets[s + 1] - a.offsets[s] <= kBigSegmentRows) solver.run(a, s, false, 1);
#pragma omp critical(fedras_kmeans_stats)
      {
        stats += solver.stats;
      }
    }
  }
  SegmentSolver solver(prune);
  for (int64_t s : big) solver.run(a, s, true, threads);
  stats += solver.stats;
  if (env_switch("FEDRAS_KMEANS_STATS", false))
    std::fprintf(stderr,
                 "segmented_kmeans(cpu): %lld of %lld row passes scored in full, %lld of %lld seeding "
                 "distances skipped (pruning %s)\n",
                 static_cast<long long>(stats.rows_scored), static_cast<long long>(stats.row_passes),
                 static_cast<long long>(stats.seed_skips), static_cast<long long>(stats.seed_rows),
                 prune ? "on" : "off");
}

}  // namespace fedras

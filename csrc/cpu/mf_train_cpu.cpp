// CPU MF training of a round. Every touched row belongs to exactly one client, so
// clients are independent: each thread takes whole clients and runs all their epochs
// on client-local scratch, with the client's rows (tens of KB) staying in cache.
// Per epoch: one pass over the rows for the scores, one over the samples for the
// per-row gradient scalars, and one fused pass over the rows that accumulates
// grad_u (with the old w) and steps w (with the old u). Every sum runs in a fixed
// order inside one client, so results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common/parallel.h"
#include "cpu/simd.h"
#include "ops/mf_train.h"

namespace fedras {
namespace {

FEDRAS_INLINE float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
// torch.nn.functional.softplus with its defaults (beta 1, threshold 20), in double
// (the loss is summed in double): exp + log there cost a fraction of log1pf.
FEDRAS_INLINE double softplus(float x) { return x > 20.0f ? x : std::log(1.0 + std::exp(static_cast<double>(x))); }

// <a, b>: 8 lane sums over the full 8-blocks, reduced pairwise, then the tail in order
// (the same bits on every code path).
FEDRAS_INLINE float dot(const float* a, const float* b, int64_t d) {
  v8f acc{};
  int64_t j = 0;
  for (; j + 8 <= d; j += 8) acc += load8(a + j) * load8(b + j);
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; j < d; ++j) s += a[j] * b[j];
  return s;
}

// One epoch's pass over columns j0..j0+W of a client's n rows: gu = sum_m g[m] w[m]
// (old w, rows in order) and w[m] -= lr (u g[m]) (old u), the sums in registers. With
// `table`, each row then loses its starting value table[rows[m]]: the change.
template <int W>  // a multiple of 8
FEDRAS_INLINE void step_rows(float* __restrict w, const float* g, const float* u, int64_t n, int64_t d, int64_t j0,
                             float lr, const float* table, const int64_t* rows, float* gu) {
  constexpr int V = W / 8;
  v8f acc[V], uv[V];
  for (int q = 0; q < V; ++q) acc[q] = v8f{}, uv[q] = load8(u + j0 + 8 * q);
  for (int64_t m = 0; m < n; ++m) {
    const float gm = g[m];
    float* wr = w + m * d + j0;
    for (int q = 0; q < V; ++q) {
      const v8f x = load8(wr + 8 * q);
      acc[q] += gm * x;
      v8f next = x - lr * (uv[q] * gm);
      if (table != nullptr) next = next - load8(table + rows[m] * d + j0 + 8 * q);
      std::memcpy(wr + 8 * q, &next, sizeof(next));
    }
  }
  std::memcpy(gu + j0, acc, sizeof(acc));
}

struct Scratch {
  std::vector<float> score, grad, grad_u;  // [rows], [rows], [dim]
};

FEDRAS_MULTIVERSION
void train_client(const MfTrainArgs& a, int64_t c, Scratch& sc) {
  const int64_t d = a.dim, n_neg = a.n_neg, r0 = a.row_ptr[c], n = a.row_ptr[c + 1] - r0;
  const int64_t p0 = a.pos_ptr[c], p1 = a.pos_ptr[c + 1];
  const int64_t terms = (p1 - p0) * (a.bpr ? n_neg : 1 + n_neg);
  const float per_sample = 1.0f / static_cast<float>(std::max<int64_t>(terms, 1));
  const float lr = a.lr, step_u = -a.user_lr * per_sample;  // locals: stores to w cannot alias them
  float* __restrict w = a.w + r0 * d;
  float* __restrict u = a.u + c * d;
  sc.score.resize(static_cast<size_t>(n));
  sc.grad.resize(static_cast<size_t>(n));
  sc.grad_u.resize(static_cast<size_t>(d));
  float* __restrict s = sc.score.data();
  float* __restrict g = sc.grad.data();
  float* __restrict gu = sc.grad_u.data();
  const int64_t* rows = a.rows != nullptr ? a.rows + r0 : nullptr;
  if (rows != nullptr)  // start from the table's rows
    for (int64_t m = 0; m < n; ++m) std::copy(a.table + rows[m] * d, a.table + (rows[m] + 1) * d, w + m * d);
  // Client-local row of a flat row index, or -1 for a row of another client (skipped).
  auto local = [&](int64_t row) -> int64_t {
    const uint64_t k = static_cast<uint64_t>(row) - static_cast<uint64_t>(r0);  // wraps for rows below r0
    return k < static_cast<uint64_t>(n) ? static_cast<int64_t>(k) : -1;
  };
  double last = 0.0;  // the last epoch's summed loss
  for (int64_t e = 0; e < a.epochs; ++e) {
    const bool report = e + 1 == a.epochs;
    const int64_t* neg = a.neg_row + e * a.n_pos * n_neg;
    for (int64_t m = 0; m < n; ++m) s[m] = dot(u, w + m * d, d);
    std::fill(g, g + n, 0.0f);
    for (int64_t i = p0; i < p1; ++i) {
      const int64_t p = local(a.pos_row[i]);
      const int64_t* ni = neg + i * n_neg;
      if (a.bpr) {  // pairs (i, j): loss softplus(s_j - s_i)
        if (p < 0) continue;
        const float sp = s[p];
        float gp = 0.0f;
        for (int64_t j = 0; j < n_neg; ++j) {
          const int64_t q = local(ni[j]);
          if (q < 0) continue;
          const float diff = s[q] - sp, pair = sigmoid(diff);
          g[q] += pair;
          gp += pair;
          if (report) last += softplus(diff);
        }
        g[p] -= gp;
      } else {  // BCE: d loss / d s = sigmoid(s) - y
        if (p >= 0) {
          g[p] += sigmoid(s[p]) - 1.0f;
          if (report) last += softplus(-s[p]);
        }
        for (int64_t j = 0; j < n_neg; ++j) {
          const int64_t q = local(ni[j]);
          if (q < 0) continue;
          g[q] += sigmoid(s[q]);
          if (report) last += softplus(s[q]);
        }
      }
    }
    // Rows with g == 0 are not skipped, so NaN/Inf propagate as in the torch version.
    // The last epoch with table rows leaves the change, as torch.sub(trained, start) gives it.
    const bool change = report && rows != nullptr;
    const int64_t j0 = for_column_chunks(d, [&](auto width, int64_t j) {
      step_rows<decltype(width)::value>(w, g, u, n, d, j, lr, change ? a.table : nullptr, rows, gu);
    });
    for (int64_t j = j0; j < d; ++j) gu[j] = 0.0f;
    for (int64_t m = 0; m < n && j0 < d; ++m) {
      const float gm = g[m];
      float* __restrict wr = w + m * d;
      for (int64_t j = j0; j < d; ++j) {
        const float x = wr[j];
        gu[j] += gm * x;
        wr[j] = x - lr * (u[j] * gm);
        if (change) wr[j] = wr[j] - a.table[rows[m] * d + j];
      }
    }
    for (int64_t j = 0; j < d; ++j) u[j] = u[j] + step_u * gu[j];
  }
  if (rows != nullptr && a.epochs == 0)  // no epoch: no change
    for (int64_t m = 0; m < n; ++m) {
      const float* __restrict start = a.table + rows[m] * d;
      for (int64_t j = 0; j < d; ++j) w[m * d + j] = w[m * d + j] - start[j];
    }
  a.loss[c] = static_cast<float>(last) * per_sample;
}

}  // namespace

void mf_train_cpu(const MfTrainArgs& a) {
  const int threads = resolve_threads(a.num_threads);
#pragma omp parallel num_threads(threads) if (threads > 1 && a.n_clients > 1)
  {
    Scratch sc;
#pragma omp for schedule(dynamic, 4)
    for (int64_t c = 0; c < a.n_clients; ++c) train_client(a, c, sc);
  }
}

ForeignRow mf_train_first_foreign(const MfTrainArgs& a) {
  // One key space for both tensors: pos_row[i] is key i, flat neg_row[k] is n_pos + k.
  // Keys grow along each client's scan (positives, then epoch by epoch), so each
  // client stops at its first foreign row.
  const int threads = resolve_threads(a.num_threads);
  const int64_t none = std::numeric_limits<int64_t>::max(), per_epoch = a.n_pos * a.n_neg;
  int64_t first = none;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 16) reduction(min : first) \
    if (threads > 1 && a.n_clients > 64)
  for (int64_t c = 0; c < a.n_clients; ++c) {
    const int64_t lo = a.row_ptr[c], hi = a.row_ptr[c + 1], p0 = a.pos_ptr[c], p1 = a.pos_ptr[c + 1];
    auto foreign = [&](int64_t row) { return row < lo || row >= hi; };
    int64_t key = none;
    for (int64_t i = p0; i < p1 && key == none; ++i)
      if (foreign(a.pos_row[i])) key = i;
    for (int64_t e = 0; e < a.epochs && key == none; ++e)
      for (int64_t k = e * per_epoch + p0 * a.n_neg, end = e * per_epoch + p1 * a.n_neg; k < end; ++k)
        if (foreign(a.neg_row[k])) {
          key = a.n_pos + k;
          break;
        }
    first = std::min(first, key);
  }
  ForeignRow f;
  if (first == none) return f;
  if (first < a.n_pos) {
    f.pos = first;
    f.row = a.pos_row[first];
  } else {
    const int64_t k = first - a.n_pos;
    f.epoch = k / per_epoch;
    f.pos = k % per_epoch / a.n_neg;
    f.neg = k % a.n_neg;
    f.row = a.neg_row[k];
  }
  // The owner of positive i is the last client whose positives start at or before i.
  f.client = std::upper_bound(a.pos_ptr, a.pos_ptr + a.n_clients + 1, f.pos) - a.pos_ptr - 1;
  return f;
}

}  // namespace fedras

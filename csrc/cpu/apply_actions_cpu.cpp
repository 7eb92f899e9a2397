// CPU scatter of actions into the item table, FBGEMM style: a stable counting sort of
// the entries by table row, then one pass per touched row that reduces its entries
// in their original order. No atomics, so the result is deterministic for any
// thread count (the `deterministic` flag changes nothing on the CPU).
//
// The sort writes each entry's action row (and scale) straight into sorted order, so
// the reduction streams through them instead of chasing entry indices at random.
#include <algorithm>
#include <cstddef>
#include <vector>

#include "common/parallel.h"
#include "cpu/simd.h"
#include "ops/apply_actions.h"

namespace fedras {
namespace {

// acc[j] = sum over the run's entries, in order, of (scale *) action[j]: float, as the
// index_add_ reference accumulates. Each acc[j] is its own sequential sum, so the
// vector loops over j give the same bits on every ISA and on the GPU. The sums of 32
// columns at a time stay in registers, and the action rows (random reads from a table
// that outgrows the L2) are prefetched a few entries ahead.
template <int W>  // columns per pass: a multiple of 8
FEDRAS_INLINE void reduce_columns(const float* actions, const int64_t* action_of, const float* scale_of, int64_t count,
                                  int64_t d, int64_t j0, float* acc) {
  constexpr int kAhead = 8;
  constexpr int V = W / 8;
  v8f s[V];
  for (int q = 0; q < V; ++q) s[q] = v8f{};
  for (int64_t p = 0; p < count; ++p) {
    if (p + kAhead < count) {
      const char* next = reinterpret_cast<const char*>(actions + action_of[p + kAhead] * d + j0);
      for (int line = 0; line < W * 4; line += 64) __builtin_prefetch(next + line);
    }
    const float* act = actions + action_of[p] * d + j0;
    if (scale_of != nullptr) {
      const float w = scale_of[p];
      for (int q = 0; q < V; ++q) s[q] += load8(act + 8 * q) * w;
    } else {
      for (int q = 0; q < V; ++q) s[q] += load8(act + 8 * q);
    }
  }
  std::memcpy(acc + j0, s, sizeof(s));
}

FEDRAS_MULTIVERSION
void reduce_row(const float* actions, const int64_t* action_of, const float* scale_of, int64_t count, int64_t d,
                float* acc) {
  const int64_t j0 = for_column_chunks(d, [&](auto width, int64_t j) {
    reduce_columns<decltype(width)::value>(actions, action_of, scale_of, count, d, j, acc);
  });
  for (int64_t j = j0; j < d; ++j) acc[j] = 0.0f;
  if (j0 == d) return;
  for (int64_t p = 0; p < count; ++p) {
    const float* act = actions + action_of[p] * d;
    const float w = scale_of != nullptr ? scale_of[p] : 1.0f;
    for (int64_t j = j0; j < d; ++j) acc[j] += scale_of != nullptr ? act[j] * w : act[j];
  }
}

}  // namespace

void apply_actions_cpu(const ApplyActionsArgs& a) {
  const int threads = resolve_threads(a.num_threads);
  const int64_t n_rows = a.n_table_rows, d = a.dim, m = a.n_entries;
  if (m == 0) return;

  // Stable counting sort by row. Each thread counts and then places one contiguous
  // range of entries; within a row, range t's entries follow range t-1's, so the
  // order (and the result) is the same for any number of threads.
  const int sorters = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, m / std::max<int64_t>(n_rows, 4096))));
  std::vector<int64_t> counts(static_cast<size_t>(sorters) * (n_rows + 1), 0);
  std::vector<int64_t> row_ptr(static_cast<size_t>(n_rows + 1), 0);
  std::vector<int64_t> action_of(static_cast<size_t>(m));
  std::vector<float> scale_of(a.row_scale != nullptr ? static_cast<size_t>(m) : 0);
#pragma omp parallel num_threads(sorters) if (sorters > 1)
  {
#ifdef FEDRAS_WITH_OPENMP
    const int t = omp_get_thread_num();
#else
    const int t = 0;
#endif
    const int64_t e0 = m * t / sorters, e1 = m * (t + 1) / sorters;
    int64_t* cnt = counts.data() + static_cast<int64_t>(t) * (n_rows + 1);
    for (int64_t e = e0; e < e1; ++e) cnt[a.rows[e]] += 1;
#pragma omp barrier
#pragma omp single
    {
      int64_t run = 0;
      for (int64_t r = 0; r < n_rows; ++r) {
        row_ptr[r] = run;
        for (int u = 0; u < sorters; ++u) {
          int64_t* c = counts.data() + static_cast<int64_t>(u) * (n_rows + 1) + r;
          const int64_t here = *c;
          *c = run;  // becomes range u's cursor in row r
          run += here;
        }
      }
      row_ptr[n_rows] = run;
    }
    for (int64_t e = e0; e < e1; ++e) {
      const int64_t p = cnt[a.rows[e]]++;
      action_of[p] = a.action_offsets[a.segment_of_row[e]] + a.action_idx[e];
      if (a.row_scale != nullptr) scale_of[p] = a.row_scale[e];
    }
  }

  const float scale = a.scale;
#pragma omp parallel num_threads(threads) if (threads > 1 && m > 4096)
  {
    std::vector<float> acc(static_cast<size_t>(d));
#pragma omp for schedule(dynamic, 64)
    for (int64_t r = 0; r < n_rows; ++r) {
      const int64_t p0 = row_ptr[r], p1 = row_ptr[r + 1];
      if (p0 == p1) continue;
      reduce_row(a.actions, action_of.data() + p0, a.row_scale != nullptr ? scale_of.data() + p0 : nullptr, p1 - p0,
                 d, acc.data());
      const float denom = a.mean ? static_cast<float>(p1 - p0) : 1.0f;
      float* out = a.table + r * d;
      for (int64_t j = 0; j < d; ++j) out[j] += scale * (acc[j] / denom);
    }
  }
}

}  // namespace fedras

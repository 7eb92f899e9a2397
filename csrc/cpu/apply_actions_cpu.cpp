// CPU scatter of actions into the item table, FBGEMM style: a stable counting sort of
// the entries by table row, then one pass per touched row that reduces its entries
// in their original order. No atomics, so the result is deterministic for any
// thread count (the `deterministic` flag changes nothing on the CPU).
#include <algorithm>
#include <cstddef>
#include <vector>

#include "common/parallel.h"
#include "ops/apply_actions.h"

namespace fedras {

void apply_actions_cpu(const ApplyActionsArgs& a) {
  const int threads = resolve_threads(a.num_threads);
  const int64_t n_rows = a.n_table_rows, d = a.dim, m = a.n_entries;
  if (m == 0) return;

  std::vector<int64_t> row_ptr(static_cast<size_t>(n_rows + 1), 0);
  for (int64_t e = 0; e < m; ++e) row_ptr[a.rows[e] + 1] += 1;
  for (int64_t r = 0; r < n_rows; ++r) row_ptr[r + 1] += row_ptr[r];
  std::vector<int64_t> order(static_cast<size_t>(m));
  {
    std::vector<int64_t> cursor(row_ptr.begin(), row_ptr.end() - 1);
    for (int64_t e = 0; e < m; ++e) order[cursor[a.rows[e]]++] = e;
  }

  const float scale = a.scale;
#pragma omp parallel num_threads(threads) if (threads > 1 && m > 4096)
  {
    std::vector<double> acc(static_cast<size_t>(d));
#pragma omp for schedule(dynamic, 64)
    for (int64_t r = 0; r < n_rows; ++r) {
      const int64_t p0 = row_ptr[r], p1 = row_ptr[r + 1];
      if (p0 == p1) continue;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t e = order[p];
        const float* act = a.actions + (a.action_offsets[a.segment_of_row[e]] + a.action_idx[e]) * d;
        if (a.row_scale != nullptr) {
          const float w = a.row_scale[e];
          for (int64_t j = 0; j < d; ++j) acc[j] += static_cast<double>(act[j] * w);
        } else {
          for (int64_t j = 0; j < d; ++j) acc[j] += act[j];
        }
      }
      const double denom = a.mean ? static_cast<double>(p1 - p0) : 1.0;
      float* out = a.table + r * d;
      for (int64_t j = 0; j < d; ++j) out[j] += scale * static_cast<float>(acc[j] / denom);
    }
  }
}

}  // namespace fedras

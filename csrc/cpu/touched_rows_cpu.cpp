// CPU touched rows of a round: clients are independent, so each thread takes whole
// clients with a private slot table over the items (reset after each client by
// walking only the items it touched). A client's distinct items come out sorted by a
// scan of the table where the client touches a good share of the items (ML-1M: about
// a third), else by sorting the few it touched (100k clients over 1M items).
#include <algorithm>
#include <limits>
#include <vector>

#include "common/parallel.h"
#include "ops/touched_rows.h"

namespace fedras {
namespace {

// Calls f(item, flat position in its array, is_negative) for every sample of client c.
template <class F>
void for_each_sample(const TouchedArgs& a, int64_t c, F&& f) {
  const int64_t p0 = a.pos_ptr[c], p1 = a.pos_ptr[c + 1];
  for (int64_t i = p0; i < p1; ++i) f(a.pos_items[i], i, false);
  for (int64_t e = 0; e < a.epochs; ++e)
    for (int64_t k = (e * a.n_pos + p0) * a.n_neg, end = (e * a.n_pos + p1) * a.n_neg; k < end; ++k)
      f(a.neg_items[k], k, true);
}

// Client c's distinct items into `items` (unsorted); `slot` is all -1 before and after.
void distinct_items(const TouchedArgs& a, int64_t c, std::vector<int32_t>& slot, std::vector<int64_t>& items) {
  items.clear();
  for_each_sample(a, c, [&](int64_t item, int64_t, bool) {
    if (slot[static_cast<size_t>(item)] < 0) {
      slot[static_cast<size_t>(item)] = 0;
      items.push_back(item);
    }
  });
  for (const int64_t item : items) slot[static_cast<size_t>(item)] = -1;
}

}  // namespace

BadItem touched_first_bad_item(const TouchedArgs& a) {
  const int threads = resolve_threads(a.num_threads);
  const auto first_bad = [&](const int64_t* v, int64_t n) {
    int64_t first = n;
#pragma omp parallel for num_threads(threads) reduction(min : first) if (threads > 1 && n > (1 << 16))
    for (int64_t i = 0; i < n; ++i)
      if (static_cast<uint64_t>(v[i]) >= static_cast<uint64_t>(a.n_items)) first = std::min(first, i);
    return first == n ? int64_t(-1) : first;
  };
  BadItem bad;
  bad.position = first_bad(a.pos_items, a.n_pos);
  if (bad.position < 0) {
    bad.position = first_bad(a.neg_items, a.epochs * a.n_pos * a.n_neg);
    bad.neg = true;
  }
  return bad;
}

void touched_counts_cpu(const TouchedArgs& a, int64_t* counts) {
  const int threads = resolve_threads(a.num_threads);
#pragma omp parallel num_threads(threads) if (threads > 1 && a.n_clients > 1)
  {
    std::vector<int32_t> slot(static_cast<size_t>(a.n_items), -1);
    std::vector<int64_t> items;
#pragma omp for schedule(dynamic, 16)
    for (int64_t c = 0; c < a.n_clients; ++c) {
      distinct_items(a, c, slot, items);
      counts[c] = static_cast<int64_t>(items.size());
    }
  }
}

int64_t touched_rows_cpu(const TouchedArgs& a, const int64_t* row_ptr, int64_t* rows, int64_t* pos_row,
                         int64_t* neg_row) {
  const int threads = resolve_threads(a.num_threads);
  int64_t mismatch = a.n_clients;
#pragma omp parallel num_threads(threads) reduction(min : mismatch) if (threads > 1 && a.n_clients > 1)
  {
    std::vector<int32_t> slot(static_cast<size_t>(a.n_items), -1);
    std::vector<int64_t> items;
#pragma omp for schedule(dynamic, 16)
    for (int64_t c = 0; c < a.n_clients; ++c) {
      distinct_items(a, c, slot, items);
      if (static_cast<int64_t>(items.size()) != row_ptr[c + 1] - row_ptr[c]) {  // writes would leave its rows
        mismatch = std::min(mismatch, c);
        continue;
      }
      if (static_cast<int64_t>(items.size()) * 16 >= a.n_items) {  // scan: cheaper than sorting
        for (const int64_t item : items) slot[static_cast<size_t>(item)] = 0;
        items.clear();
        for (int64_t item = 0; item < a.n_items; ++item)
          if (slot[static_cast<size_t>(item)] == 0) items.push_back(item);
      } else {
        std::sort(items.begin(), items.end());
      }
      const int64_t r0 = row_ptr[c];
      for (size_t m = 0; m < items.size(); ++m) {
        rows[r0 + static_cast<int64_t>(m)] = items[m];
        slot[static_cast<size_t>(items[m])] = static_cast<int32_t>(m);
      }
      for_each_sample(a, c, [&](int64_t item, int64_t at, bool neg) {
        (neg ? neg_row : pos_row)[at] = r0 + slot[static_cast<size_t>(item)];
      });
      for (const int64_t item : items) slot[static_cast<size_t>(item)] = -1;
    }
  }
  return mismatch == a.n_clients ? -1 : mismatch;
}

}  // namespace fedras

// touched_rows: each client's touched item rows for a round (its positives and every
// sampled negative, distinct and sorted), and every sample's index into them: the
// plan of fedras.rounds.plan_round, one client per thread. CPU only.
#pragma once
#include <cstdint>

namespace fedras {

struct TouchedArgs {
  const int64_t* pos_ptr = nullptr;  // [n_clients + 1] CSR over the positives
  int64_t n_clients = 0;
  const int64_t* pos_items = nullptr;  // [n_pos]
  int64_t n_pos = 0;
  const int64_t* neg_items = nullptr;  // [epochs, n_pos, n_neg]
  int64_t epochs = 0;
  int64_t n_neg = 0;
  int64_t n_items = 0;               // every item lies in [0, n_items)
  int num_threads = 0;
};

// The first item outside [0, n_items): its flat position in pos_items (neg = false)
// or neg_items (neg = true); position -1 if none.
struct BadItem {
  int64_t position = -1;
  bool neg = false;
};
BadItem touched_first_bad_item(const TouchedArgs& a);

// counts[c] = the number of distinct items client c touches.
void touched_counts_cpu(const TouchedArgs& a, int64_t* counts);

// rows[row_ptr[c]:row_ptr[c+1]] = client c's distinct items, sorted; pos_row/neg_row
// (shaped like pos_items/neg_items) = each sample's index into rows. Returns the first
// client whose row_ptr range does not hold its distinct items (left unwritten), or -1.
int64_t touched_rows_cpu(const TouchedArgs& a, const int64_t* row_ptr, int64_t* rows, int64_t* pos_row,
                         int64_t* neg_row);

}  // namespace fedras

// mf_train: the MF local training of a whole round (every client, every epoch) on the
// flat CSR rows of fedras.training.train_mf_flat. CPU only.
#pragma once
#include <cstdint>

namespace fedras {

struct MfTrainArgs {
  float* w = nullptr;                  // [n_rows, dim] in/out: every client's copy of its touched rows
  int64_t n_rows = 0;
  int64_t dim = 0;
  float* u = nullptr;                  // [n_clients, dim] in/out: user embeddings
  int64_t n_clients = 0;
  const int64_t* row_ptr = nullptr;    // [n_clients + 1] CSR over the rows of w
  const int64_t* pos_ptr = nullptr;    // [n_clients + 1] CSR over the positives
  const int64_t* pos_row = nullptr;    // [n_pos] flat row of each positive
  int64_t n_pos = 0;
  const int64_t* neg_row = nullptr;    // [epochs, n_pos, n_neg] flat rows of each epoch's negatives
  int64_t epochs = 0;
  int64_t n_neg = 0;
  float lr = 0.0f;
  float user_lr = 0.0f;
  bool bpr = false;                    // BPR pairs (needs n_neg > 0), else BCE samples
  float* loss = nullptr;               // [n_clients] out: mean loss of the last epoch, before its step
  // Optional: each client first copies its rows from table[rows], and w returns the
  // change (trained minus start) instead: no gathers around the call.
  const float* table = nullptr;        // [n_items, dim]
  const int64_t* rows = nullptr;       // [n_rows] in [0, n_items)
  int num_threads = 0;
};

// Samples whose row lies outside their client's rows are skipped (callers validate
// first with mf_train_first_foreign to raise instead).
void mf_train_cpu(const MfTrainArgs& a);

// The first sample whose row is not one of its client's rows: pos_row before
// neg_row, then by flat position. epoch = -1 names pos_row[pos], else
// neg_row[epoch, pos, neg]; pos = -1 when every row is the client's own.
struct ForeignRow {
  int64_t epoch = -1, pos = -1, neg = 0, client = -1, row = 0;
};
ForeignRow mf_train_first_foreign(const MfTrainArgs& a);

}  // namespace fedras

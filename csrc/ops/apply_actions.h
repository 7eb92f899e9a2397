// apply_actions: table[rows[e]] += scale * reduce_e(row_scale[e] * actions[aoff[seg[e]] + idx[e]]),
// the server's scatter-based item update from per-client actions.
#pragma once
#include <cstdint>

namespace fedras {

struct ApplyActionsArgs {
  float* table = nullptr;                 // [n_table_rows, dim], updated in place
  int64_t n_table_rows = 0;
  int64_t dim = 0;
  const int64_t* rows = nullptr;          // [n_entries] table row of each entry
  const int32_t* action_idx = nullptr;    // [n_entries] action index, local to the entry's segment
  const int32_t* segment_of_row = nullptr;  // [n_entries] segment (client) of each entry
  int64_t n_entries = 0;
  const float* actions = nullptr;         // [n_actions, dim]
  int64_t n_actions = 0;
  const int64_t* action_offsets = nullptr;  // [n_segments + 1] over actions
  int64_t n_segments = 0;
  const float* row_scale = nullptr;       // [n_entries] or nullptr
  float scale = 1.0f;
  bool mean = true;                       // divide by the number of entries that hit the row
  bool deterministic = true;              // CPU is always deterministic
  int num_threads = 0;
  void* workspace = nullptr;              // CUDA: see apply_actions_cuda_workspace_bytes
  int64_t workspace_bytes = 0;
  void* stream = nullptr;
  int device_id = 0;                      // CUDA: the device all tensors live on
};

void apply_actions_cpu(const ApplyActionsArgs& a);

#ifdef FEDRAS_WITH_CUDA
int64_t apply_actions_cuda_workspace_bytes(int64_t n_entries, int64_t n_table_rows, bool deterministic);
void apply_actions_cuda(const ApplyActionsArgs& a);
#endif

}  // namespace fedras

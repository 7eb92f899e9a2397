// Value checks shared by every op (metadata checks live on TensorArg). Each names
// the argument and the first offending position. On CUDA they synchronise once per
// check, so ops run them only when `check` is true; the kernels themselves are
// written to stay in bounds either way.
#pragma once
#include <cstdint>

#include "common/dlpack_arg.h"

namespace fedras {

// Caller-allocated device scratch for CUDA checks (unused on the CPU).
struct CheckScratch {
  int64_t* status = nullptr;
  void* stream = nullptr;
};

// `off` is int64 [count]: off[0] == 0, non-decreasing, off[count-1] == total.
void check_offsets(const TensorArg& off, int64_t total, const char* total_what, const CheckScratch& cs);
// Every value of int32/int64 `idx` lies in [0, hi); else IndexError.
void check_index_range(const TensorArg& idx, int64_t hi, const char* hi_what, const CheckScratch& cs);
// float32 `v` holds no NaN or Inf; else ValueError.
void check_finite(const TensorArg& v, const CheckScratch& cs);
// idx[e] < size of segment seg[e] of `seg_off`; else IndexError.
void check_local_index(const TensorArg& idx, const TensorArg& seg, const TensorArg& seg_off, const CheckScratch& cs);
// Per-segment counts of centroids/directions against the segment sizes.
enum class KRule : int {
  kClamped = 0,   // k-means: k in [1, rows], or 0 for an empty segment
  kNonEmpty = 1,  // projection: at least one direction wherever there are rows
};
void check_k_per_segment(const TensorArg& off, const TensorArg& k_off, KRule rule, const CheckScratch& cs);

// The first `kStatusBytes` of every CUDA workspace hold the check status word.
constexpr int64_t kStatusBytes = 256;
CheckScratch scratch_from_workspace(const TensorArg& ws, bool present, const TensorArg& like, void* stream);

}  // namespace fedras

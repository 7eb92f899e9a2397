// CUDA scatter of actions into the item table (see apply_actions_cpu.cpp for the spec).
//
// An entry e is valid when rows[e] lies in [0, n_table_rows), segment_of_row[e] in
// [0, n_segments) and action_idx[e] in [0, size of its segment) (segment bounds clamped
// to [0, n_actions]). Invalid entries (only possible when the caller skipped the
// checks) are skipped: never read through, never written, not counted in a mean.
//
// Deterministic path (bit-identical to the CPU):
//   workspace: keys[2][m] (uint32), vals[2][m] (uint32), CUB temp storage.
//   1. one thread per entry: key = row (n_table_rows for an invalid entry, which sorts
//      last), value = entry index;
//   2. cub::DeviceRadixSort::SortPairs over bits [0, bit_width(n_table_rows)): stable,
//      so the entries of a row keep their original order, as in the CPU counting sort;
//   3. one warp per sorted position; only the warp at the start of a run of equal
//      (valid) keys works: it finds the run's end with ballots, then lanes take the
//      dimensions and add the run's terms in float in sorted (= original) order and
//      write table[r, j] += scale * float(acc / denom) with the _rn intrinsics (no
//      FMA contraction, as the CPU build). No atomics.
// Non-deterministic path:
//   workspace: counts[n_table_rows] (uint64). For mean: count valid entries per row
//   with integer atomics; then one thread per (entry, dim) does a float atomicAdd of
//   scale * (v / denom).
#include <cuda_runtime.h>

#include <cub/device/device_radix_sort.cuh>
#include <cstdint>

#include "common/errors.h"
#include "cuda/checks.h"  // cuda_device_count
#include "cuda/cuda_utils.cuh"
#include "ops/apply_actions.h"

namespace fedras {
namespace {

constexpr int kThreads = 256;
constexpr int kWarpsPerBlock = kThreads / 32;
// The deterministic path sorts 32-bit keys and values with an int item count.
constexpr int64_t kMaxSortEntries = (int64_t(1) << 31) - 1;
constexpr int64_t kMaxSortRows = (int64_t(1) << 31) - 2;  // key n_table_rows must fit too

// Resolves entry e: its table row and its action's row in `actions`; false if invalid.
__device__ __forceinline__ bool resolve_entry(const ApplyActionsArgs& a, int64_t e, int64_t* row, int64_t* arow) {
  const int64_t r = a.rows[e];
  if (r < 0 || r >= a.n_table_rows) return false;
  const int64_t s = a.segment_of_row[e];
  if (s < 0 || s >= a.n_segments) return false;
  const int64_t a0 = cuda::clamp_i64(a.action_offsets[s], 0, a.n_actions);
  const int64_t a1 = cuda::clamp_i64(a.action_offsets[s + 1], a0, a.n_actions);
  const int64_t i = a.action_idx[e];
  if (i < 0 || i >= a1 - a0) return false;
  *row = r;
  *arow = a0 + i;
  return true;
}

__global__ void __launch_bounds__(kThreads) make_keys_kernel(const ApplyActionsArgs a, uint32_t* __restrict__ keys,
                                                              uint32_t* __restrict__ vals) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < a.n_entries; e += stride) {
    int64_t row = 0, arow = 0;
    const bool ok = resolve_entry(a, e, &row, &arow);
    keys[e] = static_cast<uint32_t>(ok ? row : a.n_table_rows);
    vals[e] = static_cast<uint32_t>(e);
  }
}

__global__ void __launch_bounds__(kThreads) reduce_runs_kernel(const ApplyActionsArgs a,
                                                                const uint32_t* __restrict__ keys,
                                                                const uint32_t* __restrict__ vals) {
  const int64_t m = a.n_entries, d = a.dim, R = a.n_table_rows;
  const int lane = threadIdx.x & 31;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int64_t n_warps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  // Every branch below depends only on values all lanes of the warp share.
  for (int64_t p = warp; p < m; p += n_warps) {
    const int64_t key = keys[p];
    if (key >= R) continue;                    // invalid entries (sorted last)
    if (p > 0 && keys[p - 1] == key) continue;  // not the start of a run
    int64_t q = p + 1;                         // run = [p, q)
    for (;;) {
      const int64_t i = q + lane;
      const bool stop = i >= m || static_cast<int64_t>(keys[i]) != key;
      const unsigned hit = __ballot_sync(0xFFFFFFFFu, stop);
      if (hit != 0) {
        q += __ffs(hit) - 1;
        break;
      }
      q += 32;
    }
    const float denom = a.mean ? static_cast<float>(q - p) : 1.0f;
    float* out = a.table + key * d;
    for (int64_t j = lane; j < d; j += 32) {
      float acc = 0.0f;
      for (int64_t pp = p; pp < q; ++pp) {
        const int64_t e = vals[pp];
        int64_t row = 0, arow = 0;
        if (e >= m || !resolve_entry(a, e, &row, &arow)) continue;  // cannot happen: key was valid
        const float v = a.actions[arow * d + j];
        acc = __fadd_rn(acc, a.row_scale != nullptr ? __fmul_rn(v, a.row_scale[e]) : v);
      }
      out[j] = __fadd_rn(out[j], __fmul_rn(a.scale, __fdiv_rn(acc, denom)));
    }
  }
}

__global__ void __launch_bounds__(kThreads) count_rows_kernel(const ApplyActionsArgs a,
                                                               unsigned long long* __restrict__ counts) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < a.n_entries; e += stride) {
    int64_t row = 0, arow = 0;
    if (resolve_entry(a, e, &row, &arow)) atomicAdd(counts + row, 1ULL);
  }
}

__global__ void __launch_bounds__(kThreads) atomic_add_kernel(const ApplyActionsArgs a,
                                                               const unsigned long long* __restrict__ counts) {
  const int64_t d = a.dim;
  const int64_t total = a.n_entries * d;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += stride) {
    const int64_t e = t / d, j = t - e * d;
    int64_t row = 0, arow = 0;
    if (!resolve_entry(a, e, &row, &arow)) continue;
    float v = a.actions[arow * d + j];
    if (a.row_scale != nullptr) v = v * a.row_scale[e];
    const float denom = a.mean ? static_cast<float>(counts[row]) : 1.0f;
    atomicAdd(a.table + row * d + j, a.scale * (v / denom));
  }
}

// Bits needed for keys in [0, n_table_rows] (n_table_rows marks invalid entries).
int key_bits(int64_t n_table_rows) {
  int bits = 1;
  while (bits < 63 && (int64_t(1) << bits) <= n_table_rows) ++bits;
  return bits;
}

// CUB temp storage for sorting m pairs on the current device (launches nothing).
cudaError_t sort_temp_bytes(int64_t m, int64_t n_table_rows, int64_t* bytes_out) {
  size_t bytes = 0;
  cub::DoubleBuffer<uint32_t> keys(nullptr, nullptr), vals(nullptr, nullptr);
  const cudaError_t err = cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys, vals, static_cast<int>(m), 0,
                                                          key_bits(n_table_rows));
  if (err != cudaSuccess) {
    cudaGetLastError();  // leave no error behind for later calls
    return err;
  }
  *bytes_out = static_cast<int64_t>(bytes);
  return cudaSuccess;
}

struct DetLayout {
  uint32_t* keys[2];
  uint32_t* vals[2];
  void* temp;
};

// Returns the layout's total size; fills `out` when base != nullptr.
int64_t det_layout(void* base, int64_t m, int64_t temp_bytes, DetLayout* out) {
  cuda::WorkspaceCarver w(base);
  DetLayout l{};
  l.keys[0] = w.take<uint32_t>(m);
  l.keys[1] = w.take<uint32_t>(m);
  l.vals[0] = w.take<uint32_t>(m);
  l.vals[1] = w.take<uint32_t>(m);
  l.temp = w.take<uint8_t>(temp_bytes);
  if (out != nullptr) *out = l;
  return w.bytes();
}

bool det_sizes_supported(int64_t m, int64_t n_table_rows) { return m <= kMaxSortEntries && n_table_rows <= kMaxSortRows; }

}  // namespace

int64_t apply_actions_cuda_workspace_bytes(int64_t n_entries, int64_t n_table_rows, bool deterministic) {
  if (n_entries <= 0 || n_table_rows <= 0) return cuda::kWorkspaceStatusBytes;
  if (!deterministic) {
    cuda::WorkspaceCarver w(nullptr);
    w.take<unsigned long long>(n_table_rows);
    return w.bytes();
  }
  if (!det_sizes_supported(n_entries, n_table_rows)) return cuda::kWorkspaceStatusBytes;  // the op will refuse
  // CUB needs a device to size its temp storage; without one no CUDA op can run, and
  // a generous estimate keeps CPU callers of a CUDA build working.
  int64_t temp = -1;
  if (cuda_device_count() <= 0 || sort_temp_bytes(n_entries, n_table_rows, &temp) != cudaSuccess)
    temp = 2 * n_entries * 4 + (int64_t(1) << 20);
  return det_layout(nullptr, n_entries, temp, nullptr);
}

void apply_actions_cuda(const ApplyActionsArgs& a) {
  const int64_t m = a.n_entries, d = a.dim, R = a.n_table_rows;
  if (m <= 0 || R <= 0 || d <= 0) return;  // nothing can be written
  cuda::require_aligned(a.workspace, "the CUDA workspace");
  cuda::DeviceGuard guard(a.device_id);
  const cudaStream_t stream = cuda::as_stream(a.stream);
  const int64_t have = a.workspace != nullptr ? a.workspace_bytes : 0;

  if (!a.deterministic) {
    cuda::WorkspaceCarver w(a.workspace);
    unsigned long long* counts = w.take<unsigned long long>(R);
    if (have < w.bytes())
      value_error("apply_actions: the CUDA workspace must hold at least ", w.bytes(), " bytes, got ", have);
    if (a.mean) {
      FEDRAS_CUDA_CHECK(cudaMemsetAsync(counts, 0, static_cast<size_t>(R) * sizeof(unsigned long long), stream));
      count_rows_kernel<<<cuda::grid_for(m, kThreads), kThreads, 0, stream>>>(a, counts);
      FEDRAS_CUDA_CHECK_LAUNCH();
    }
    atomic_add_kernel<<<cuda::grid_for(m * d, kThreads), kThreads, 0, stream>>>(a, counts);
    FEDRAS_CUDA_CHECK_LAUNCH();
    return;
  }

  if (!det_sizes_supported(m, R))
    value_error("apply_actions: the deterministic CUDA path supports at most ", kMaxSortEntries, " entries and ",
                kMaxSortRows, " table rows (got ", m, " and ", R, "); use deterministic=False");
  // Re-query on the tensors' device: the size can depend on the architecture.
  int64_t temp = 0;
  FEDRAS_CUDA_CHECK(sort_temp_bytes(m, R, &temp));
  DetLayout l{};
  const int64_t need = det_layout(a.workspace, m, temp, &l);
  if (have < need)
    value_error("apply_actions: the CUDA workspace must hold at least ", need, " bytes on device ", a.device_id,
                ", got ", have);

  make_keys_kernel<<<cuda::grid_for(m, kThreads), kThreads, 0, stream>>>(a, l.keys[0], l.vals[0]);
  FEDRAS_CUDA_CHECK_LAUNCH();
  cub::DoubleBuffer<uint32_t> keys(l.keys[0], l.keys[1]), vals(l.vals[0], l.vals[1]);
  size_t temp_bytes = static_cast<size_t>(temp);
  FEDRAS_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(l.temp, temp_bytes, keys, vals, static_cast<int>(m), 0,
                                                    key_bits(R), stream));
  FEDRAS_CUDA_CHECK_LAUNCH();
  reduce_runs_kernel<<<cuda::grid_for(m, kWarpsPerBlock), kThreads, 0, stream>>>(a, keys.Current(), vals.Current());
  FEDRAS_CUDA_CHECK_LAUNCH();
}

}  // namespace fedras

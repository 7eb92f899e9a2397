// CUDA segmented k-means: the algorithm of kmeans_cpu.cpp (SegmentSolver::run), with
// the same arithmetic, so that results match the CPU bit for bit.
//
// Two launch paths, with the same arithmetic (so the same results):
// * Block path: one thread block (kThreads threads) per segment runs the whole algorithm
//   for its segment (normalisation, init, every Lloyd iteration) in one kernel launch;
//   a grid-stride loop over segments. Every loop over rows strides by blockDim, so
//   correctness does not depend on segment size. Right for many small segments.
// * Grid path (on_grid_path): a segment with more than one chunk of rows, when there
//   are too few segments to fill the GPU or the segment is huge, runs as a sequence of
//   grid-wide kernels, one step each. One block would take seconds on it (a server's
//   downlink clustering of 1M rows took 9.1 s on an H200). Cluster sums come from the
//   rows sorted by label (CUB's stable radix sort), so each (cluster, dim) sum still
//   runs in row order, chunk by chunk. Convergence lives in a device-side state
//   (GridState); its kernels return at once when the segment is done, and the host
//   reads the flag only every few iterations.
//
// Determinism and CPU equality:
// * The CPU reduces in fixed chunks of kChunkRows (= kBlockRows, 2048) rows: each chunk
//   is summed in row order, then the chunk sums in chunk order. The kernel keeps that
//   order: per-row values (k-means++ weights, distances) go to a per-row buffer, one
//   warp per chunk sums it in row order (its lanes load, a shuffle chain adds), and
//   thread 0 sums the chunks.
// * Cluster sums: the rows are stably sorted by label (block path: a counting sort in
//   the block; grid path: CUB's radix sort). Thread t owns (cluster, dim) pairs
//   p = c * d + j (consecutive threads take consecutive dims, so reads of x coalesce)
//   and sums the cluster's members in row order, chunk by chunk, combining the chunks
//   in order as the CPU does.
// * Scores/distances mirror the CPU's lane structure (8 interleaved partial sums for
//   the distances, a sequential float dot for the scores) and use the _rn intrinsics
//   so that nvcc does not contract into FMAs (the CPU builds with -ffp-contract=off).
// * No float atomics; block-wide flags use __syncthreads_or.
//
// Workspace (after the 256 status bytes, each buffer 256-aligned):
//   xn     float  [n_rows * dim]                normalised rows (cosine; sized always,
//                                               the size function does not know the metric)
//   rowbuf double [n_rows]                      k-means++ weights / row distances /
//                                               the random-init permutation (as int64) /
//                                               the rows sorted by label (as uint32)
//   bsum   double [n_rows / 2048 + n_segments + 1]  chunk sums; segment s uses
//                                               [offsets[s] / 2048 + s, + ceil(rows / 2048))
//   cn     float  [total_k]                     centroid norms
//   sums   double [total_k * dim]               cluster sums
//   counts int64  [total_k]                     cluster sizes
//   cden   double [total_k]                     squared norms of the cosine sums
//   cursor int32  [total_k]                     block path's sort cursors (when not shared)
//   starts int64  [total_k + n_segments + 1]    first sorted position of each label;
//                                               segment s uses [k_offsets[s] + s, + k + 1)
//   keys, vals  uint32 [2][n_rows] each, state GridState, CUB temp storage: the grid
//               path's sort by label
//
// Shared memory (block path, SmemPlan), rows at an odd stride (smem_stride: dim, or
// dim + 1 when dim is even) so that a warp reading the same word of 32 rows hits 32
// banks:
// * a row tile of kThreads rows (when dim <= 127 and the device has room): the rows a
//   block scores are read once, coalesced, instead of one row per thread (which made
//   the kernel L1-bound: ncu saw 84% of its sectors wasted);
// * a centroid cache of at most kSmemFloats floats (32 KiB: the centroids, then their
//   norms and the sort cursors), used by a segment when it fits; larger segments read
//   those from global memory (same arithmetic, same result).
//
// Unchecked input stays in bounds: offsets are clamped to [0, n_rows], centroid
// offsets to [0, total_k], k to min(k, rows); labels read back are clamped before they
// index the sort's cursors, sorted positions and rows are checked, and permutation
// entries are clamped before use.
#include <cub/cub.cuh>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <vector>

#include "common/errors.h"
#include "common/rng.h"
#include "cuda/cuda_utils.cuh"
#include "ops/kmeans.h"

namespace fedras {
namespace {

// 128 threads and at most 96 registers each: 5 blocks per SM (6 spills since the row
// tile and the label sort came in). A block's serial steps (the ordered chunk sums,
// the k-means++ draw, the sort's placement) are latency-bound, so several segments in
// flight per SM beat more threads per segment.
constexpr int kThreads = 128;
constexpr int kBlocksPerSm = 5;
constexpr int kGridThreads = 256;      // grid path kernels
constexpr int64_t kChunkRows = 2048;   // must equal kBlockRows in kmeans_cpu.cpp
constexpr int64_t kSmemFloats = 8192;  // centroid cache: at most 32 KiB of dynamic shared memory
constexpr int64_t kTileFloats = 16384; // row tile: kThreads rows of smem_stride(d) floats, d <= 127 (64 KiB)

// Row stride in shared memory: odd, so that the 32 threads of a warp reading word j
// of 32 different rows (or centroids) hit 32 different banks.
__host__ __device__ __forceinline__ int64_t smem_stride(int64_t d) { return d | 1; }
constexpr int64_t kFewSegments = 64;   // fewer segments than this leave most SMs idle
constexpr int64_t kHugeRows = 65536;   // a segment this large is the block path's whole tail
constexpr int kDoneCheckEvery = 4;     // grid path: iterations between host reads of `done`

// Which path a segment of n rows (n_segments in the call) takes; host and device agree.
__host__ __device__ __forceinline__ bool on_grid_path(int64_t n, int64_t n_segments) {
  return n > kChunkRows && (n_segments < kFewSegments || n > kHugeRows);
}

// Convergence state of the segment on the grid path (one at a time).
struct GridState {
  double inertia;
  long long pick;
  int done;
  int moved;
  int changed;
  int iter;
};

struct Workspace {
  float* xn;
  double* rowbuf;
  double* bsum;
  float* cn;
  double* sums;
  long long* counts;
  double* cden;
  uint32_t* keys[2];
  uint32_t* vals[2];
  int* cursor;
  long long* starts;
  GridState* state;
  void* temp;
  int64_t temp_bytes;
};

// CUB temp storage to sort n (label, row) pairs on the current device (launches nothing).
int64_t sort_temp_bytes(int64_t n) {
  size_t bytes = 0;
  cub::DoubleBuffer<uint32_t> keys(nullptr, nullptr), vals(nullptr, nullptr);
  const cudaError_t err =
      cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys, vals, static_cast<int>(std::min<int64_t>(n, INT_MAX)), 0, 32);
  if (err != cudaSuccess) {
    cudaGetLastError();  // leave no error behind; size generously instead
    return 8 * n + (int64_t(1) << 20);
  }
  return static_cast<int64_t>(bytes);
}

int64_t carve(void* base, int64_t n_rows, int64_t n_segments, int64_t total_k, int64_t dim, int64_t temp_bytes,
              Workspace* out) {
  cuda::WorkspaceCarver w(base);
  Workspace ws{};
  ws.xn = w.take<float>(n_rows * dim);
  ws.rowbuf = w.take<double>(n_rows);
  ws.bsum = w.take<double>(n_rows / kChunkRows + n_segments + 1);
  ws.cn = w.take<float>(total_k);
  ws.sums = w.take<double>(total_k * dim);
  ws.counts = w.take<long long>(total_k);
  ws.cden = w.take<double>(total_k);
  // The grid path's sort only ever holds one segment of more than a chunk of rows.
  const int64_t sort_rows = n_rows > kChunkRows ? n_rows : 0;
  for (int i = 0; i < 2; ++i) ws.keys[i] = w.take<uint32_t>(sort_rows);
  for (int i = 0; i < 2; ++i) ws.vals[i] = w.take<uint32_t>(sort_rows);
  ws.cursor = w.take<int>(total_k);
  ws.starts = w.take<long long>(total_k + n_segments + 1);
  ws.state = w.take<GridState>(1);
  ws.temp_bytes = sort_rows > 0 ? temp_bytes : 0;
  ws.temp = w.take<uint8_t>(ws.temp_bytes);
  if (out != nullptr) *out = ws;
  return w.bytes();
}

// ---------------------------------------------------------------- per-row arithmetic
// lane_sum of kmeans_cpu.cpp: lane t accumulates the terms j = t (mod 8) in order,
// then the 8 lanes are added in order to a zero.

// sum_j double(x_j) * double(c_j)
__device__ __forceinline__ double dot_lanes_d(const float* x, const float* c, int64_t d) {
  double lanes[8];
#pragma unroll
  for (int t = 0; t < 8; ++t) lanes[t] = 0.0;
  for (int64_t j = 0; j < d; j += 8) {
#pragma unroll
    for (int t = 0; t < 8; ++t)
      if (j + t < d) lanes[t] = __dadd_rn(lanes[t], __dmul_rn(double(x[j + t]), double(c[j + t])));
  }
  double total = 0.0;
#pragma unroll
  for (int t = 0; t < 8; ++t) total = __dadd_rn(total, lanes[t]);
  return total;
}

// sum_j (double(x_j) - double(c_j))^2
__device__ __forceinline__ double sqdist_lanes_d(const float* x, const float* c, int64_t d) {
  double lanes[8];
#pragma unroll
  for (int t = 0; t < 8; ++t) lanes[t] = 0.0;
  for (int64_t j = 0; j < d; j += 8) {
#pragma unroll
    for (int t = 0; t < 8; ++t)
      if (j + t < d) {
        const double diff = __dsub_rn(double(x[j + t]), double(c[j + t]));
        lanes[t] = __dadd_rn(lanes[t], __dmul_rn(diff, diff));
      }
  }
  double total = 0.0;
#pragma unroll
  for (int t = 0; t < 8; ++t) total = __dadd_rn(total, lanes[t]);
  return total;
}

// sum_j (x_j - c_j)^2 in float
__device__ __forceinline__ float sqdist_lanes_f(const float* x, const float* c, int64_t d) {
  float lanes[8];
#pragma unroll
  for (int t = 0; t < 8; ++t) lanes[t] = 0.0f;
  for (int64_t j = 0; j < d; j += 8) {
#pragma unroll
    for (int t = 0; t < 8; ++t)
      if (j + t < d) {
        const float diff = __fsub_rn(x[j + t], c[j + t]);
        lanes[t] = __fadd_rn(lanes[t], __fmul_rn(diff, diff));
      }
  }
  float total = 0.0f;
#pragma unroll
  for (int t = 0; t < 8; ++t) total = __fadd_rn(total, lanes[t]);
  return total;
}

// k-means++ weight of a row against one centre (seed_distance).
__device__ __forceinline__ double seed_distance(const float* x, const float* c, int64_t d, bool cosine) {
  if (cosine) {
    const double v = __dsub_rn(1.0, dot_lanes_d(x, c, d));
    return 0.0 < v ? v : 0.0;  // std::max(0.0, v)
  }
  return sqdist_lanes_d(x, c, d);
}

// Distance of a row to its centroid as counted in the inertia (assigned_distance).
__device__ __forceinline__ double assigned_distance(const float* x, const float* c, int64_t d, bool cosine) {
  if (cosine) return __dsub_rn(1.0, dot_lanes_d(x, c, d));
  return static_cast<double>(sqdist_lanes_f(x, c, d));
}

// argmin over c of cn[c] - 2 x.c (float dot in j order), ties to the lowest index;
// 0 when no score is below +inf (e.g. NaN input). Centroid c starts at C + c * cstride.
__device__ __forceinline__ int64_t best_centroid(const float* x, const float* C, int64_t cstride, const float* cn,
                                                 int64_t k, int64_t d) {
  int64_t best = 0;
  float best_score = INFINITY;
  for (int64_t c = 0; c < k; ++c) {
    const float* cc = C + c * cstride;
    float dot = 0.0f;
#pragma unroll 8
    for (int64_t j = 0; j < d; ++j) dot = __fadd_rn(dot, __fmul_rn(x[j], cc[j]));
    const float score = __fsub_rn(cn[c], __fmul_rn(2.0f, dot));
    if (score < best_score) {
      best_score = score;
      best = c;
    }
  }
  return best;
}

// ---------------------------------------------------------------- shared steps
// Per-element pieces of the Lloyd steps, used by both launch paths.

constexpr unsigned kFullMask = 0xffffffffu;

// Rows [r0, r1) of chunk b of a segment of n rows.
__device__ __forceinline__ int64_t chunk_end(int64_t n, int64_t b) {
  const int64_t r0 = b * kChunkRows;
  return (n - r0) < kChunkRows ? n : r0 + kChunkRows;
}

// Walks v[0], v[1], ..., v[m-1] in order with one whole warp: each lane loads every
// 32nd value (the next 32 while the current ones are added) and the values reach every
// lane by shuffle, so only the additions are serial. step(value, t) runs on every lane
// for the t-th value of a group of 32 (t is warp-uniform); it returns false to stop.
template <class Step>
__device__ __forceinline__ void warp_walk(const double* v, int64_t m, Step step) {
  const int lane = threadIdx.x & 31;
  double next = lane < m ? v[lane] : 0.0;
  for (int64_t base = 0; base < m; base += 32) {
    const double mine = next;
    if (base + 32 < m) next = base + 32 + lane < m ? v[base + 32 + lane] : 0.0;
    bool go = true;
    if (m - base >= 32) {  // a full group: no per-value bound test
#pragma unroll
      for (int t = 0; t < 32; ++t) go = step(__shfl_sync(kFullMask, mine, t), t) && go;
    } else {
      const int count = static_cast<int>(m - base);
      for (int t = 0; t < count; ++t) go = step(__shfl_sync(kFullMask, mine, t), t) && go;
    }
    if (!go) return;
  }
}

// v[0] + v[1] + ... + v[m-1], added in that order to a zero (the CPU's chunk sum), by
// one whole warp; every lane returns the same total.
__device__ __forceinline__ double warp_ordered_sum(const double* v, int64_t m) {
  double acc = 0.0;
  warp_walk(v, m, [&](double value, int) {
    acc = __dadd_rn(acc, value);
    return true;
  });
  return acc;
}

// bsum[b] = sum of rowbuf over chunk b, in row order; warp w of `warps` takes chunks
// w, w + warps, ... (all lanes of a warp call it alike).
__device__ __forceinline__ void warp_chunk_sums(const double* rowbuf, double* bsum, int64_t n, int64_t nb,
                                                int64_t w, int64_t warps) {
  for (int64_t b = w; b < nb; b += warps) {
    const double s = warp_ordered_sum(rowbuf + b * kChunkRows, chunk_end(n, b) - b * kChunkRows);
    if ((threadIdx.x & 31) == 0) bsum[b] = s;
  }
}

// Sum of xs[r * d + j] over the rows r = rows[q], q in [q0, q1) (ascending rows of a
// segment of n): each chunk's members in row order, then the chunk sums in chunk
// order, as the CPU's cluster sums. An empty chunk adds +0.0 there, which changes
// nothing (a sum that starts at +0.0 is never -0.0), so skipping it gives the same bits.
__device__ __forceinline__ double member_sum(const float* xs, int64_t n, int64_t d, int64_t j, const uint32_t* rows,
                                             int64_t q0, int64_t q1) {
  double total = 0.0, acc = 0.0;
  int64_t chunk = -1;
  // Positions outside [0, n), and rows past n, only come from overlapping (unchecked)
  // segments racing on the sort; clamped, they cannot leave the segment.
  if (q0 < 0) q0 = 0;
  if (q1 > n) q1 = n;
  if (n <= kChunkRows) {  // one chunk: a plain sum (0.0 + acc == acc: acc is never -0.0)
#pragma unroll 4
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t r = rows[q] < n ? rows[q] : n - 1;
      acc = __dadd_rn(acc, static_cast<double>(xs[r * d + j]));
    }
    return acc;
  }
  for (int64_t q = q0; q < q1; ++q) {
    int64_t r = rows[q];
    if (r >= n) r = n - 1;
    const int64_t b = r / kChunkRows;
    if (b != chunk) {
      if (chunk >= 0) total = __dadd_rn(total, acc);
      acc = 0.0;
      chunk = b;
    }
    acc = __dadd_rn(acc, static_cast<double>(xs[r * d + j]));
  }
  if (chunk >= 0) total = __dadd_rn(total, acc);
  return total;
}

// ||C[c]||^2 in float, j in order (0 for cosine: the scores are then -2 x.c).
__device__ __forceinline__ float centroid_norm(const float* C, int64_t c, int64_t d, bool cosine) {
  float norm = 0.0f;
  if (!cosine) {
    for (int64_t j = 0; j < d; ++j) {
      const float v = C[c * d + j];
      norm = __fadd_rn(norm, __fmul_rn(v, v));
    }
  }
  return norm;
}

// ||sums[c]||^2 in double, j in order (the cosine update's denominator, squared).
__device__ __forceinline__ double sum_norm2(const double* sums, int64_t c, int64_t d) {
  double norm2 = 0.0;
  for (int64_t j = 0; j < d; ++j) {
    const double v = sums[c * d + j];
    norm2 = __dadd_rn(norm2, __dmul_rn(v, v));
  }
  return norm2;
}

// The updated centroid entry p = c * d + j into *v; false for an empty cluster (or, for
// cosine, a zero sum), which keeps its centroid.
__device__ __forceinline__ bool centroid_value(int64_t p, int64_t d, bool cosine, const double* sums,
                                               const long long* counts, const double* cden, float* v) {
  const int64_t c = p / d;
  const long long count = counts[c];
  if (count == 0) return false;
  double denom = static_cast<double>(count);
  if (cosine) {
    const double norm2 = cden[c];
    if (!(norm2 > 0.0)) return false;
    denom = __dsqrt_rn(norm2);
  }
  *v = __double2float_rn(__ddiv_rn(sums[p], denom));
  return true;
}

// The next k-means++ centre after centre t from the weights `mind` [n] and their chunk
// sums `bsum` [nb]: the first row whose running weight exceeds u * total (chunks first,
// then rows). Called by all lanes of one warp (they compute alike and return the same
// row); shared by both launch paths.
__device__ __forceinline__ int64_t kmeanspp_pick(uint64_t seed, uint64_t stream, int64_t t, int64_t n, int64_t nb,
                                                 const double* bsum, const double* mind) {
  double total = 0.0;
  for (int64_t b = 0; b < nb; ++b) total = __dadd_rn(total, bsum[b]);
  int64_t p = 0;
  if (total > 0.0) {
    const double target = __dmul_rn(uniform01(seed, stream, static_cast<uint64_t>(t + 1)), total);
    const int lane = threadIdx.x & 31;
    double run = 0.0;
    for (int64_t b = 0; b < nb; ++b) {
      if (__dadd_rn(run, bsum[b]) <= target && b + 1 < nb) {
        run = __dadd_rn(run, bsum[b]);
        continue;
      }
      const int64_t r0 = b * kChunkRows, r1 = chunk_end(n, b);
      // The first row whose running weight `within` passes: every lane keeps the
      // running sum at its own row of each group of 32, then one vote finds the first.
      double within = 0.0, at_lane = 0.0;
      p = r1 - 1;
      int64_t group = r0;
      warp_walk(mind + r0, r1 - r0, [&](double value, int t) {
        within = __dadd_rn(within, value);
        if (lane == t) at_lane = within;
        if (t < 31 && group + t + 1 < r1) return true;  // the group goes on
        const unsigned hit = __ballot_sync(kFullMask, lane <= t && __dadd_rn(run, at_lane) > target);
        if (hit != 0) p = group + __ffs(hit) - 1;
        group += 32;
        return hit == 0;
      });
      break;
    }
    // Rounding can leave p on a zero-weight row; step back to a real one.
    while (p > 0 && mind[p] == 0.0) --p;
  } else {
    // Every row coincides with a chosen centre: any row is as good as any other.
    p = uniform_index(seed, stream, static_cast<uint64_t>(t + 1), n);
  }
  return p;
}

// ---------------------------------------------------------------- block-level steps
// Every function below is called by all threads of the block with the same
// arguments, and contains __syncthreads, so control flow must stay block-uniform.

struct Segment {
  uint64_t stream;  // the segment's random stream: segment_ids[s], or s without ids
  int64_t n;        // rows
  int64_t k;        // centroids
  int64_t d;
  int64_t nb;       // chunks of kChunkRows rows
  bool cosine;
  const float* xs;  // [n, d] rows (normalised for cosine)
  float* C;         // [k, d] centroids (the output)
  int32_t* labels;  // [n] (the output)
  double* rowbuf;   // [n]; between a pass and the update: uint32 rows sorted by label
  double* bsum;     // [nb]
  float* cn;        // [k] centroid norms (global or shared)
  const float* Cr;  // centroids as read by the assignment: C, or the shared copy Cs
  int64_t cstride;  // row stride of Cr: d, or smem_stride(d) in the shared copy
  float* Cs;        // shared copy, or nullptr
  float* tile;      // shared [blockDim, smem_stride(d)] rows being scored, or nullptr: read xs
  int* cursor;      // [k] (global or shared) counting-sort cursors
  long long* starts;  // [k + 1] first sorted position of each label
  double* sums;     // [k, d]
  long long* counts;  // [k]
  double* cden;     // [k]
};

// The rows a block works on at once: [i0, i0 + blockDim) of the segment. With a tile,
// they are first copied to shared memory in coalesced reads, in rows of smem_stride(d)
// floats so that thread t reading its row t hits distinct banks; without, each thread
// reads its own row of xs (one 32-sector access per word: the kernel was L1-bound). Returns the calling thread's row (i0 + threadIdx.x < n).
__device__ __forceinline__ const float* block_rows(const Segment& g, int64_t i0) {
  const int64_t d = g.d, stride = smem_stride(d);
  if (g.tile == nullptr) return g.xs + (i0 + threadIdx.x) * d;
  const int64_t rows = (g.n - i0) < blockDim.x ? g.n - i0 : blockDim.x;
  const float* src = g.xs + i0 * d;
  __syncthreads();  // every thread is done with the previous rows
  // p = r * d + j walks the rows' floats; (r, j) advance by blockDim without division.
  const int step_r = static_cast<int>(blockDim.x / d), step_j = static_cast<int>(blockDim.x % d);
  int r = static_cast<int>(threadIdx.x / d), j = static_cast<int>(threadIdx.x % d);
  const int total = static_cast<int>(rows * d);
  for (int p = threadIdx.x; p < total; p += blockDim.x) {
    g.tile[r * stride + j] = src[p];
    r += step_r;
    j += step_j;
    if (j >= d) {
      j -= d;
      ++r;
    }
  }
  __syncthreads();
  return g.tile + threadIdx.x * stride;
}

// bsum[b] = sum of rowbuf over chunk b, in row order (the block's warps share chunks).
__device__ __forceinline__ void chunk_sums(const Segment& g) {
  warp_chunk_sums(g.rowbuf, g.bsum, g.n, g.nb, threadIdx.x / 32, blockDim.x / 32);
}

__device__ __forceinline__ void init_kmeanspp(const Segment& g, uint64_t seed, long long* s_pick) {
  const int64_t n = g.n, d = g.d;
  double* mind = g.rowbuf;
  int64_t pick = uniform_index(seed, g.stream, 0, n);
  for (int64_t t = 0;; ++t) {
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) g.C[t * d + j] = g.xs[pick * d + j];
    if (t + 1 == g.k) break;
    __syncthreads();  // centre t is visible
    const float* c = g.C + t * d;
    for (int64_t i0 = 0; i0 < n; i0 += blockDim.x) {
      const float* x = block_rows(g, i0);
      const int64_t i = i0 + threadIdx.x;
      if (i < n) {
        const double dist = seed_distance(x, c, d, g.cosine);
        mind[i] = t == 0 ? dist : (dist < mind[i] ? dist : mind[i]);  // std::min(mind, dist)
      }
    }
    __syncthreads();
    chunk_sums(g);
    __syncthreads();
    if (threadIdx.x < 32) {
      const int64_t p = kmeanspp_pick(seed, g.stream, t, n, g.nb, g.bsum, mind);
      if (threadIdx.x == 0) *s_pick = p;
    }
    __syncthreads();
    pick = *s_pick;  // in [0, n)
  }
}

__device__ __forceinline__ void init_random(const Segment& g, uint64_t seed) {
  const int64_t n = g.n, d = g.d;
  long long* perm = reinterpret_cast<long long*>(g.rowbuf);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) perm[i] = i;
  __syncthreads();
  if (threadIdx.x == 0) {
    // Partial Fisher-Yates, draw t picks position t (k < n here).
    for (int64_t t = 0; t < g.k; ++t) {
      const int64_t j = t + uniform_index(seed, g.stream, static_cast<uint64_t>(t), n - t);
      const long long tmp = perm[t];
      perm[t] = perm[j];
      perm[j] = tmp;
    }
  }
  __syncthreads();
  for (int64_t p = threadIdx.x; p < g.k * d; p += blockDim.x) {
    const int64_t c = p / d, j = p - c * d;
    int64_t src = perm[c];
    if (src < 0 || src >= n) src = 0;  // only with overlapping (unchecked) segments
    g.C[p] = g.xs[src * d + j];
  }
}

// One Lloyd pass: assign every row, return the inertia; *changed: some label changed.
__device__ __forceinline__ double lloyd_pass(const Segment& g, bool track_changes, bool* changed, double* s_inertia) {
  const int64_t n = g.n, k = g.k, d = g.d;
  // Centroid norms (and the shared copy of the centroids).
  for (int64_t c = threadIdx.x; c < k; c += blockDim.x) g.cn[c] = centroid_norm(g.C, c, d, g.cosine);
  if (g.Cs != nullptr)
    for (int64_t p = threadIdx.x; p < k * d; p += blockDim.x) {
      const int64_t c = p / d, j = p - c * d;
      g.Cs[c * g.cstride + j] = g.C[p];
    }
  __syncthreads();

  int local_changed = 0;
  for (int64_t i0 = 0; i0 < n; i0 += blockDim.x) {
    const float* x = block_rows(g, i0);
    const int64_t i = i0 + threadIdx.x;
    if (i < n) {
      const int64_t b = best_centroid(x, g.Cr, g.cstride, g.cn, k, d);
      g.rowbuf[i] = assigned_distance(x, g.Cr + b * g.cstride, d, g.cosine);
      if (track_changes && g.labels[i] != b) local_changed = 1;
      g.labels[i] = static_cast<int32_t>(b);
    }
  }
  const int any_changed = __syncthreads_or(local_changed);
  chunk_sums(g);
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0.0;
    for (int64_t b = 0; b < g.nb; ++b) total = __dadd_rn(total, g.bsum[b]);
    *s_inertia = total;
  }
  __syncthreads();
  *changed = !track_changes || any_changed != 0;
  return *s_inertia;
}

// The segment's rows stably sorted by label into `order` (rowbuf, as uint32), and
// starts[c] = the first position of label c (starts[k] = n): a counting sort whose
// placement one warp does 32 rows at a time, each row after the earlier rows of its
// label (__match_any_sync groups a step's equal labels). Integer counts only, so the
// result does not depend on timing. Labels are clamped and positions checked: with
// overlapping (unchecked) segments another block may rewrite labels meanwhile.
__device__ __forceinline__ int sort_label(const Segment& g, int64_t i) {
  const int32_t l = g.labels[i];
  return l < 0 ? 0 : (l >= g.k ? static_cast<int>(g.k - 1) : l);
}

__device__ __forceinline__ void sort_by_label(const Segment& g) {
  const int64_t n = g.n, k = g.k;
  uint32_t* order = reinterpret_cast<uint32_t*>(g.rowbuf);
  for (int64_t c = threadIdx.x; c < k; c += blockDim.x) g.cursor[c] = 0;
  __syncthreads();
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) atomicAdd(&g.cursor[sort_label(g, i)], 1);
  __syncthreads();
  if (threadIdx.x == 0) {
    long long at = 0;
    for (int64_t c = 0; c < k; ++c) {
      const int count = g.cursor[c];
      g.starts[c] = at;
      g.cursor[c] = static_cast<int>(at);
      at += count;
    }
    g.starts[k] = at;
  }
  __syncthreads();
  if (threadIdx.x < 32) {
    const int lane = threadIdx.x;
    for (int64_t base = 0; base < n; base += 32) {
      const int64_t i = base + lane;
      const int label = i < n ? sort_label(g, i) : -1;  // -1: no row
      const unsigned same = __match_any_sync(kFullMask, label);
      if (label >= 0) {
        const int64_t pos = g.cursor[label] + __popc(same & ((1u << lane) - 1u));
        if (pos >= 0 && pos < n) order[pos] = static_cast<uint32_t>(i);
      }
      __syncwarp();
      if (label >= 0 && lane == __ffs(same) - 1) g.cursor[label] += __popc(same);
      __syncwarp();
    }
  }
  __syncthreads();
}

// New centroids from the current labels; returns false if no centroid value changed.
// Empty clusters (and, for cosine, zero sums) keep their centroid.
__device__ __forceinline__ bool update_centroids(const Segment& g) {
  const int64_t k = g.k, d = g.d;
  sort_by_label(g);
  const uint32_t* order = reinterpret_cast<const uint32_t*>(g.rowbuf);
  for (int64_t p = threadIdx.x; p < k * d; p += blockDim.x) {
    const int64_t c = p / d, j = p - c * d;
    g.sums[p] = member_sum(g.xs, g.n, d, j, order, g.starts[c], g.starts[c + 1]);
    if (j == 0) g.counts[c] = g.starts[c + 1] - g.starts[c];
  }
  __syncthreads();
  if (g.cosine) {
    for (int64_t c = threadIdx.x; c < k; c += blockDim.x) g.cden[c] = sum_norm2(g.sums, c, d);
    __syncthreads();
  }
  int local_moved = 0;
  for (int64_t p = threadIdx.x; p < k * d; p += blockDim.x) {
    float v;
    if (!centroid_value(p, d, g.cosine, g.sums, g.counts, g.cden, &v)) continue;
    if (v != g.C[p]) local_moved = 1;
    g.C[p] = v;
  }
  return __syncthreads_or(local_moved) != 0;
}

// Dynamic shared memory of the block path: a row tile of tile_floats floats (0: none),
// then cache_floats floats for a segment's centroids (rows of smem_stride(d)), their
// norms and the sort cursors, used when k * (smem_stride(d) + 2) fits (else in global
// memory; same arithmetic either way).
struct SmemPlan {
  int64_t tile_floats;
  int64_t cache_floats;
  int64_t device_limit;  // bytes a block may opt in to on this device (host only)
};

// The block path's shared memory for rows of d floats and segments of at most
// max_block_k centroids, within what the device lets a block opt in to (a T4 allows
// 64 KiB, an H100 227 KiB): the centroid cache first, then the tile if it still fits.
// The opt-in is always set to the device's own limit, so concurrent host threads
// never lower it under each other's launches.
SmemPlan smem_plan(int64_t d, int64_t max_block_k, int device) {
  int optin = 0;
  FEDRAS_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  const int64_t room = (static_cast<int64_t>(optin) - 64) / static_cast<int64_t>(sizeof(float));  // static smem
  SmemPlan plan{};
  plan.device_limit = std::min<int64_t>(optin, (kTileFloats + kSmemFloats) * static_cast<int64_t>(sizeof(float)));
  plan.cache_floats = std::min({max_block_k * (smem_stride(d) + 2), kSmemFloats, room});
  const int64_t tile = kThreads * smem_stride(d);
  plan.tile_floats = tile <= kTileFloats && plan.cache_floats + tile <= room ? tile : 0;
  return plan;
}

__global__ void __launch_bounds__(kThreads, kBlocksPerSm)
    kmeans_kernel(const KMeansArgs a, const Workspace w, SmemPlan plan) {
  extern __shared__ float smem[];
  __shared__ long long s_pick;
  __shared__ double s_inertia;
  const int64_t N = a.n_rows, d = a.dim, TK = a.total_k;

  for (int64_t s = blockIdx.x; s < a.n_segments; s += gridDim.x) {
    __syncthreads();  // the previous segment of this block is finished with every buffer
    const int64_t r0 = cuda::clamp_i64(a.offsets[s], 0, N);
    const int64_t r1 = cuda::clamp_i64(a.offsets[s + 1], r0, N);
    const int64_t n = r1 - r0;
    const int64_t k0 = cuda::clamp_i64(a.k_offsets[s], 0, TK);
    const int64_t k1 = cuda::clamp_i64(a.k_offsets[s + 1], k0, TK);
    int64_t k = k1 - k0;
    if (k > n) k = n;
    if (k > INT_MAX) k = INT_MAX;  // labels are int32
    if (k > 0 && on_grid_path(n, a.n_segments)) continue;  // the host runs it on the grid path
    int32_t* labels = a.assignment + r0;

    if (n == 0 || k == 0) {
      if (threadIdx.x == 0) {
        a.inertia[s] = 0.0;
        a.n_iter[s] = 0;
      }
      // Rows without centroids (only with unchecked k_offsets): label 0, not garbage.
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x) labels[i] = 0;
      continue;
    }

    Segment g;
    g.stream = a.segment_ids != nullptr ? static_cast<uint64_t>(a.segment_ids[s]) : static_cast<uint64_t>(s);
    g.n = n;
    g.k = k;
    g.d = d;
    g.nb = (n + kChunkRows - 1) / kChunkRows;
    g.cosine = a.cosine;
    g.C = a.centroids + k0 * d;
    g.labels = labels;
    g.rowbuf = w.rowbuf + r0;
    g.bsum = w.bsum + (r0 / kChunkRows + s);
    g.starts = w.starts + (k0 + s);
    g.sums = w.sums + k0 * d;
    g.counts = w.counts + k0;
    g.cden = w.cden + k0;
    g.tile = plan.tile_floats > 0 ? smem : nullptr;
    float* cache = smem + plan.tile_floats;
    const int64_t cs = smem_stride(d);
    if (k * (cs + 2) <= plan.cache_floats) {
      g.Cs = cache;
      g.cn = cache + k * cs;
      g.cursor = reinterpret_cast<int*>(cache + k * (cs + 1));
      g.Cr = g.Cs;
      g.cstride = cs;
    } else {
      g.Cs = nullptr;
      g.cn = w.cn + k0;
      g.cursor = w.cursor + k0;
      g.Cr = g.C;
      g.cstride = d;
    }

    if (a.cosine) {
      float* xn = w.xn + r0 * d;
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x) cuda::normalize_row_rn(a.x + (r0 + i) * d, xn + i * d, d);
      g.xs = xn;
      __syncthreads();
    } else {
      g.xs = a.x + r0 * d;
    }

    if (k == n) {
      // Exact case: every row is its own centroid.
      for (int64_t p = threadIdx.x; p < n * d; p += blockDim.x) g.C[p] = g.xs[p];
    } else if (a.kmeanspp) {
      init_kmeanspp(g, a.seed, &s_pick);
    } else {
      init_random(g, a.seed);
    }
    __syncthreads();

    bool changed = true;
    double inertia = lloyd_pass(g, false, &changed, &s_inertia);
    int iter = 0;
    for (int64_t it = 1; it <= a.iters; ++it) {  // int64: no overflow at iters == INT_MAX
      const double previous = inertia;
      if (!update_centroids(g)) break;  // nothing moved: already a fixed point
      inertia = lloyd_pass(g, true, &changed, &s_inertia);
      iter = static_cast<int>(it);
      if (!changed) break;
      if (a.tol > 0.0 && __dsub_rn(previous, inertia) <= __dmul_rn(a.tol, previous)) break;
    }
    if (threadIdx.x == 0) {
      a.inertia[s] = inertia;
      a.n_iter[s] = iter;
    }
  }
}

// ---------------------------------------------------------------- grid path
// One segment, every step a grid-wide kernel. Each mirrors a block-level step above
// (same arithmetic, same order); `done` makes the rest of the queued steps no-ops.

struct GridSegment {
  uint64_t stream;
  int64_t n, k, d, nb;
  bool cosine;
  const float* xs;
  float* C;
  int32_t* labels;
  double* rowbuf;
  double* bsum;
  float* cn;
  double* sums;
  long long* counts;
  double* cden;
  GridState* st;
};

__device__ __forceinline__ int64_t grid_tid() { return int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t grid_stride() { return int64_t(gridDim.x) * blockDim.x; }

__global__ void grid_reset(GridState* st) {
  st->done = 0;
  st->moved = 0;
  st->changed = 0;
  st->iter = 0;
  st->inertia = 0.0;
  st->pick = 0;
}

__global__ void grid_normalize(const float* x, float* xn, int64_t n, int64_t d) {
  for (int64_t i = grid_tid(); i < n; i += grid_stride()) cuda::normalize_row_rn(x + i * d, xn + i * d, d);
}

__global__ void grid_copy(const float* src, float* dst, int64_t count) {
  for (int64_t p = grid_tid(); p < count; p += grid_stride()) dst[p] = src[p];
}

// k-means++: the first centre's row.
__global__ void grid_first_pick(GridSegment g, uint64_t seed) { g.st->pick = uniform_index(seed, g.stream, 0, g.n); }

// Centre t = row st->pick.
__global__ void grid_copy_centre(GridSegment g, int64_t t) {
  const int64_t pick = g.st->pick;
  for (int64_t j = grid_tid(); j < g.d; j += grid_stride()) g.C[t * g.d + j] = g.xs[pick * g.d + j];
}

// mind = min(mind, dist(x, centre t)) (init_kmeanspp's row loop).
__global__ void grid_seed(GridSegment g, int64_t t) {
  const float* c = g.C + t * g.d;
  for (int64_t i = grid_tid(); i < g.n; i += grid_stride()) {
    const double dist = seed_distance(g.xs + i * g.d, c, g.d, g.cosine);
    g.rowbuf[i] = t == 0 ? dist : (dist < g.rowbuf[i] ? dist : g.rowbuf[i]);
  }
}

// bsum[b] = sum of rowbuf over chunk b, in row order (chunk_sums), a warp per chunk.
__global__ void grid_chunk_sums(GridSegment g) {
  if (g.st->done) return;
  warp_chunk_sums(g.rowbuf, g.bsum, g.n, g.nb, grid_tid() / 32, grid_stride() / 32);
}

// The next k-means++ centre from the weights (init_kmeanspp's warp-0 part); one warp.
__global__ void grid_pick(GridSegment g, uint64_t seed, int64_t t) {
  const int64_t p = kmeanspp_pick(seed, g.stream, t, g.n, g.nb, g.bsum, g.rowbuf);
  if (threadIdx.x == 0) g.st->pick = p;
}

// Random init (init_random): identity permutation, k Fisher-Yates draws, copy.
__global__ void grid_iota(GridSegment g) {
  long long* perm = reinterpret_cast<long long*>(g.rowbuf);
  for (int64_t i = grid_tid(); i < g.n; i += grid_stride()) perm[i] = i;
}

__global__ void grid_shuffle(GridSegment g, uint64_t seed) {
  long long* perm = reinterpret_cast<long long*>(g.rowbuf);
  for (int64_t t = 0; t < g.k; ++t) {
    const int64_t j = t + uniform_index(seed, g.stream, static_cast<uint64_t>(t), g.n - t);
    const long long tmp = perm[t];
    perm[t] = perm[j];
    perm[j] = tmp;
  }
}

__global__ void grid_copy_perm(GridSegment g) {
  const long long* perm = reinterpret_cast<const long long*>(g.rowbuf);
  for (int64_t p = grid_tid(); p < g.k * g.d; p += grid_stride()) {
    const int64_t c = p / g.d, j = p - c * g.d;
    g.C[p] = g.xs[perm[c] * g.d + j];
  }
}

// Centroid norms for the next pass; also the end of an update that moved nothing.
__global__ void grid_norms(GridSegment g, bool after_update) {
  if (g.st->done) return;
  if (after_update && !g.st->moved) return;  // grid_check_moved ends the segment
  for (int64_t c = grid_tid(); c < g.k; c += grid_stride()) g.cn[c] = centroid_norm(g.C, c, g.d, g.cosine);
}

__global__ void grid_check_moved(GridState* st) {
  if (!st->done && !st->moved) st->done = 1;  // already a fixed point
}

// Assign every row (lloyd_pass's row loop).
__global__ void grid_assign(GridSegment g, bool track_changes) {
  if (g.st->done) return;
  int local_changed = 0;
  for (int64_t i = grid_tid(); i < g.n; i += grid_stride()) {
    const float* x = g.xs + i * g.d;
    const int64_t b = best_centroid(x, g.C, g.d, g.cn, g.k, g.d);
    g.rowbuf[i] = assigned_distance(x, g.C + b * g.d, g.d, g.cosine);
    if (track_changes && g.labels[i] != b) local_changed = 1;
    g.labels[i] = static_cast<int32_t>(b);
  }
  if (local_changed) atomicOr(&g.st->changed, 1);  // integer flag: order-free
}

// The pass's inertia and the stopping rules of the Lloyd loop; one thread.
__global__ void grid_end_pass(GridSegment g, int64_t it, double tol) {
  GridState* st = g.st;
  if (st->done) return;
  double total = 0.0;
  for (int64_t b = 0; b < g.nb; ++b) total = __dadd_rn(total, g.bsum[b]);
  const double previous = st->inertia;
  st->inertia = total;
  if (it == 0) return;  // the first pass, before any update
  st->iter = static_cast<int>(it);
  if (!st->changed) st->done = 1;
  else if (tol > 0.0 && __dsub_rn(previous, total) <= __dmul_rn(tol, previous)) st->done = 1;
  st->moved = 0;  // flags for the next iteration
  st->changed = 0;
}

// Sort input: (label, row) pairs of the segment.
__global__ void grid_sort_input(GridSegment g, uint32_t* keys, uint32_t* vals) {
  if (g.st->done) return;
  for (int64_t i = grid_tid(); i < g.n; i += grid_stride()) {
    keys[i] = static_cast<uint32_t>(g.labels[i]);
    vals[i] = static_cast<uint32_t>(i);
  }
}

// starts[c] = first position of label c among the sorted keys (starts[k] = n).
__global__ void grid_starts(GridSegment g, const uint32_t* keys, long long* starts) {
  if (g.st->done) return;
  for (int64_t c = grid_tid(); c <= g.k; c += grid_stride()) {
    int64_t lo = 0, hi = g.n;
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (keys[mid] < static_cast<uint32_t>(c)) lo = mid + 1;
      else hi = mid;
    }
    starts[c] = lo;
  }
}

// Cluster sums, thread (c, j): the members of c in row order (a stable sort keeps it),
// as update_centroids does.
__global__ void grid_sums(GridSegment g, const uint32_t* rows, const long long* starts) {
  if (g.st->done) return;
  for (int64_t p = grid_tid(); p < g.k * g.d; p += grid_stride()) {
    const int64_t c = p / g.d, j = p - c * g.d;
    g.sums[p] = member_sum(g.xs, g.n, g.d, j, rows, starts[c], starts[c + 1]);
    if (j == 0) g.counts[c] = starts[c + 1] - starts[c];
  }
}

__global__ void grid_cden(GridSegment g) {
  if (g.st->done) return;
  for (int64_t c = grid_tid(); c < g.k; c += grid_stride()) g.cden[c] = sum_norm2(g.sums, c, g.d);
}

// New centroids (update_centroids' last loop); st->moved: some value changed.
__global__ void grid_apply_update(GridSegment g) {
  if (g.st->done) return;
  int local_moved = 0;
  for (int64_t p = grid_tid(); p < g.k * g.d; p += grid_stride()) {
    float v;
    if (!centroid_value(p, g.d, g.cosine, g.sums, g.counts, g.cden, &v)) continue;
    if (v != g.C[p]) local_moved = 1;
    g.C[p] = v;
  }
  if (local_moved) atomicOr(&g.st->moved, 1);
}

__global__ void grid_write_result(GridSegment g, double* inertia, int32_t* n_iter) {
  *inertia = g.st->inertia;
  *n_iter = g.st->iter;
}

int key_bits(int64_t k) {
  int bits = 1;
  while (bits < 32 && (int64_t(1) << bits) < k) ++bits;
  return bits;
}

unsigned grid_blocks(int64_t work) { return cuda::grid_for(work, kGridThreads, 4096); }

// The whole algorithm for segment s (rows [r0, r0 + n), centroids [k0, k0 + k)).
void run_grid_segment(const KMeansArgs& a, const Workspace& w, int64_t s, int64_t r0, int64_t n, int64_t k0,
                      int64_t k, uint64_t random_stream, cudaStream_t stream) {
  if (n > INT_MAX) value_error("segmented_kmeans: a segment of ", n, " rows is over the CUDA limit of ", INT_MAX);
  const int64_t d = a.dim;
  GridSegment g{};
  g.stream = random_stream;
  g.n = n;
  g.k = k;
  g.d = d;
  g.nb = (n + kChunkRows - 1) / kChunkRows;
  g.cosine = a.cosine;
  g.C = a.centroids + k0 * d;
  g.labels = a.assignment + r0;
  g.rowbuf = w.rowbuf + r0;
  g.bsum = w.bsum + (r0 / kChunkRows + s);
  g.cn = w.cn + k0;
  g.sums = w.sums + k0 * d;
  g.counts = w.counts + k0;
  g.cden = w.cden + k0;
  g.st = w.state;
  if (a.cosine) {
    grid_normalize<<<grid_blocks(n), kGridThreads, 0, stream>>>(a.x + r0 * d, w.xn + r0 * d, n, d);
    g.xs = w.xn + r0 * d;
  } else {
    g.xs = a.x + r0 * d;
  }
  grid_reset<<<1, 1, 0, stream>>>(g.st);

  if (k == n) {
    grid_copy<<<grid_blocks(n * d), kGridThreads, 0, stream>>>(g.xs, g.C, n * d);
  } else if (a.kmeanspp) {
    grid_first_pick<<<1, 1, 0, stream>>>(g, a.seed);
    for (int64_t t = 0;; ++t) {
      grid_copy_centre<<<1, 64, 0, stream>>>(g, t);
      if (t + 1 == k) break;
      grid_seed<<<grid_blocks(n), kGridThreads, 0, stream>>>(g, t);
      grid_chunk_sums<<<grid_blocks(g.nb * 32), kGridThreads, 0, stream>>>(g);
      grid_pick<<<1, 32, 0, stream>>>(g, a.seed, t);
    }
  } else {
    grid_iota<<<grid_blocks(n), kGridThreads, 0, stream>>>(g);
    grid_shuffle<<<1, 1, 0, stream>>>(g, a.seed);
    grid_copy_perm<<<grid_blocks(k * d), kGridThreads, 0, stream>>>(g);
  }

  const auto pass = [&](int64_t it, bool after_update) {
    grid_norms<<<grid_blocks(k), kGridThreads, 0, stream>>>(g, after_update);
    if (after_update) grid_check_moved<<<1, 1, 0, stream>>>(g.st);
    grid_assign<<<grid_blocks(n), kGridThreads, 0, stream>>>(g, it > 0);
    grid_chunk_sums<<<grid_blocks(g.nb * 32), kGridThreads, 0, stream>>>(g);
    grid_end_pass<<<1, 1, 0, stream>>>(g, it, a.tol);
  };
  pass(0, false);
  const int bits = key_bits(k);
  for (int64_t it = 1; it <= a.iters; ++it) {
    grid_sort_input<<<grid_blocks(n), kGridThreads, 0, stream>>>(g, w.keys[0], w.vals[0]);
    cub::DoubleBuffer<uint32_t> keys(w.keys[0], w.keys[1]), vals(w.vals[0], w.vals[1]);
    size_t temp_bytes = static_cast<size_t>(w.temp_bytes);
    FEDRAS_CUDA_CHECK(
        cub::DeviceRadixSort::SortPairs(w.temp, temp_bytes, keys, vals, static_cast<int>(n), 0, bits, stream));
    grid_starts<<<grid_blocks(k + 1), kGridThreads, 0, stream>>>(g, keys.Current(), w.starts);
    grid_sums<<<grid_blocks(k * d), kGridThreads, 0, stream>>>(g, vals.Current(), w.starts);
    if (a.cosine) grid_cden<<<grid_blocks(k), kGridThreads, 0, stream>>>(g);
    grid_apply_update<<<grid_blocks(k * d), kGridThreads, 0, stream>>>(g);
    pass(it, true);
    FEDRAS_CUDA_CHECK_LAUNCH();
    if (it % kDoneCheckEvery == 0 && it < a.iters) {  // stop queueing work for a finished segment
      int done = 0;
      FEDRAS_CUDA_CHECK(cudaMemcpyAsync(&done, &g.st->done, sizeof(int), cudaMemcpyDeviceToHost, stream));
      FEDRAS_CUDA_CHECK(cudaStreamSynchronize(stream));
      if (done) break;
    }
  }
  grid_write_result<<<1, 1, 0, stream>>>(g, a.inertia + s, a.n_iter + s);
  FEDRAS_CUDA_CHECK_LAUNCH();
}

}  // namespace

int64_t segmented_kmeans_cuda_workspace_bytes(int64_t n_rows, int64_t n_segments, int64_t total_k, int64_t dim) {
  return carve(nullptr, n_rows, n_segments, total_k, dim, n_rows > kChunkRows ? sort_temp_bytes(n_rows) : 0, nullptr);
}

void segmented_kmeans_cuda(const KMeansArgs& a) {
  if (a.n_segments <= 0) return;
  if (a.dim < 1) value_error("segmented_kmeans: dim must be >= 1, got ", a.dim);
  const int64_t S = a.n_segments, N = a.n_rows, TK = a.total_k, d = a.dim;
  cuda::DeviceGuard guard(a.device_id);
  const int64_t temp_bytes = N > kChunkRows ? sort_temp_bytes(N) : 0;
  const int64_t need = carve(nullptr, N, S, TK, d, temp_bytes, nullptr);
  if (a.workspace == nullptr || a.workspace_bytes < need)
    value_error("segmented_kmeans: the CUDA workspace must hold at least ", need, " bytes, got ",
                a.workspace == nullptr ? 0 : a.workspace_bytes);
  cuda::require_aligned(a.workspace, "the CUDA workspace");
  const cudaStream_t stream = cuda::as_stream(a.stream);
  Workspace w{};
  carve(a.workspace, N, S, TK, d, temp_bytes, &w);

  // The segment layout on the host picks each segment's path and sizes the block
  // path's centroid cache. Clamped exactly as the kernel clamps it.
  std::vector<int64_t> off(static_cast<size_t>(S + 1)), koff(static_cast<size_t>(S + 1));
  FEDRAS_CUDA_CHECK(cudaMemcpyAsync(off.data(), a.offsets, (S + 1) * sizeof(int64_t), cudaMemcpyDeviceToHost, stream));
  FEDRAS_CUDA_CHECK(cudaMemcpyAsync(koff.data(), a.k_offsets, (S + 1) * sizeof(int64_t), cudaMemcpyDeviceToHost, stream));
  FEDRAS_CUDA_CHECK(cudaStreamSynchronize(stream));
  struct Big {
    int64_t s, r0, n, k0, k;
  };
  std::vector<Big> big;
  int64_t max_block_k = 0;
  for (int64_t s = 0; s < S; ++s) {
    const int64_t r0 = std::clamp<int64_t>(off[s], 0, N);
    const int64_t r1 = std::clamp<int64_t>(off[s + 1], r0, N);
    const int64_t k0 = std::clamp<int64_t>(koff[s], 0, TK);
    const int64_t k1 = std::clamp<int64_t>(koff[s + 1], k0, TK);
    const int64_t n = r1 - r0;
    const int64_t k = std::min<int64_t>({k1 - k0, n, INT_MAX});
    if (k > 0 && on_grid_path(n, S)) big.push_back({s, r0, n, k0, k});
    else max_block_k = std::max(max_block_k, k);
  }
  // The grid segments' random streams, read before the block kernel is queued (a read
  // after it would wait for it).
  std::vector<int64_t> ids;
  if (!big.empty() && a.segment_ids != nullptr) {
    ids.resize(static_cast<size_t>(S));
    FEDRAS_CUDA_CHECK(cudaMemcpyAsync(ids.data(), a.segment_ids, S * sizeof(int64_t), cudaMemcpyDeviceToHost, stream));
    FEDRAS_CUDA_CHECK(cudaStreamSynchronize(stream));
  }
  if (static_cast<int64_t>(big.size()) < S) {
    const SmemPlan plan = smem_plan(d, max_block_k, a.device_id);
    const size_t smem_bytes = static_cast<size_t>(plan.tile_floats + plan.cache_floats) * sizeof(float);
    if (smem_bytes > 48 * 1024)  // above the default limit a kernel must opt in
      FEDRAS_CUDA_CHECK(cudaFuncSetAttribute(kmeans_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(plan.device_limit)));
    const unsigned grid = static_cast<unsigned>(std::min<int64_t>(S, INT_MAX));
    kmeans_kernel<<<grid, kThreads, smem_bytes, stream>>>(a, w, plan);
    FEDRAS_CUDA_CHECK_LAUNCH();
  }
  if (big.empty()) return;
  for (const Big& b : big) {
    const uint64_t random_stream = ids.empty() ? static_cast<uint64_t>(b.s) : static_cast<uint64_t>(ids[b.s]);
    run_grid_segment(a, w, b.s, b.r0, b.n, b.k0, b.k, random_stream, stream);
  }
}

}  // namespace fedras

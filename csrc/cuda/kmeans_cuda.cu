// CUDA segmented k-means: the algorithm of kmeans_cpu.cpp (SegmentSolver::run), with
// the same arithmetic, so that results match the CPU bit for bit.
//
// Launch: one thread block (kThreads threads) per segment runs the whole algorithm for
// its segment (normalisation, init, every Lloyd iteration) in one kernel launch; a
// grid-stride loop over segments. Every loop over rows strides by blockDim, so
// correctness does not depend on segment size.
//
// Determinism and CPU equality:
// * The CPU reduces in fixed chunks of kChunkRows (= kBlockRows, 2048) rows: each chunk
//   is summed in row order, then the chunk sums in chunk order. The kernel keeps that
//   order: per-row values (k-means++ weights, distances) go to a per-row buffer, one
//   thread per chunk sums it in row order, and thread 0 sums the chunks.
// * Cluster sums: thread t owns (cluster, dim) pairs p = c * d + j (consecutive threads
//   take consecutive dims, so reads of x coalesce) and sums the member rows in row
//   order, chunk by chunk, combining the chunks in order as the CPU does.
// * Scores/distances mirror the CPU's lane structure (8 interleaved partial sums for
//   the distances, a sequential float dot for the scores) and use the _rn intrinsics
//   so that nvcc does not contract into FMAs (the CPU builds with -ffp-contract=off).
// * No float atomics; block-wide flags use __syncthreads_or.
//
// Workspace (after the 256 status bytes, each buffer 256-aligned):
//   xn     float  [n_rows * dim]                normalised rows (cosine; sized always,
//                                               the size function does not know the metric)
//   rowbuf double [n_rows]                      k-means++ weights / row distances /
//                                               the random-init permutation (as int64)
//   bsum   double [n_rows / 2048 + n_segments + 1]  chunk sums; segment s uses
//                                               [offsets[s] / 2048 + s, + ceil(rows / 2048))
//   cn     float  [total_k]                     centroid norms
//   sums   double [total_k * dim]               cluster sums
//   counts int64  [total_k]                     cluster sizes
//   cden   double [total_k]                     squared norms of the cosine sums
//
// Shared memory: a centroid cache of kSmemFloats floats (32 KiB: centroids then their
// norms), used by a segment when k * (dim + 1) <= kSmemFloats; larger segments read
// the centroids from global memory (same arithmetic, same result). No size limit.
//
// Unchecked input stays in bounds: offsets are clamped to [0, n_rows], centroid
// offsets to [0, total_k], k to min(k, rows); labels read back are only compared,
// never used as an index; permutation entries are clamped before use.
#include <cuda_runtime.h>

#include <climits>
#include <cmath>
#include <cstdint>

#include "common/errors.h"
#include "common/rng.h"
#include "cuda/cuda_utils.cuh"
#include "ops/kmeans.h"

namespace fedras {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kChunkRows = 2048;   // must equal kBlockRows in kmeans_cpu.cpp
constexpr int64_t kSmemFloats = 8192;  // centroid cache: 32 KiB of dynamic shared memory

struct Workspace {
  float* xn;
  double* rowbuf;
  double* bsum;
  float* cn;
  double* sums;
  long long* counts;
  double* cden;
};

int64_t carve(void* base, int64_t n_rows, int64_t n_segments, int64_t total_k, int64_t dim, Workspace* out) {
  cuda::WorkspaceCarver w(base);
  Workspace ws{};
  ws.xn = w.take<float>(n_rows * dim);
  ws.rowbuf = w.take<double>(n_rows);
  ws.bsum = w.take<double>(n_rows / kChunkRows + n_segments + 1);
  ws.cn = w.take<float>(total_k);
  ws.sums = w.take<double>(total_k * dim);
  ws.counts = w.take<long long>(total_k);
  ws.cden = w.take<double>(total_k);
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
// 0 when no score is below +inf (e.g. NaN input).
__device__ __forceinline__ int64_t best_centroid(const float* x, const float* C, const float* cn, int64_t k,
                                                 int64_t d) {
  int64_t best = 0;
  float best_score = INFINITY;
  for (int64_t c = 0; c < k; ++c) {
    const float* cc = C + c * d;
    float dot = 0.0f;
    for (int64_t j = 0; j < d; ++j) dot = __fadd_rn(dot, __fmul_rn(x[j], cc[j]));
    const float score = __fsub_rn(cn[c], __fmul_rn(2.0f, dot));
    if (score < best_score) {
      best_score = score;
      best = c;
    }
  }
  return best;
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
  double* rowbuf;   // [n]
  double* bsum;     // [nb]
  float* cn;        // [k] centroid norms (global or shared)
  const float* Cr;  // [k, d] centroids as read by the assignment (global or shared copy)
  float* Cs;        // shared copy, or nullptr
  double* sums;     // [k, d]
  long long* counts;  // [k]
  double* cden;     // [k]
};

// bsum[b] = sum of rowbuf over chunk b, in row order.
__device__ __forceinline__ void chunk_sums(const Segment& g) {
  for (int64_t b = threadIdx.x; b < g.nb; b += blockDim.x) {
    const int64_t r0 = b * kChunkRows;
    const int64_t r1 = (g.n - r0) < kChunkRows ? g.n : r0 + kChunkRows;
    double acc = 0.0;
    for (int64_t r = r0; r < r1; ++r) acc = __dadd_rn(acc, g.rowbuf[r]);
    g.bsum[b] = acc;
  }
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
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const double dist = seed_distance(g.xs + i * d, c, d, g.cosine);
      mind[i] = t == 0 ? dist : (dist < mind[i] ? dist : mind[i]);  // std::min(mind, dist)
    }
    __syncthreads();
    chunk_sums(g);
    __syncthreads();
    if (threadIdx.x == 0) {
      double total = 0.0;
      for (int64_t b = 0; b < g.nb; ++b) total = __dadd_rn(total, g.bsum[b]);
      int64_t p = 0;
      if (total > 0.0) {
        // First row whose running weight exceeds u * total (chunks first, then rows).
        const double target = __dmul_rn(uniform01(seed, g.stream, static_cast<uint64_t>(t + 1)),
                                        total);
        double run = 0.0;
        for (int64_t b = 0; b < g.nb; ++b) {
          if (__dadd_rn(run, g.bsum[b]) <= target && b + 1 < g.nb) {
            run = __dadd_rn(run, g.bsum[b]);
            continue;
          }
          const int64_t r0 = b * kChunkRows;
          const int64_t r1 = (n - r0) < kChunkRows ? n : r0 + kChunkRows;
          double within = 0.0;
          p = r1 - 1;
          for (int64_t r = r0; r < r1; ++r) {
            within = __dadd_rn(within, mind[r]);
            if (__dadd_rn(run, within) > target) {
              p = r;
              break;
            }
          }
          break;
        }
        // Rounding can leave p on a zero-weight row; step back to a real one.
        while (p > 0 && mind[p] == 0.0) --p;
      } else {
        // Every row coincides with a chosen centre: any row is as good as any other.
        p = uniform_index(seed, g.stream, static_cast<uint64_t>(t + 1), n);
      }
      *s_pick = p;
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
  for (int64_t c = threadIdx.x; c < k; c += blockDim.x) {
    float norm = 0.0f;
    if (!g.cosine) {
      for (int64_t j = 0; j < d; ++j) {
        const float v = g.C[c * d + j];
        norm = __fadd_rn(norm, __fmul_rn(v, v));
      }
    }
    g.cn[c] = norm;
  }
  if (g.Cs != nullptr)
    for (int64_t p = threadIdx.x; p < k * d; p += blockDim.x) g.Cs[p] = g.C[p];
  __syncthreads();

  int local_changed = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float* x = g.xs + i * d;
    const int64_t b = best_centroid(x, g.Cr, g.cn, k, d);
    g.rowbuf[i] = assigned_distance(x, g.Cr + b * d, d, g.cosine);
    if (track_changes && g.labels[i] != b) local_changed = 1;
    g.labels[i] = static_cast<int32_t>(b);
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

// New centroids from the current labels; returns false if no centroid value changed.
// Empty clusters (and, for cosine, zero sums) keep their centroid.
__device__ __forceinline__ bool update_centroids(const Segment& g) {
  const int64_t n = g.n, k = g.k, d = g.d;
  for (int64_t p = threadIdx.x; p < k * d; p += blockDim.x) {
    const int64_t c = p / d, j = p - c * d;
    double total = 0.0;
    long long count = 0;
    for (int64_t b = 0; b < g.nb; ++b) {
      const int64_t r0 = b * kChunkRows;
      const int64_t r1 = (n - r0) < kChunkRows ? n : r0 + kChunkRows;
      double acc = 0.0;
      for (int64_t r = r0; r < r1; ++r) {
        if (g.labels[r] == c) {
          acc = __dadd_rn(acc, static_cast<double>(g.xs[r * d + j]));
          ++count;
        }
      }
      total = b == 0 ? acc : __dadd_rn(total, acc);
    }
    g.sums[p] = total;
    if (j == 0) g.counts[c] = count;
  }
  __syncthreads();
  if (g.cosine) {
    for (int64_t c = threadIdx.x; c < k; c += blockDim.x) {
      double norm2 = 0.0;
      for (int64_t j = 0; j < d; ++j) {
        const double v = g.sums[c * d + j];
        norm2 = __dadd_rn(norm2, __dmul_rn(v, v));
      }
      g.cden[c] = norm2;
    }
    __syncthreads();
  }
  int local_moved = 0;
  for (int64_t p = threadIdx.x; p < k * d; p += blockDim.x) {
    const int64_t c = p / d;
    const long long count = g.counts[c];
    if (count == 0) continue;
    double denom = static_cast<double>(count);
    if (g.cosine) {
      const double norm2 = g.cden[c];
      if (!(norm2 > 0.0)) continue;
      denom = __dsqrt_rn(norm2);
    }
    const float v = __double2float_rn(__ddiv_rn(g.sums[p], denom));
    if (v != g.C[p]) local_moved = 1;
    g.C[p] = v;
  }
  return __syncthreads_or(local_moved) != 0;
}

__global__ void __launch_bounds__(kThreads, 1)
    kmeans_kernel(const KMeansArgs a, const Workspace w, int64_t smem_floats) {
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
    g.sums = w.sums + k0 * d;
    g.counts = w.counts + k0;
    g.cden = w.cden + k0;
    if (k * (d + 1) <= smem_floats) {
      g.Cs = smem;
      g.cn = smem + k * d;
      g.Cr = smem;
    } else {
      g.Cs = nullptr;
      g.cn = w.cn + k0;
      g.Cr = g.C;
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

}  // namespace

int64_t segmented_kmeans_cuda_workspace_bytes(int64_t n_rows, int64_t n_segments, int64_t total_k, int64_t dim) {
  return carve(nullptr, n_rows, n_segments, total_k, dim, nullptr);
}

void segmented_kmeans_cuda(const KMeansArgs& a) {
  if (a.n_segments <= 0) return;
  if (a.dim < 1) value_error("segmented_kmeans: dim must be >= 1, got ", a.dim);
  const int64_t need = segmented_kmeans_cuda_workspace_bytes(a.n_rows, a.n_segments, a.total_k, a.dim);
  if (a.workspace == nullptr || a.workspace_bytes < need)
    value_error("segmented_kmeans: the CUDA workspace must hold at least ", need, " bytes, got ",
                a.workspace == nullptr ? 0 : a.workspace_bytes);
  cuda::require_aligned(a.workspace, "the CUDA workspace");
  cuda::DeviceGuard guard(a.device_id);
  const cudaStream_t stream = cuda::as_stream(a.stream);
  Workspace w{};
  carve(a.workspace, a.n_rows, a.n_segments, a.total_k, a.dim, &w);
  // Shared memory only as large as the biggest possible centroid set needs.
  int64_t smem_floats = a.total_k * (a.dim + 1);
  if (smem_floats > kSmemFloats) smem_floats = kSmemFloats;
  const int64_t max_grid = INT_MAX;
  const unsigned grid = static_cast<unsigned>(a.n_segments < max_grid ? a.n_segments : max_grid);
  kmeans_kernel<<<grid, kThreads, static_cast<size_t>(smem_floats) * sizeof(float), stream>>>(a, w, smem_floats);
  FEDRAS_CUDA_CHECK_LAUNCH();
}

}  // namespace fedras

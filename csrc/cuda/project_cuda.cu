// CUDA direction projection, same arithmetic as project_cpu.cpp.
//
// Workspace (after the 256 status bytes): unit directions, n_directions * dim floats.
// Kernel 1 (one thread per direction) normalises each direction (norm in double).
// Kernel 2 (one thread per row) finds the row's segment by binary search over the
// clamped offsets, then scores every direction of that segment with the float dot
// x . u accumulated over j in order (explicit _rn intrinsics: no FMA, as on the CPU),
// keeping the first strictly greater one. No reductions across threads, so the
// result is deterministic and matches the CPU bit for bit.
//
// Unchecked input: offsets are clamped; a row that lies in no segment, or whose
// segment has no directions, gets index 0 and scale 0 (the CPU never sees these,
// it always validates).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "common/errors.h"
#include "cuda/cuda_utils.cuh"
#include "ops/project.h"

namespace fedras {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    normalize_directions_kernel(const float* __restrict__ dirs, int64_t n_dirs, int64_t d, float* __restrict__ unit) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < n_dirs; c += stride)
    cuda::normalize_row_rn(dirs + c * d, unit + c * d, d);
}

__global__ void __launch_bounds__(kThreads) project_rows_kernel(const ProjectArgs a, const float* __restrict__ unit) {
  const int64_t N = a.n_rows, d = a.dim, S = a.n_segments, ND = a.n_directions;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < N; r += stride) {
    int32_t best = 0;
    float scale = 0.0f;
    if (S > 0) {
      // upper_bound over offsets[0..S] (clamped to [0, N]) of r, minus one.
      int64_t lo = 0, hi = S + 1;
      while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (cuda::clamp_i64(a.offsets[mid], 0, N) <= r)
          lo = mid + 1;
        else
          hi = mid;
      }
      const int64_t s = lo - 1;
      if (s >= 0 && s < S) {
        const int64_t r0 = cuda::clamp_i64(a.offsets[s], 0, N);
        const int64_t r1 = cuda::clamp_i64(a.offsets[s + 1], r0, N);
        const int64_t k0 = cuda::clamp_i64(a.dir_offsets[s], 0, ND);
        const int64_t k1 = cuda::clamp_i64(a.dir_offsets[s + 1], k0, ND);
        if (r0 <= r && r < r1 && k1 > k0) {
          const float* x = a.x + r * d;
          float best_dot = -INFINITY;
          for (int64_t c = 0; c < k1 - k0; ++c) {
            const float* u = unit + (k0 + c) * d;
            float dot = 0.0f;
            for (int64_t j = 0; j < d; ++j) dot = __fadd_rn(dot, __fmul_rn(x[j], u[j]));
            if (dot > best_dot) {
              best_dot = dot;
              best = static_cast<int32_t>(c);
            }
          }
          scale = best_dot == -INFINITY ? 0.0f : best_dot;
        }
      }
    }
    a.index[r] = best;
    a.scale[r] = scale;
  }
}

}  // namespace

int64_t project_directions_cuda_workspace_bytes(int64_t n_directions, int64_t dim) {
  cuda::WorkspaceCarver w(nullptr);
  w.take<float>(n_directions * dim);
  return w.bytes();
}

void project_directions_cuda(const ProjectArgs& a) {
  if (a.n_rows <= 0 || a.dim <= 0) return;
  const int64_t need = project_directions_cuda_workspace_bytes(a.n_directions, a.dim);
  if (a.workspace == nullptr || a.workspace_bytes < need)
    value_error("project_directions: the CUDA workspace must hold at least ", need, " bytes, got ",
                a.workspace == nullptr ? 0 : a.workspace_bytes);
  cuda::require_aligned(a.workspace, "the CUDA workspace");
  cuda::DeviceGuard guard(a.device_id);
  const cudaStream_t stream = cuda::as_stream(a.stream);
  cuda::WorkspaceCarver w(a.workspace);
  float* unit = w.take<float>(a.n_directions * a.dim);
  if (a.n_directions > 0) {
    normalize_directions_kernel<<<cuda::grid_for(a.n_directions, kThreads), kThreads, 0, stream>>>(
        a.directions, a.n_directions, a.dim, unit);
    FEDRAS_CUDA_CHECK_LAUNCH();
  }
  project_rows_kernel<<<cuda::grid_for(a.n_rows, kThreads), kThreads, 0, stream>>>(a, unit);
  FEDRAS_CUDA_CHECK_LAUNCH();
}

}  // namespace fedras

// CPU direction projection: per segment, normalise its directions once (transposed
// and padded for tile_dots), then give each row the direction with the largest
// x . a_hat (ties: lowest index), which is the largest cosine since ||x|| is a common
// positive factor. Each dot is summed over j in order, as the CUDA kernel does.
#include <algorithm>
#include <limits>
#include <vector>

#include "common/parallel.h"
#include "common/rowmath.h"
#include "cpu/simd.h"
#include "ops/project.h"

namespace fedras {
namespace {

template <int R>
FEDRAS_INLINE void best_dots(const float* x, const float* ct, int64_t d, int64_t k, int kpad, int32_t* index,
                             float* scale) {
  float best[R];
  int arg[R];
  for (int r = 0; r < R; ++r) {
    best[r] = -std::numeric_limits<float>::infinity();
    arg[r] = 0;
  }
  for (int c0 = 0; c0 < kpad; c0 += kTile) {
    v8f acc[R][2];
    tile_dots<R>(x, ct, d, kpad, c0, acc);
    const int tiles = static_cast<int>(std::min<int64_t>(kTile, k - c0));
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < tiles; ++t) {
        const float dot = acc[r][t / 8][t % 8];
        if (dot > best[r]) {
          best[r] = dot;
          arg[r] = c0 + t;
        }
      }
  }
  for (int r = 0; r < R; ++r) {
    index[r] = arg[r];
    scale[r] = best[r] == -std::numeric_limits<float>::infinity() ? 0.0f : best[r];
  }
}

// Rows [r0, r1) of one segment against its k directions (ct: [d, kpad] unit directions).
FEDRAS_MULTIVERSION
void project_rows(const float* x, int64_t r0, int64_t r1, int64_t d, const float* ct, int64_t k, int kpad,
                  int32_t* index, float* scale) {
  constexpr int R = 4;
  int64_t r = r0;
  for (; r + R <= r1; r += R) best_dots<R>(x + r * d, ct, d, k, kpad, index + r, scale + r);
  for (; r < r1; ++r) best_dots<1>(x + r * d, ct, d, k, kpad, index + r, scale + r);
}

}  // namespace

void project_directions_cpu(const ProjectArgs& a) {
  const int threads = resolve_threads(a.num_threads);
  const int64_t d = a.dim;
#pragma omp parallel num_threads(threads) if (threads > 1 && a.n_segments > 1)
  {
    std::vector<float> unit, ct;
#pragma omp for schedule(dynamic, 4)
    for (int64_t s = 0; s < a.n_segments; ++s) {
      const int64_t r0 = a.offsets[s], r1 = a.offsets[s + 1];
      const int64_t k0 = a.dir_offsets[s], k = a.dir_offsets[s + 1] - k0;
      if (r1 == r0 || k == 0) continue;
      const int kpad = padded_columns(k);
      unit.resize(static_cast<size_t>(d));
      ct.assign(static_cast<size_t>(d * kpad), 0.0f);
      for (int64_t c = 0; c < k; ++c) {
        normalize_row(a.directions + (k0 + c) * d, unit.data(), d);
        for (int64_t j = 0; j < d; ++j) ct[j * kpad + c] = unit[j];
      }
      project_rows(a.x, r0, r1, d, ct.data(), k, kpad, a.index, a.scale);
    }
  }
}

}  // namespace fedras

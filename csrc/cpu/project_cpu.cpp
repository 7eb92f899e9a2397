// CPU direction projection: per segment, normalise its directions once, then give
// each row the direction with the largest x . a_hat (ties: lowest index), which is
// the largest cosine since ||x|| is a common positive factor.
#include <algorithm>
#include <limits>
#include <vector>

#include "common/parallel.h"
#include "common/rowmath.h"
#include "ops/project.h"

namespace fedras {

void project_directions_cpu(const ProjectArgs& a) {
  const int threads = resolve_threads(a.num_threads);
  const int64_t d = a.dim;
#pragma omp parallel num_threads(threads) if (threads > 1 && a.n_segments > 1)
  {
    std::vector<float> unit;
#pragma omp for schedule(dynamic, 4)
    for (int64_t s = 0; s < a.n_segments; ++s) {
      const int64_t r0 = a.offsets[s], r1 = a.offsets[s + 1];
      const int64_t k0 = a.dir_offsets[s], k = a.dir_offsets[s + 1] - k0;
      if (r1 == r0 || k == 0) continue;
      unit.resize(static_cast<size_t>(k * d));
      for (int64_t c = 0; c < k; ++c) normalize_row(a.directions + (k0 + c) * d, unit.data() + c * d, d);
      for (int64_t r = r0; r < r1; ++r) {
        const float* x = a.x + r * d;
        int best = 0;
        float best_dot = -std::numeric_limits<float>::infinity();
        for (int64_t c = 0; c < k; ++c) {
          const float* u = unit.data() + c * d;
          float dot = 0.0f;
          for (int64_t j = 0; j < d; ++j) dot += x[j] * u[j];
          if (dot > best_dot) {
            best_dot = dot;
            best = static_cast<int>(c);
          }
        }
        a.index[r] = best;
        a.scale[r] = best_dot == -std::numeric_limits<float>::infinity() ? 0.0f : best_dot;
      }
    }
  }
}

}  // namespace fedras

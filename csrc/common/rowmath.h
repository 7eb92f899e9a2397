// Small per-row helpers shared by the CPU and CUDA kernels, so both devices do the
// same arithmetic (and the PyTorch reference mirrors it).
#pragma once
#include <cmath>
#include <cstdint>

#include "common/rng.h"  // FEDRAS_HD

namespace fedras {

// out = x / ||x|| with the norm taken in double; a zero row stays zero.
FEDRAS_HD void normalize_row(const float* x, float* out, int64_t d) {
  double norm2 = 0.0;
  for (int64_t j = 0; j < d; ++j) norm2 += double(x[j]) * double(x[j]);
  const double norm = sqrt(norm2);
  for (int64_t j = 0; j < d; ++j) out[j] = norm > 0.0 ? static_cast<float>(double(x[j]) / norm) : 0.0f;
}

// Number of bytes that n indices of `bits` bits occupy.
FEDRAS_HD int64_t packed_bytes(int64_t n, int bits) { return (n * bits + 7) / 8; }

}  // namespace fedras

// CUDA bit-packing, same layout as bitpack_cpu.cpp (little-endian bit order; the
// padding bits of the last byte are zero).
//
// pack:   one thread per group of 8 indices; a full group fills exactly `bits` bytes,
//         so groups never share a byte. Values are masked to `bits` bits, so unchecked
//         out-of-range values cannot bleed into their neighbours.
// unpack: one thread per index, reading at most 3 bytes, never past ceil(n*bits/8).
#include <cuda_runtime.h>

#include <cstdint>

#include "common/errors.h"
#include "common/rowmath.h"  // packed_bytes
#include "cuda/cuda_utils.cuh"
#include "ops/bitpack.h"

namespace fedras {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    pack_kernel(const int32_t* __restrict__ idx, int64_t n, int bits, uint8_t* __restrict__ out, int64_t n_bytes) {
  const uint32_t mask = (1u << bits) - 1u;  // bits in [1, 16]
  const int64_t groups = (n + 7) / 8;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; g < groups; g += stride) {
    uint64_t acc = 0;  // at most 7 + 16 pending bits
    int have = 0;
    int64_t byte = g * bits;
    const int64_t i0 = g * 8;
    const int64_t i1 = (n - i0) < 8 ? n : i0 + 8;
    for (int64_t i = i0; i < i1; ++i) {
      acc |= static_cast<uint64_t>(static_cast<uint32_t>(idx[i]) & mask) << have;
      have += bits;
      while (have >= 8) {
        if (byte < n_bytes) out[byte] = static_cast<uint8_t>(acc & 0xFFu);
        ++byte;
        acc >>= 8;
        have -= 8;
      }
    }
    if (have > 0 && byte < n_bytes) out[byte] = static_cast<uint8_t>(acc & 0xFFu);
  }
}

__global__ void __launch_bounds__(kThreads)
    unpack_kernel(const uint8_t* __restrict__ packed, int64_t n, int bits, int64_t n_bytes, int32_t* __restrict__ out) {
  const uint32_t mask = (1u << bits) - 1u;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t bit = i * bits;
    const int64_t byte = bit / 8;
    uint32_t word = 0;  // a value spans at most 3 bytes (16 bits at a 7-bit offset)
    for (int t = 0; t < 3 && byte + t < n_bytes; ++t) word |= static_cast<uint32_t>(packed[byte + t]) << (8 * t);
    out[i] = static_cast<int32_t>((word >> (bit % 8)) & mask);
  }
}

void check_bits(int bits) {
  if (bits < 1 || bits > 16) value_error("bits must lie in [1, 16], got ", bits);
}

}  // namespace

void pack_indices_cuda(const PackArgs& a) {
  check_bits(a.bits);
  if (a.n <= 0) return;
  cuda::DeviceGuard guard(a.device_id);
  const cudaStream_t stream = cuda::as_stream(a.stream);
  const int64_t groups = (a.n + 7) / 8;
  pack_kernel<<<cuda::grid_for(groups, kThreads), kThreads, 0, stream>>>(a.idx, a.n, a.bits, a.out,
                                                                          packed_bytes(a.n, a.bits));
  FEDRAS_CUDA_CHECK_LAUNCH();
}

void unpack_indices_cuda(const UnpackArgs& a) {
  check_bits(a.bits);
  if (a.n <= 0) return;
  cuda::DeviceGuard guard(a.device_id);
  const cudaStream_t stream = cuda::as_stream(a.stream);
  unpack_kernel<<<cuda::grid_for(a.n, kThreads), kThreads, 0, stream>>>(a.packed, a.n, a.bits,
                                                                         packed_bytes(a.n, a.bits), a.out);
  FEDRAS_CUDA_CHECK_LAUNCH();
}

}  // namespace fedras

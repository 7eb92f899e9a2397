// CPU bit-packing. Eight indices of `bits` bits fill exactly `bits` bytes, so
// groups of eight are independent and can be packed in parallel.
#include <algorithm>

#include "common/parallel.h"
#include "common/rowmath.h"
#include "ops/bitpack.h"

namespace fedras {

void pack_indices_cpu(const PackArgs& a) {
  const int threads = resolve_threads(a.num_threads);
  const int64_t groups = (a.n + 7) / 8;
  const int64_t n_bytes = packed_bytes(a.n, a.bits);
  const int bits = a.bits;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && groups > 4096)
  for (int64_t g = 0; g < groups; ++g) {
    uint64_t acc = 0;  // at most 8 + 16 pending bits
    int have = 0;
    int64_t byte = g * bits;
    const int64_t i1 = std::min(a.n, g * 8 + 8);
    for (int64_t i = g * 8; i < i1; ++i) {
      acc |= static_cast<uint64_t>(static_cast<uint32_t>(a.idx[i])) << have;
      have += bits;
      while (have >= 8) {
        a.out[byte++] = static_cast<uint8_t>(acc & 0xFF);
        acc >>= 8;
        have -= 8;
      }
    }
    if (have > 0 && byte < n_bytes) a.out[byte] = static_cast<uint8_t>(acc & 0xFF);
  }
}

void unpack_indices_cpu(const UnpackArgs& a) {
  const int threads = resolve_threads(a.num_threads);
  const int64_t n_bytes = packed_bytes(a.n, a.bits);
  const uint32_t mask = (1u << a.bits) - 1u;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && a.n > 32768)
  for (int64_t i = 0; i < a.n; ++i) {
    const int64_t bit = i * a.bits;
    const int64_t byte = bit / 8;
    uint32_t word = 0;  // a value spans at most 3 bytes (16 bits at a 7-bit offset)
    for (int t = 0; t < 3 && byte + t < n_bytes; ++t) word |= uint32_t(a.packed[byte + t]) << (8 * t);
    a.out[i] = static_cast<int32_t>((word >> (bit % 8)) & mask);
  }
}

// Segments run one per thread through the single-stream code above (serially there).
template <class F>
static void for_each_segment(const IndexSegments& seg, F&& one) {
  const int threads = resolve_threads(seg.num_threads);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 64) if (threads > 1 && seg.n_segments > 256)
  for (int64_t s = 0; s < seg.n_segments; ++s) one(s);
}

void pack_index_segments_cpu(const IndexSegments& seg, const int32_t* idx, uint8_t* out) {
  for_each_segment(seg, [&](int64_t s) {
    PackArgs a;
    a.idx = idx + seg.start[s];
    a.n = seg.count[s];
    a.bits = seg.bits;
    a.out = out + seg.out_start[s];
    a.num_threads = 1;
    pack_indices_cpu(a);
  });
}

int64_t first_unrepresentable_segment(const IndexSegments& seg, const int32_t* idx) {
  const int threads = resolve_threads(seg.num_threads);
  const int64_t none = seg.n_segments;
  int64_t first = none;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 64) reduction(min : first) \
    if (threads > 1 && seg.n_segments > 256)
  for (int64_t s = 0; s < seg.n_segments; ++s) {
    const int32_t* v = idx + seg.start[s];
    uint32_t high = 0;  // negatives are huge as uint32: one shift checks both ends
    for (int64_t i = 0; i < seg.count[s]; ++i) high |= static_cast<uint32_t>(v[i]) >> seg.bits;
    if (high != 0) first = std::min(first, s);
  }
  return first == none ? -1 : first;
}

void unpack_index_segments_cpu(const IndexSegments& seg, const uint8_t* packed, int32_t* out) {
  for_each_segment(seg, [&](int64_t s) {
    UnpackArgs a;
    a.packed = packed + seg.out_start[s];
    a.n = seg.count[s];
    a.bits = seg.bits;
    a.out = out + seg.start[s];
    a.num_threads = 1;
    unpack_indices_cpu(a);
  });
}

}  // namespace fedras

// CPU byte-segment ops: parallel over segments, each segment's result independent of
// the thread count.
#include <array>
#include <cstring>

#include "common/parallel.h"
#include "ops/byte_segments.h"

namespace fedras {
namespace {

// Slicing-by-8 tables of the reflected CRC-32 (zlib): table[0] is the byte-at-a-time
// table; table[k][b] advances table[k-1][b] by one more zero byte.
struct Crc32Tables {
  std::array<std::array<uint32_t, 256>, 8> t{};
  Crc32Tables() {
    for (uint32_t b = 0; b < 256; ++b) {
      uint32_t c = b;
      for (int i = 0; i < 8; ++i) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[0][b] = c;
    }
    for (int k = 1; k < 8; ++k)
      for (uint32_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
  }
};

const Crc32Tables& crc_tables() {
  static const Crc32Tables tables;  // thread-safe one-time init
  return tables;
}

inline uint32_t load_le32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

uint32_t crc32(const uint8_t* p, int64_t n) {
  const auto& t = crc_tables().t;
  uint32_t c = 0xFFFFFFFFu;
  for (; n >= 8; p += 8, n -= 8) {
    const uint32_t lo = c ^ load_le32(p), hi = load_le32(p + 4);
    c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^ t[3][hi & 0xFF] ^
        t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
  }
  for (; n > 0; ++p, --n) c = t[0][(c ^ *p) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

}  // namespace

int64_t first_segment_out_of_bounds(const int64_t* start, const int64_t* length, int64_t n_segments, int64_t n_bytes) {
  for (int64_t s = 0; s < n_segments; ++s)
    if (start[s] < 0 || length[s] < 0 || start[s] > n_bytes || length[s] > n_bytes - start[s]) return s;
  return -1;
}

void copy_segments_cpu(const ByteSegments& src, uint8_t* dst, const int64_t* dst_start, int num_threads) {
  const int threads = resolve_threads(num_threads);
  const int64_t n = src.n_segments;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 256) if (threads > 1 && n > 1024)
  for (int64_t s = 0; s < n; ++s)
    if (src.length[s] > 0) std::memmove(dst + dst_start[s], src.data + src.start[s], static_cast<size_t>(src.length[s]));
}

void crc32_segments_cpu(const ByteSegments& seg, int64_t* out, int num_threads) {
  crc_tables();  // build the tables before the parallel region
  const int threads = resolve_threads(num_threads);
  const int64_t n = seg.n_segments;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 64) if (threads > 1 && n > 64)
  for (int64_t s = 0; s < n; ++s) out[s] = crc32(seg.data + seg.start[s], seg.length[s]);
}

}  // namespace fedras

// CPU RowSet bodies (delta varints, bitmaps): one segment per loop iteration, parallel
// over segments.
#include "ops/varint_gaps.h"

#include <cstring>

#include "common/parallel.h"

namespace fedras {
namespace {

constexpr int kMaxVarintBytes = 10;  // ceil(64 / 7)

inline int64_t varint_bytes(uint64_t v) {
  int64_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// The value written for id j of a segment: the id itself first, then the gap.
inline uint64_t gap_at(const int64_t* ids, int64_t j) {
  return j == 0 ? static_cast<uint64_t>(ids[0]) : static_cast<uint64_t>(ids[j]) - static_cast<uint64_t>(ids[j - 1]);
}

// One segment's body: true if it is exactly `count` canonical varints whose running sums
// are an increasing id set in [0, universe); the first `count` ids go to `ids`.
bool decode_one(const uint8_t* p, int64_t nbytes, int64_t count, uint64_t universe, int64_t* ids) {
  int64_t values = 0, at = 0;
  uint64_t id = 0;
  while (at < nbytes) {
    uint64_t v = 0;
    int len = 0;
    bool final_byte = false;
    while (at < nbytes && len < kMaxVarintBytes) {
      const uint8_t b = p[at++];
      v |= static_cast<uint64_t>(b & 0x7F) << (7 * len);
      ++len;
      if (b < 0x80) {
        final_byte = true;
        if (len > 1 && b == 0) return false;                       // not the shortest form
        if (len == kMaxVarintBytes && b > 1) return false;         // over 64 bits
        break;
      }
    }
    if (!final_byte) return false;  // ends inside the body's end, or longer than 10 bytes
    if (v >= universe) return false;
    if (values > 0 && v == 0) return false;  // a zero gap: a repeated id
    id = values == 0 ? v : id + v;           // both < universe <= 2**32: no wrap
    if (id >= universe) return false;
    if (values < count) ids[values] = static_cast<int64_t>(id);
    ++values;
  }
  return values == count;
}

// One bitmap body of `width` bytes: true if exactly `count` bits are set, all below
// `universe`; their positions, ascending, go to `ids` (at most `count` of them). Eight
// bytes at a time: a little-endian word's bit 8 j + i is bit i of its byte j.
bool bitmap_one(const uint8_t* p, int64_t width, int64_t count, uint64_t universe, int64_t* ids) {
  int64_t got = 0;
  for (int64_t b = 0; b < width; b += 8) {
    uint64_t word = 0;
    std::memcpy(&word, p + b, static_cast<size_t>(width - b < 8 ? width - b : 8));
    while (word != 0) {
      const uint64_t id = static_cast<uint64_t>(b) * 8 + static_cast<uint64_t>(__builtin_ctzll(word));
      if (id >= universe || got == count) return false;
      ids[got++] = static_cast<int64_t>(id);
      word &= word - 1;
    }
  }
  return got == count;
}

}  // namespace

void varint_gap_bytes_cpu(const IdSegments& seg, int64_t* out, int num_threads) {
  const int threads = resolve_threads(num_threads);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 256) if (threads > 1 && seg.n_segments > 1024)
  for (int64_t s = 0; s < seg.n_segments; ++s) {
    const int64_t* ids = seg.ids + seg.start[s];
    int64_t total = 0;
    for (int64_t j = 0; j < seg.count[s]; ++j) total += varint_bytes(gap_at(ids, j));
    out[s] = total;
  }
}

void encode_varint_gaps_cpu(const IdSegments& seg, uint8_t* out, const int64_t* out_start, int num_threads) {
  const int threads = resolve_threads(num_threads);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 256) if (threads > 1 && seg.n_segments > 1024)
  for (int64_t s = 0; s < seg.n_segments; ++s) {
    const int64_t* ids = seg.ids + seg.start[s];
    uint8_t* p = out + out_start[s];
    for (int64_t j = 0; j < seg.count[s]; ++j) {
      uint64_t v = gap_at(ids, j);
      while (v >= 0x80) {
        *p++ = static_cast<uint8_t>(v | 0x80);
        v >>= 7;
      }
      *p++ = static_cast<uint8_t>(v);
    }
  }
}

void decode_varint_gaps_cpu(const VarintDecodeArgs& a, int num_threads) {
  const int threads = resolve_threads(num_threads);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 256) if (threads > 1 && a.n_segments > 1024)
  for (int64_t s = 0; s < a.n_segments; ++s)
    a.ok[s] = decode_one(a.stream + a.start[s], a.nbytes[s], a.count[s], a.universe, a.ids + a.ids_start[s]) ? 1 : 0;
}

void encode_bitmap_ids_cpu(const IdSegments& seg, int64_t universe, uint8_t* out, const int64_t* out_start,
                           uint8_t* ok, int num_threads) {
  const int threads = resolve_threads(num_threads);
  const int64_t width = bitmap_bytes(universe);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 256) if (threads > 1 && seg.n_segments > 1024)
  for (int64_t s = 0; s < seg.n_segments; ++s) {
    uint8_t* p = out + out_start[s];
    std::memset(p, 0, static_cast<size_t>(width));
    const int64_t* ids = seg.ids + seg.start[s];
    uint8_t good = 1;
    for (int64_t j = 0; j < seg.count[s]; ++j) {
      const uint64_t id = static_cast<uint64_t>(ids[j]);  // negatives wrap past the universe
      if (id >= static_cast<uint64_t>(universe)) {
        good = 0;
        continue;
      }
      p[id >> 3] = static_cast<uint8_t>(p[id >> 3] | (1u << (id & 7)));
    }
    ok[s] = good;
  }
}

void decode_bitmap_ids_cpu(const VarintDecodeArgs& a, int num_threads) {
  const int threads = resolve_threads(num_threads);
  const int64_t width = bitmap_bytes(static_cast<int64_t>(a.universe));
#pragma omp parallel for num_threads(threads) schedule(dynamic, 256) if (threads > 1 && a.n_segments > 1024)
  for (int64_t s = 0; s < a.n_segments; ++s)
    a.ok[s] = bitmap_one(a.stream + a.start[s], width, a.count[s], a.universe, a.ids + a.ids_start[s]) ? 1 : 0;
}

}  // namespace fedras

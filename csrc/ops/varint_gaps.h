// The codec's RowSet bodies, many at once. CPU only.
// * Delta varints: segment s holds count[s] sorted unique ids from ids[start[s]]; its
//   stream is the LEB128 varint of the first id, then of each gap to the previous id.
// * Bitmaps: ceil(universe / 8) bytes, bit i of byte b set for id 8 b + i.
#pragma once
#include <cstdint>

namespace fedras {

struct IdSegments {
  const int64_t* ids = nullptr;    // [n_ids]
  int64_t n_ids = 0;
  const int64_t* start = nullptr;  // [n_segments]
  const int64_t* count = nullptr;  // [n_segments]
  int64_t n_segments = 0;
};

// out[s] = bytes of segment s's stream.
void varint_gap_bytes_cpu(const IdSegments& seg, int64_t* out, int num_threads);

// Segment s's stream at out + out_start[s] (the caller sized it with varint_gap_bytes).
void encode_varint_gaps_cpu(const IdSegments& seg, uint8_t* out, const int64_t* out_start, int num_threads);

struct VarintDecodeArgs {
  const uint8_t* stream = nullptr;
  const int64_t* start = nullptr;   // [n_segments] body of segment s: stream[start[s] : + nbytes[s]]
  const int64_t* nbytes = nullptr;
  const int64_t* count = nullptr;   // ids declared per segment
  int64_t n_segments = 0;
  uint64_t universe = 0;
  int64_t* ids = nullptr;           // ids of segment s at ids + ids_start[s] (count[s] of them)
  const int64_t* ids_start = nullptr;
  uint8_t* ok = nullptr;            // [n_segments] 1: the body is exactly count[s] canonical varints of
                                    // an increasing id set inside the universe
};

void decode_varint_gaps_cpu(const VarintDecodeArgs& a, int num_threads);

// The same arguments for bitmap bodies (nbytes is unused: every body is
// ceil(universe / 8) bytes); ok[s] = 1: exactly count[s] bits set, all below universe.
void decode_bitmap_ids_cpu(const VarintDecodeArgs& a, int num_threads);

// Bytes of a bitmap over a universe of ids (no overflow near INT64_MAX).
inline int64_t bitmap_bytes(int64_t universe) { return universe / 8 + (universe % 8 != 0); }

// Segment s's bitmap (bitmap_bytes(universe) bytes) at out + out_start[s]. ok[s] = 0
// for a segment holding an id outside [0, universe): that id is left out.
void encode_bitmap_ids_cpu(const IdSegments& seg, int64_t universe, uint8_t* out, const int64_t* out_start,
                           uint8_t* ok, int num_threads);

}  // namespace fedras

// Byte-segment ops for the payload codec: copy many byte ranges between buffers, and
// the CRC-32 of many byte ranges. They replace per-payload Python loops (slicing,
// joining, zlib.crc32) in fedras.codec's batch encoder and decoder. CPU only: the
// payloads are bytes on the host.
#pragma once
#include <cstdint>

namespace fedras {

struct ByteSegments {
  const uint8_t* data = nullptr;   // [n_bytes]
  int64_t n_bytes = 0;
  const int64_t* start = nullptr;  // [n_segments] first byte of each segment
  const int64_t* length = nullptr; // [n_segments]
  int64_t n_segments = 0;
};

// dst[dst_start[s] : + length[s]] = src segment s, for every s (memmove semantics per
// segment; segments must not overlap each other in dst: the op checks).
void copy_segments_cpu(const ByteSegments& src, uint8_t* dst, const int64_t* dst_start, int num_threads);

// out[s] = CRC-32 (zlib's, polynomial 0xEDB88320) of segment s.
void crc32_segments_cpu(const ByteSegments& seg, int64_t* out, int num_threads);

// First segment not inside [0, n_bytes) (or of negative start/length); -1 if none.
int64_t first_segment_out_of_bounds(const int64_t* start, const int64_t* length, int64_t n_segments, int64_t n_bytes);

}  // namespace fedras

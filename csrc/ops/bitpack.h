// Bit-packing of small indices. Layout (little-endian bit order): index i occupies
// stream bits [i*bits, (i+1)*bits), least significant bit first; stream bit p is
// bit (p % 8) of byte p / 8. Padding bits in the last byte are zero.
#pragma once
#include <cstdint>

namespace fedras {

struct PackArgs {
  const int32_t* idx = nullptr;  // [n], each in [0, 2^bits)
  int64_t n = 0;
  int bits = 1;                  // 1..16
  uint8_t* out = nullptr;        // [ceil(n * bits / 8)]
  int num_threads = 0;
  void* stream = nullptr;
  int device_id = 0;                      // CUDA: the device all tensors live on
};

struct UnpackArgs {
  const uint8_t* packed = nullptr;  // [ceil(n * bits / 8)]
  int64_t n = 0;
  int bits = 1;
  int32_t* out = nullptr;           // [n]
  int num_threads = 0;
  void* stream = nullptr;
  int device_id = 0;                      // CUDA: the device all tensors live on
};

void pack_indices_cpu(const PackArgs& a);
void unpack_indices_cpu(const UnpackArgs& a);

// Many packed streams at once (the codec's Packed bodies), CPU only: segment s is
// count[s] indices from idx[start[s]], packed as pack_indices packs them, at
// out[out_start[s]] (ceil(count * bits / 8) bytes); unpacking reverses it.
struct IndexSegments {
  const int64_t* start = nullptr;      // [n_segments] into the indices
  const int64_t* count = nullptr;      // [n_segments]
  const int64_t* out_start = nullptr;  // [n_segments] into the packed bytes
  int64_t n_segments = 0;
  int bits = 1;
  int num_threads = 0;
};

void pack_index_segments_cpu(const IndexSegments& seg, const int32_t* idx, uint8_t* out);
// The first segment holding a value outside [0, 2**bits) (which packing would bleed
// into its neighbours' bits), or -1; segments are scanned in parallel.
int64_t first_unrepresentable_segment(const IndexSegments& seg, const int32_t* idx);
void unpack_index_segments_cpu(const IndexSegments& seg, const uint8_t* packed, int32_t* out);

#ifdef FEDRAS_WITH_CUDA
void pack_indices_cuda(const PackArgs& a);
void unpack_indices_cuda(const UnpackArgs& a);
#endif

}  // namespace fedras

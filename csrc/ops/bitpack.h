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

#ifdef FEDRAS_WITH_CUDA
void pack_indices_cuda(const PackArgs& a);
void unpack_indices_cuda(const UnpackArgs& a);
#endif

}  // namespace fedras

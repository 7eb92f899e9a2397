// Device-side input checks. Each returns the smallest offending position, or -1.
// They write into `status` (8 bytes of caller-allocated device memory) and read it
// back, so they synchronise `stream`: callers run them only when asked to validate.
#pragma once
#include <cstdint>

namespace fedras {

int64_t cuda_first_bad_offset(const int64_t* off, int64_t count, int64_t total, int64_t* status, void* stream);
int64_t cuda_first_outside_i32(const int32_t* v, int64_t n, int64_t lo, int64_t hi, int64_t* status, void* stream);
int64_t cuda_first_outside_i64(const int64_t* v, int64_t n, int64_t lo, int64_t hi, int64_t* status, void* stream);
int64_t cuda_first_nonfinite(const float* v, int64_t n, int64_t* status, void* stream);
// idx[e] must lie in [0, seg_off[seg[e] + 1] - seg_off[seg[e]]); seg must already be valid.
int64_t cuda_first_bad_local_index(const int32_t* idx, const int32_t* seg, int64_t n, const int64_t* seg_off,
                                   int64_t* status, void* stream);
// Segment rule (see KRule in ops/validate.h): 0 = k in [1, n] or 0 when n == 0; 1 = k >= 1 when n >= 1.
int64_t cuda_first_bad_k(const int64_t* off, const int64_t* k_off, int64_t n_segments, int rule, int64_t* status,
                         void* stream);
// The same predicate, for host and device.
inline
#ifdef __CUDACC__
__host__ __device__
#endif
bool bad_k(int64_t n, int64_t k, int rule) {
  if (rule == 1) return n > 0 && k < 1;
  return n == 0 ? k != 0 : (k < 1 || k > n);
}
// Copy `bytes` bytes of device memory to the host (synchronous on `stream`).
void cuda_copy_to_host(void* dst, const void* src, int64_t bytes, void* stream);

}  // namespace fedras

namespace fedras {
// Number of usable CUDA devices (0 when there is no driver or device).
int cuda_device_count();
// The CUDA runtime version this module was linked against (e.g. 13000).
int cuda_runtime_version();
// The calling thread's current device, and making another one current (both throw
// std::runtime_error on a CUDA error).
int cuda_get_device();
void cuda_set_device(int device);

// Makes `device` current for the guard's lifetime, so that checks and kernels run on
// the device the tensors live on whatever the caller's current device is. Only for
// CUDA builds (the functions above are defined in checks_cuda.cu).
class CudaDeviceGuard {
 public:
  explicit CudaDeviceGuard(int device) : prev_(cuda_get_device()) {
    if (prev_ != device) {
      cuda_set_device(device);
      switched_ = true;
    }
  }
  ~CudaDeviceGuard() {
    if (!switched_) return;
    try {
      cuda_set_device(prev_);
    } catch (...) {  // never throw from a destructor
    }
  }
  CudaDeviceGuard(const CudaDeviceGuard&) = delete;
  CudaDeviceGuard& operator=(const CudaDeviceGuard&) = delete;

 private:
  int prev_;
  bool switched_ = false;
};
}  // namespace fedras

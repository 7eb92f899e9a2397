// CUDA value checks (see cuda/checks.h). Each finds the smallest offending position:
// every thread walks its grid-stride positions in increasing order and stops at its
// first hit, a warp takes the minimum with shuffles, and one lane per warp folds it
// into the 8-byte status word with an integer atomicMin. The status starts at a
// sentinel (all ones) and is copied back after a stream synchronisation, which is the
// contract of these functions (callers run them only when asked to validate).
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>

#include "cuda/checks.h"
#include "cuda/cuda_utils.cuh"

namespace fedras {
namespace {

constexpr int kThreads = 256;
constexpr unsigned long long kNone = ~0ULL;

struct BadOffset {
  const int64_t* off;
  int64_t count;
  int64_t total;
  __device__ bool operator()(int64_t i) const {
    const int64_t v = off[i];
    return (i == 0 && v != 0) || (i > 0 && v < off[i - 1]) || (i == count - 1 && v != total);
  }
};

template <class T>
struct OutsideRange {
  const T* v;
  int64_t lo;
  int64_t hi;
  __device__ bool operator()(int64_t i) const {
    const int64_t x = static_cast<int64_t>(v[i]);
    return x < lo || x >= hi;
  }
};

struct NonFinite {
  const float* v;
  __device__ bool operator()(int64_t i) const { return !isfinite(v[i]); }
};

// seg[i] must already be in range (the caller checks it first).
struct BadLocalIndex {
  const int32_t* idx;
  const int32_t* seg;
  const int64_t* seg_off;
  __device__ bool operator()(int64_t i) const {
    const int64_t s = seg[i];
    const int64_t v = idx[i];
    return v < 0 || v >= seg_off[s + 1] - seg_off[s];
  }
};

struct BadK {
  const int64_t* off;
  const int64_t* k_off;
  int rule;
  __device__ bool operator()(int64_t s) const {
    return bad_k(off[s + 1] - off[s], k_off[s + 1] - k_off[s], rule);
  }
};

template <class Pred>
__global__ void __launch_bounds__(kThreads) first_bad_kernel(int64_t n, Pred bad, unsigned long long* status) {
  unsigned long long first = kNone;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    if (bad(i)) {
      first = static_cast<unsigned long long>(i);
      break;  // later positions of this thread are larger
    }
  }
  // Every lane reaches this point (blockDim is a multiple of 32).
  for (int o = 16; o > 0; o >>= 1) {
    const unsigned long long other = __shfl_down_sync(0xFFFFFFFFu, first, o);
    first = other < first ? other : first;
  }
  if ((threadIdx.x & 31) == 0 && first != kNone) atomicMin(status, first);
}

template <class Pred>
int64_t run_first_bad(int64_t n, const Pred& bad, int64_t* status, void* stream) {
  if (n <= 0) return -1;
  if (status == nullptr) throw std::invalid_argument("CUDA check called without a status word (workspace)");
  cuda::require_aligned(status, "the CUDA workspace");
  const cudaStream_t s = cuda::as_stream(stream);
  auto* st = reinterpret_cast<unsigned long long*>(status);
  FEDRAS_CUDA_CHECK(cudaMemsetAsync(st, 0xFF, sizeof(unsigned long long), s));
  first_bad_kernel<Pred><<<cuda::grid_for(n, kThreads, 4096), kThreads, 0, s>>>(n, bad, st);
  FEDRAS_CUDA_CHECK_LAUNCH();
  unsigned long long host = kNone;
  FEDRAS_CUDA_CHECK(cudaMemcpyAsync(&host, st, sizeof(host), cudaMemcpyDeviceToHost, s));
  FEDRAS_CUDA_CHECK(cudaStreamSynchronize(s));
  return host == kNone ? -1 : static_cast<int64_t>(host);
}

}  // namespace

int64_t cuda_first_bad_offset(const int64_t* off, int64_t count, int64_t total, int64_t* status, void* stream) {
  return run_first_bad(count, BadOffset{off, count, total}, status, stream);
}

int64_t cuda_first_outside_i32(const int32_t* v, int64_t n, int64_t lo, int64_t hi, int64_t* status, void* stream) {
  return run_first_bad(n, OutsideRange<int32_t>{v, lo, hi}, status, stream);
}

int64_t cuda_first_outside_i64(const int64_t* v, int64_t n, int64_t lo, int64_t hi, int64_t* status, void* stream) {
  return run_first_bad(n, OutsideRange<int64_t>{v, lo, hi}, status, stream);
}

int64_t cuda_first_nonfinite(const float* v, int64_t n, int64_t* status, void* stream) {
  return run_first_bad(n, NonFinite{v}, status, stream);
}

int64_t cuda_first_bad_local_index(const int32_t* idx, const int32_t* seg, int64_t n, const int64_t* seg_off,
                                   int64_t* status, void* stream) {
  return run_first_bad(n, BadLocalIndex{idx, seg, seg_off}, status, stream);
}

int64_t cuda_first_bad_k(const int64_t* off, const int64_t* k_off, int64_t n_segments, int rule, int64_t* status,
                         void* stream) {
  return run_first_bad(n_segments, BadK{off, k_off, rule}, status, stream);
}

void cuda_copy_to_host(void* dst, const void* src, int64_t bytes, void* stream) {
  if (bytes <= 0) return;
  const cudaStream_t s = cuda::as_stream(stream);
  FEDRAS_CUDA_CHECK(cudaMemcpyAsync(dst, src, static_cast<size_t>(bytes), cudaMemcpyDeviceToHost, s));
  FEDRAS_CUDA_CHECK(cudaStreamSynchronize(s));
}

int cuda_device_count() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  cudaGetLastError();  // clear the error a missing driver/device leaves behind
  return err == cudaSuccess ? count : 0;
}

int cuda_runtime_version() {
  int version = 0;
  if (cudaRuntimeGetVersion(&version) != cudaSuccess) {
    cudaGetLastError();
    return CUDART_VERSION;
  }
  return version;
}

int cuda_get_device() {
  int device = 0;
  FEDRAS_CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

void cuda_set_device(int device) { FEDRAS_CUDA_CHECK(cudaSetDevice(device)); }

}  // namespace fedras

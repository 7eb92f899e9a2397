// Helpers shared by the CUDA sources (.cu only: this header includes cuda_runtime.h).
//
// Floating point: nvcc contracts a * b + c into one FMA by default, the CPU build does
// not (-ffp-contract=off). Kernels that must give the CPU's bits therefore spell every
// operation with the rounding intrinsics (__fmul_rn, __fadd_rn, __dadd_rn, ...), which
// are never contracted. This also means the shared FEDRAS_HD helper normalize_row
// (rowmath.h) is NOT used on the device: nvcc turns its norm loop into DFMAs. The
// device copy below, normalize_row_rn, does the same arithmetic as the host build.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace fedras {
namespace cuda {

// The first bytes of every CUDA workspace hold the check status word; must equal
// kStatusBytes in ops/validate.h (not included here to keep pybind11 out of nvcc).
constexpr int64_t kWorkspaceStatusBytes = 256;
// Every sub-buffer of a workspace starts on this boundary.
constexpr int64_t kWorkspaceAlign = 256;

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line) {
  throw std::runtime_error(std::string("CUDA error ") + cudaGetErrorName(err) + ": " + cudaGetErrorString(err) +
                           " (" + what + " at " + file + ":" + std::to_string(line) + ")");
}

inline cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

inline int64_t align_up(int64_t bytes) { return (bytes + kWorkspaceAlign - 1) / kWorkspaceAlign * kWorkspaceAlign; }

// Blocks for a grid-stride loop over `work` items: at least 1, at most max_blocks.
// Callers skip the launch when work == 0.
inline unsigned grid_for(int64_t work, int block, int64_t max_blocks = 65535LL * 16) {
  int64_t blocks = (work + block - 1) / block;
  blocks = std::max<int64_t>(1, std::min<int64_t>(blocks, max_blocks));
  return static_cast<unsigned>(blocks);
}

// Workspaces must be at least this aligned (torch's allocator gives 512 bytes; a
// sliced tensor may not be): the status word is an 8-byte atomic, and the sub-buffers
// hold doubles and 64-bit integers.
constexpr uintptr_t kWorkspaceMinAlign = 16;
inline void require_aligned(const void* p, const char* what) {
  if (reinterpret_cast<uintptr_t>(p) % kWorkspaceMinAlign != 0)
    throw std::invalid_argument(std::string(what) + " must be " + std::to_string(kWorkspaceMinAlign) +
                                "-byte aligned (pass a freshly allocated uint8 tensor, not a slice)");
}

// Carves typed sub-buffers out of a workspace, each aligned to kWorkspaceAlign, after
// the status bytes. With base == nullptr it only counts, so the *_workspace_bytes
// functions and the ops share one layout.
class WorkspaceCarver {
 public:
  explicit WorkspaceCarver(void* base) : base_(static_cast<uint8_t*>(base)) {}
  template <class T>
  T* take(int64_t count) {
    T* p = base_ != nullptr ? reinterpret_cast<T*>(base_ + used_) : nullptr;
    used_ += align_up(std::max<int64_t>(count, 0) * static_cast<int64_t>(sizeof(T)));
    return p;
  }
  int64_t bytes() const { return used_; }

 private:
  uint8_t* base_;
  int64_t used_ = kWorkspaceStatusBytes;
};

// Makes `device` current for the guard's lifetime (restores the previous one after).
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = -1;
  bool switched_ = false;
};

inline DeviceGuard::DeviceGuard(int device) {
  cudaError_t err = cudaGetDevice(&prev_);
  if (err != cudaSuccess) throw_cuda_error(err, "cudaGetDevice", __FILE__, __LINE__);
  if (prev_ != device) {
    err = cudaSetDevice(device);
    if (err != cudaSuccess) throw_cuda_error(err, "cudaSetDevice", __FILE__, __LINE__);
    switched_ = true;
  }
}

inline DeviceGuard::~DeviceGuard() {
  if (switched_) {
    cudaSetDevice(prev_);
    cudaGetLastError();  // a destructor must not throw; drop a (non-sticky) error
  }
}

// ------------------------------------------------------------------ device helpers

__device__ __forceinline__ int64_t clamp_i64(int64_t v, int64_t lo, int64_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

// Same arithmetic as normalize_row in common/rowmath.h as the CPU build runs it
// (no FMA contraction): out = x / ||x||, norm in double; a zero (or NaN) norm gives 0.
__device__ __forceinline__ void normalize_row_rn(const float* x, float* out, int64_t d) {
  double norm2 = 0.0;
  for (int64_t j = 0; j < d; ++j) {
    const double v = static_cast<double>(x[j]);
    norm2 = __dadd_rn(norm2, __dmul_rn(v, v));
  }
  const double norm = __dsqrt_rn(norm2);
  for (int64_t j = 0; j < d; ++j)
    out[j] = norm > 0.0 ? __double2float_rn(__ddiv_rn(static_cast<double>(x[j]), norm)) : 0.0f;
}

}  // namespace cuda
}  // namespace fedras

#define FEDRAS_CUDA_CHECK(expr)                                                        \
  do {                                                                                 \
    const cudaError_t fedras_err_ = (expr);                                            \
    if (fedras_err_ != cudaSuccess)                                                    \
      ::fedras::cuda::throw_cuda_error(fedras_err_, #expr, __FILE__, __LINE__);        \
  } while (0)

// After a kernel launch: launch-configuration errors surface here.
#define FEDRAS_CUDA_CHECK_LAUNCH() FEDRAS_CUDA_CHECK(cudaGetLastError())

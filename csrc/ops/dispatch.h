// Device dispatch shared by every op: run the CPU or the CUDA implementation for the
// device of `like`, with the GIL released.
#pragma once
#include <pybind11/pybind11.h>

#include "common/dlpack_arg.h"
#include "common/errors.h"

#ifdef FEDRAS_WITH_CUDA
#include "cuda/checks.h"  // CudaDeviceGuard
#define FEDRAS_IF_CUDA(...) __VA_ARGS__
#else
#define FEDRAS_IF_CUDA(...)
#endif

namespace fedras {

template <class Cpu, class Cuda>
void dispatch(const TensorArg& like, Cpu&& cpu, Cuda&& cuda) {
  if (like.is_cuda()) {
#ifdef FEDRAS_WITH_CUDA
    pybind11::gil_scoped_release nogil;
    CudaDeviceGuard guard(like.device_id);  // run on the tensors' device
    cuda();
#else
    (void)cuda;
    value_error(like.name, " is a CUDA tensor, but this build of fedras_ext has no CUDA kernels ",
                "(reinstall with nvcc available, or FEDRAS_CUDA=ON)");
#endif
  } else {
    pybind11::gil_scoped_release nogil;
    cpu();
  }
}

// A workspace must hold `need` bytes when the op runs on CUDA.
inline void require_workspace(const TensorArg& ws, bool present, const TensorArg& like, int64_t need) {
  if (!like.is_cuda()) return;
  if (!present || ws.numel() < need)
    value_error(ws.name, " must hold at least ", need, " bytes for this CUDA call, got ", present ? ws.numel() : 0);
}

}  // namespace fedras

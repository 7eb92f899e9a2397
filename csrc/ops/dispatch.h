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

// A workspace must hold `need()` bytes when the op runs on CUDA. `need` is only called
// for CUDA tensors: some sizes come from CUB, which would create a CUDA context.
template <class Need>
void require_workspace(const TensorArg& ws, bool present, const TensorArg& like, Need&& need) {
  if (!like.is_cuda()) return;
  const int64_t bytes = need();
  if (!present || ws.numel() < bytes)
    value_error(ws.name, " must hold at least ", bytes, " bytes for this CUDA call, got ", present ? ws.numel() : 0);
}

}  // namespace fedras

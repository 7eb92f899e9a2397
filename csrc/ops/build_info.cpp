#include <string>

#include "common/errors.h"
#include "common/parallel.h"
#include "cuda/checks.h"
#include "ops/ops.h"

#ifndef FEDRAS_VERSION
#define FEDRAS_VERSION "0+unknown"
#endif

namespace fedras {

py::dict build_info() {
  py::dict info;
  info["version"] = FEDRAS_VERSION;
  py::list archs;
#ifdef FEDRAS_WITH_CUDA
  info["cuda_compiled"] = true;
  const std::string list = FEDRAS_CUDA_ARCHS;  // "80,90"
  for (size_t at = 0; at < list.size();) {
    size_t end = list.find(',', at);
    if (end == std::string::npos) end = list.size();
    if (end > at) archs.append(std::stoi(list.substr(at, end - at)));
    at = end + 1;
  }
  const int devices = cuda_device_count();
  info["cuda_runtime_version"] = cuda_runtime_version();
  info["cuda_device_count"] = devices;
  info["gpu_available"] = devices > 0;
#else
  info["cuda_compiled"] = false;
  info["cuda_runtime_version"] = py::none();
  info["cuda_device_count"] = 0;
  info["gpu_available"] = false;
#endif
  info["cuda_archs"] = archs;
#ifdef FEDRAS_WITH_OPENMP
  info["openmp"] = true;
#else
  info["openmp"] = false;
#endif
  info["openmp_threads"] = resolve_threads(0);
  info["dlpack"] = true;
  info["links_libtorch"] = false;
  // Which pybind11 compiled this module, and whose internals it joins at import: a
  // module with the same ID (torch's, say) shares exception translators and types.
  info["pybind11"] = cat(PYBIND11_VERSION_MAJOR, ".", PYBIND11_VERSION_MINOR, ".", PYBIND11_VERSION_PATCH);
  info["pybind11_internals_id"] = PYBIND11_INTERNALS_ID;
  info["compiler"] = cat(
#if defined(__clang__)
      "clang ", __clang_major__, ".", __clang_minor__
#elif defined(__GNUC__)
      "gcc ", __GNUC__, ".", __GNUC_MINOR__
#else
      "unknown"
#endif
  );
  return info;
}

}  // namespace fedras

// TensorArg: a borrowed, validated view of a DLPack tensor handed in from Python.
// The module never sees torch: every tensor arrives as a DLPack capsule (or an object
// with __dlpack__), and outputs/workspaces are buffers the caller allocated.
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/dlpack.h"

namespace fedras {

enum class Device { CPU, CUDA };
enum class DType { F32, F16, F64, I32, I64, U8, Other };

const char* dtype_name(DType t);

struct TensorArg {
  const char* name = "";
  void* data = nullptr;
  Device device = Device::CPU;
  int device_id = 0;
  DType dtype = DType::Other;
  std::vector<int64_t> shape;
  bool readonly = false;
  pybind11::object owner;  // keeps the capsule (and thus the memory) alive

  int ndim() const { return static_cast<int>(shape.size()); }
  int64_t size(int i) const { return shape.at(i); }
  int64_t numel() const;
  bool is_cuda() const { return device == Device::CUDA; }
  std::string device_str() const;

  template <typename T>
  T* ptr() const { return static_cast<T*>(data); }

  // Metadata checks; each raises ValueError naming this argument.
  const TensorArg& dtype_is(DType t) const;
  const TensorArg& ndim_is(int n) const;
  const TensorArg& dim_is(int dim, int64_t expected, const char* what) const;
  const TensorArg& writable() const;
  const TensorArg& same_device_as(const TensorArg& other) const;
  // Raises ValueError if the two share a byte of memory (an op that writes one while
  // reading the other, in parallel, would race).
  const TensorArg& disjoint_from(const TensorArg& other) const;
  int64_t nbytes() const;
};

// Borrow a DLPack capsule ("dltensor" or "dltensor_versioned") or any object with
// __dlpack__. Rejects non-contiguous tensors, unsupported devices and lanes != 1.
TensorArg borrow(pybind11::handle obj, const char* name);

// Same as borrow, but None gives an empty optional-like arg (data == nullptr, shape {}).
TensorArg borrow_optional(pybind11::handle obj, const char* name, bool* present);

}  // namespace fedras

#include "common/dlpack_arg.h"

#include <cstring>

#include "common/errors.h"

namespace py = pybind11;

namespace fedras {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::F64: return "float64";
    case DType::I32: return "int32";
    case DType::I64: return "int64";
    case DType::U8: return "uint8";
    default: return "an unsupported dtype";
  }
}

static DType dtype_of(const DLDataType& t) {
  if (t.lanes != 1) return DType::Other;
  if (t.code == kDLFloat && t.bits == 32) return DType::F32;
  if (t.code == kDLFloat && t.bits == 16) return DType::F16;
  if (t.code == kDLFloat && t.bits == 64) return DType::F64;
  if (t.code == kDLInt && t.bits == 32) return DType::I32;
  if (t.code == kDLInt && t.bits == 64) return DType::I64;
  if (t.code == kDLUInt && t.bits == 8) return DType::U8;
  return DType::Other;
}

int64_t TensorArg::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

static int64_t item_bytes(DType t) {
  switch (t) {
    case DType::F64: case DType::I64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::F16: return 2;
    default: return 1;
  }
}

int64_t TensorArg::nbytes() const { return numel() * item_bytes(dtype); }

const TensorArg& TensorArg::disjoint_from(const TensorArg& other) const {
  const auto* a = static_cast<const char*>(data);
  const auto* b = static_cast<const char*>(other.data);
  if (device == other.device && device_id == other.device_id && nbytes() > 0 && other.nbytes() > 0 &&
      a < b + other.nbytes() && b < a + nbytes())
    value_error(name, " and ", other.name, " overlap in memory; this op writes ", name,
                " while reading ", other.name, ", so they must be separate tensors");
  return *this;
}

std::string TensorArg::device_str() const {
  return device == Device::CUDA ? cat("cuda:", device_id) : std::string("cpu");
}

const TensorArg& TensorArg::dtype_is(DType t) const {
  if (dtype != t) value_error(name, " must be ", dtype_name(t), ", got ", dtype_name(dtype));
  return *this;
}

const TensorArg& TensorArg::ndim_is(int n) const {
  if (ndim() != n) value_error(name, " must be ", n, "-D, got ", ndim(), "-D");
  return *this;
}

const TensorArg& TensorArg::dim_is(int dim, int64_t expected, const char* what) const {
  if (size(dim) != expected)
    value_error(name, ".shape[", dim, "] must be ", expected, " (", what, "), got ", size(dim));
  return *this;
}

const TensorArg& TensorArg::writable() const {
  if (readonly) value_error(name, " is read-only but is written by this op");
  return *this;
}

const TensorArg& TensorArg::same_device_as(const TensorArg& other) const {
  if (device != other.device || device_id != other.device_id)
    value_error(name, " is on ", device_str(), " but ", other.name, " is on ", other.device_str(),
                "; all tensors of one call must be on the same device");
  return *this;
}

static bool is_contiguous(const DLTensor& t) {
  if (t.strides == nullptr) return true;
  for (int i = 0; i < t.ndim; ++i)
    if (t.shape[i] == 0) return true;  // empty: any strides describe no memory
  int64_t expected = 1;
  for (int i = t.ndim - 1; i >= 0; --i) {
    if (t.shape[i] != 1 && t.strides[i] != expected) return false;
    expected *= t.shape[i];
  }
  return true;
}

static TensorArg from_dltensor(const DLTensor& t, const char* name, bool readonly, py::object owner) {
  TensorArg a;
  a.name = name;
  a.owner = std::move(owner);
  a.readonly = readonly;
  if (t.ndim < 0 || t.ndim > 8) value_error(name, " has an unsupported number of dimensions (", t.ndim, ")");
  a.shape.assign(t.shape, t.shape + t.ndim);
  for (int64_t s : a.shape)
    if (s < 0) value_error(name, " has a negative dimension");
  a.dtype = dtype_of(t.dtype);
  if (a.dtype == DType::Other)
    value_error(name, " has an unsupported dtype (DLPack code ", int(t.dtype.code), ", bits ",
                int(t.dtype.bits), ", lanes ", int(t.dtype.lanes), ")");
  switch (t.device.device_type) {
    case kDLCPU: a.device = Device::CPU; break;
    case kDLCUDA: a.device = Device::CUDA; break;
    default: value_error(name, " is on an unsupported device (DLPack device type ", int(t.device.device_type), ")");
  }
  a.device_id = t.device.device_id;
  if (!is_contiguous(t)) value_error(name, " must be contiguous (call .contiguous() first)");
  a.data = static_cast<char*>(t.data) + t.byte_offset;
  return a;
}

TensorArg borrow(py::handle obj, const char* name) {
  if (obj.is_none()) value_error(name, " is required but got None");
  py::object cap = py::reinterpret_borrow<py::object>(obj);
  if (!PyCapsule_CheckExact(cap.ptr())) {
    if (!py::hasattr(cap, "__dlpack__"))
      value_error(name, " must be a tensor or array supporting DLPack, got ",
                  std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
    cap = cap.attr("__dlpack__")();
  }
  const char* cname = PyCapsule_GetName(cap.ptr());
  if (cname != nullptr && std::strcmp(cname, "dltensor") == 0) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap.ptr(), "dltensor"));
    if (m == nullptr) throw py::error_already_set();
    return from_dltensor(m->dl_tensor, name, false, cap);
  }
  if (cname != nullptr && std::strcmp(cname, "dltensor_versioned") == 0) {
    auto* m = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(cap.ptr(), "dltensor_versioned"));
    if (m == nullptr) throw py::error_already_set();
    if (m->version.major != 1) value_error(name, " uses DLPack major version ", m->version.major, ", expected 1");
    return from_dltensor(m->dl_tensor, name, (m->flags & DLPACK_FLAG_BITMASK_READ_ONLY) != 0, cap);
  }
  value_error(name, " is a capsule that is not an unused DLPack tensor (name '",
              cname ? cname : "(null)", "')");
}

TensorArg borrow_optional(py::handle obj, const char* name, bool* present) {
  *present = !obj.is_none();
  if (!*present) {
    TensorArg a;
    a.name = name;
    return a;
  }
  return borrow(obj, name);
}

}  // namespace fedras

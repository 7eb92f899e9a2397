#include "ops/bitpack.h"

#include "common/rowmath.h"
#include "ops/dispatch.h"
#include "ops/ops.h"
#include "ops/validate.h"

namespace fedras {

static void check_bits(int bits) {
  if (bits < 1 || bits > 16) value_error("bits must lie in [1, 16], got ", bits);
}

void py_pack_indices(py::handle idx, int bits, py::handle out, py::handle workspace, bool check, int num_threads,
                     uintptr_t stream) {
  check_bits(bits);
  const TensorArg I = borrow(idx, "idx");
  I.dtype_is(DType::I32).ndim_is(1);
  const TensorArg O = borrow(out, "out");
  O.dtype_is(DType::U8).ndim_is(1).same_device_as(I).writable().dim_is(0, packed_bytes(I.size(0), bits),
                                                                        "ceil(n * bits / 8)");
  bool has_ws = false;
  const TensorArg W = borrow_optional(workspace, "workspace", &has_ws);
  void* strm = reinterpret_cast<void*>(stream);
  const CheckScratch cs = scratch_from_workspace(W, has_ws, I, strm);
  // Out-of-range values would bleed into their neighbours' bits: always an error on
  // the CPU; on CUDA the kernel masks them and the (synchronising) check is optional.
  if (check || !I.is_cuda()) check_index_range(I, int64_t(1) << bits, "values representable in `bits` bits", cs);

  PackArgs a;
  a.idx = I.ptr<int32_t>();
  a.n = I.size(0);
  a.bits = bits;
  a.out = O.ptr<uint8_t>();
  a.num_threads = num_threads;
  a.stream = strm;
  a.device_id = I.device_id;
  dispatch(I, [&] { pack_indices_cpu(a); }, [&] { FEDRAS_IF_CUDA(pack_indices_cuda(a)); });
}

void py_unpack_indices(py::handle packed, int bits, int64_t n, py::handle out, py::handle workspace, bool check,
                       int num_threads, uintptr_t stream) {
  (void)workspace;
  (void)check;  // every byte string decodes to valid indices; only the length can be wrong
  check_bits(bits);
  if (n < 0) value_error("n must be >= 0, got ", n);
  const TensorArg P = borrow(packed, "packed");
  P.dtype_is(DType::U8).ndim_is(1).dim_is(0, packed_bytes(n, bits), "ceil(n * bits / 8)");
  const TensorArg O = borrow(out, "out");
  O.dtype_is(DType::I32).ndim_is(1).same_device_as(P).writable().dim_is(0, n, "n");

  UnpackArgs a;
  a.packed = P.ptr<uint8_t>();
  a.n = n;
  a.bits = bits;
  a.out = O.ptr<int32_t>();
  a.num_threads = num_threads;
  a.stream = reinterpret_cast<void*>(stream);
  a.device_id = P.device_id;
  dispatch(P, [&] { unpack_indices_cpu(a); }, [&] { FEDRAS_IF_CUDA(unpack_indices_cuda(a)); });
}

}  // namespace fedras

#include "ops/byte_segments.h"

#include "common/dlpack_arg.h"
#include "common/errors.h"
#include "ops/ops.h"

namespace fedras {
namespace {

// The segments of `data` described by (start, length), checked to lie inside it.
ByteSegments borrow_segments(const TensorArg& data, py::handle start, py::handle length, const char* start_name,
                             TensorArg* keep_start, TensorArg* keep_length) {
  data.dtype_is(DType::U8).ndim_is(1);
  if (data.is_cuda()) value_error(data.name, " is a CUDA tensor, but the byte-segment ops run on the CPU only");
  *keep_start = borrow(start, start_name);
  keep_start->dtype_is(DType::I64).ndim_is(1).same_device_as(data);
  *keep_length = borrow(length, "length");
  keep_length->dtype_is(DType::I64).ndim_is(1).same_device_as(data).dim_is(0, keep_start->size(0), start_name);
  ByteSegments seg;
  seg.data = data.ptr<uint8_t>();
  seg.n_bytes = data.size(0);
  seg.start = keep_start->ptr<int64_t>();
  seg.length = keep_length->ptr<int64_t>();
  seg.n_segments = keep_start->size(0);
  const int64_t bad = first_segment_out_of_bounds(seg.start, seg.length, seg.n_segments, seg.n_bytes);
  if (bad >= 0)
    index_error("segment ", bad, " (", start_name, " ", seg.start[bad], ", length ", seg.length[bad],
                ") is not inside ", data.name, " of ", seg.n_bytes, " bytes");
  return seg;
}

}  // namespace

void py_copy_segments(py::handle src, py::handle src_start, py::handle length, py::handle dst, py::handle dst_start,
                      int num_threads) {
  const TensorArg S = borrow(src, "src");
  TensorArg SS, L;
  const ByteSegments seg = borrow_segments(S, src_start, length, "src_start", &SS, &L);
  const TensorArg D = borrow(dst, "dst");
  D.dtype_is(DType::U8).ndim_is(1).same_device_as(S).writable();
  const TensorArg DS = borrow(dst_start, "dst_start");
  DS.dtype_is(DType::I64).ndim_is(1).same_device_as(S).dim_is(0, seg.n_segments, "src_start.shape[0]");
  const int64_t bad = first_segment_out_of_bounds(DS.ptr<int64_t>(), seg.length, seg.n_segments, D.size(0));
  if (bad >= 0)
    index_error("segment ", bad, " (dst_start ", DS.ptr<int64_t>()[bad], ", length ", seg.length[bad],
                ") is not inside dst of ", D.size(0), " bytes");
  py::gil_scoped_release nogil;
  copy_segments_cpu(seg, D.ptr<uint8_t>(), DS.ptr<int64_t>(), num_threads);
}

void py_crc32_segments(py::handle data, py::handle start, py::handle length, py::handle out, int num_threads) {
  const TensorArg B = borrow(data, "data");
  TensorArg S, L;
  const ByteSegments seg = borrow_segments(B, start, length, "start", &S, &L);
  const TensorArg O = borrow(out, "out");
  O.dtype_is(DType::I64).ndim_is(1).same_device_as(B).writable().dim_is(0, seg.n_segments, "start.shape[0]");
  py::gil_scoped_release nogil;
  crc32_segments_cpu(seg, O.ptr<int64_t>(), num_threads);
}

}  // namespace fedras

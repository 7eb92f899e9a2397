#include "ops/byte_segments.h"

#include "common/dlpack_arg.h"
#include "common/errors.h"
#include "ops/ops.h"
#include "ops/segment_args.h"

namespace fedras {
namespace {

// The segments of `data` described by (start, length), checked to lie inside it.
ByteSegments borrow_segments(const TensorArg& data, py::handle start, py::handle length, const char* start_name,
                             TensorArg* keep_start, TensorArg* keep_length) {
  require_cpu(data, "byte-segment ops");
  data.dtype_is(DType::U8).ndim_is(1);
  *keep_start = borrow_segment_values(start, start_name, data, -1, nullptr);
  *keep_length = borrow_segment_values(length, "length", data, keep_start->size(0), start_name);
  ByteSegments seg;
  seg.data = data.ptr<uint8_t>();
  seg.n_bytes = data.size(0);
  seg.start = keep_start->ptr<int64_t>();
  seg.length = keep_length->ptr<int64_t>();
  seg.n_segments = keep_start->size(0);
  require_segments_inside(seg.start, seg.length, seg.n_segments, seg.n_bytes, start_name, data.name, "bytes");
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
  const TensorArg DS = borrow_segment_values(dst_start, "dst_start", S, seg.n_segments, "src_start.shape[0]");
  require_output_segments(DS.ptr<int64_t>(), seg.length, seg.n_segments, D.size(0), "dst_start", "dst", "bytes");
  py::gil_scoped_release nogil;
  copy_segments_cpu(seg, D.ptr<uint8_t>(), DS.ptr<int64_t>(), num_threads);
}

void py_crc32_segments(py::handle data, py::handle start, py::handle length, py::handle out, int num_threads) {
  const TensorArg B = borrow(data, "data");
  TensorArg S, L;
  const ByteSegments seg = borrow_segments(B, start, length, "start", &S, &L);
  const TensorArg O = borrow_segment_values(out, "out", B, seg.n_segments, "start.shape[0]");
  O.writable();
  py::gil_scoped_release nogil;
  crc32_segments_cpu(seg, O.ptr<int64_t>(), num_threads);
}

}  // namespace fedras

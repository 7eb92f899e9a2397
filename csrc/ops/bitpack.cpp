#include "ops/bitpack.h"

#include <vector>

#include "common/rowmath.h"
#include "ops/dispatch.h"
#include "ops/ops.h"
#include "ops/segment_args.h"
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

// The segmented ops' shared checks: bits, index arguments, index segments inside
// `n_indices`, byte segments inside `n_bytes`. The names are the caller's: the
// unpacking wrapper hands its user's byte offsets (`start` there) in as out_start.
struct SegmentNames {
  const char* index_start;  // where each segment's indices start
  const char* byte_start;   // where each segment's packed bytes start
  const char* bytes;        // the packed buffer
};

static IndexSegments index_segments(const TensorArg& like, py::handle start, py::handle count, py::handle out_start,
                                    int bits, int64_t n_indices, int64_t n_bytes, const SegmentNames& names,
                                    std::vector<int64_t>* nbytes, TensorArg* keep) {
  check_bits(bits);
  keep[0] = borrow_segment_values(start, names.index_start, like, -1, nullptr);
  const int64_t n = keep[0].size(0);
  keep[1] = borrow_segment_values(count, "count", like, n, "the number of segments");
  keep[2] = borrow_segment_values(out_start, names.byte_start, like, n, "the number of segments");
  IndexSegments seg;
  seg.start = keep[0].ptr<int64_t>();
  seg.count = keep[1].ptr<int64_t>();
  seg.out_start = keep[2].ptr<int64_t>();
  seg.n_segments = n;
  seg.bits = bits;
  require_segments_inside(seg.start, seg.count, n, n_indices, names.index_start, "the indices", "entries");
  nbytes->resize(static_cast<size_t>(n));
  for (int64_t s = 0; s < n; ++s) (*nbytes)[s] = packed_bytes(seg.count[s], bits);
  require_segments_inside(seg.out_start, nbytes->data(), n, n_bytes, names.byte_start, names.bytes, "bytes");
  return seg;
}

void py_pack_index_segments(py::handle idx, py::handle start, py::handle count, int bits, py::handle out,
                            py::handle out_start, int num_threads) {
  const TensorArg I = borrow(idx, "idx");
  require_cpu(I, "segmented bit-packing ops");
  I.dtype_is(DType::I32).ndim_is(1);
  const TensorArg O = borrow(out, "out");
  O.dtype_is(DType::U8).ndim_is(1).same_device_as(I).writable();
  TensorArg keep[3];
  std::vector<int64_t> nbytes;
  IndexSegments seg = index_segments(I, start, count, out_start, bits, I.size(0), O.size(0), {"start", "out_start", "out"},
                                     &nbytes, keep);
  seg.num_threads = num_threads;
  const int32_t* v = I.ptr<int32_t>();
  int64_t bad = -1;
  {
    py::gil_scoped_release nogil;
    bad = first_unrepresentable_segment(seg, v);  // before any byte is written
    if (bad < 0) pack_index_segments_cpu(seg, v, O.ptr<uint8_t>());
  }
  if (bad >= 0) {  // name its first such value
    for (int64_t i = seg.start[bad]; i < seg.start[bad] + seg.count[bad]; ++i)
      if (v[i] < 0 || (int64_t(v[i]) >> bits) != 0)
        index_error("idx[", i, "] = ", v[i], " (segment ", bad, ") is not representable in ", bits, " bits");
    index_error("segment ", bad, " of idx changed while it was checked");  // never a silent unwritten output
  }
}

void py_unpack_index_segments(py::handle packed, py::handle start, py::handle count, int bits, py::handle out,
                              py::handle out_start, int num_threads) {
  const TensorArg P = borrow(packed, "packed");
  require_cpu(P, "segmented bit-packing ops");
  P.dtype_is(DType::U8).ndim_is(1);
  const TensorArg O = borrow(out, "out");
  O.dtype_is(DType::I32).ndim_is(1).same_device_as(P).writable();
  TensorArg keep[3];
  std::vector<int64_t> nbytes;
  IndexSegments seg = index_segments(P, start, count, out_start, bits, O.size(0), P.size(0), {"out_start", "start", "packed"},
                                     &nbytes, keep);
  seg.num_threads = num_threads;
  py::gil_scoped_release nogil;
  unpack_index_segments_cpu(seg, P.ptr<uint8_t>(), O.ptr<int32_t>());
}

}  // namespace fedras

#include "ops/varint_gaps.h"

#include <vector>

#include "common/dlpack_arg.h"
#include "common/errors.h"
#include "ops/ops.h"
#include "ops/segment_args.h"

namespace fedras {
namespace {

constexpr const char* kOps = "varint ops";

TensorArg index_arg(py::handle h, const char* name, const TensorArg& like, int64_t n) {
  return borrow_segment_values(h, name, like, n, "the number of segments");
}

// Checked id segments: inside ids and, when `sorted`, each sorted, unique and
// non-negative (what the varint streams need; a bitmap takes ids in any order).
IdSegments id_segments(const TensorArg& I, const TensorArg& S, const TensorArg& C, bool sorted = true) {
  IdSegments seg;
  seg.ids = I.ptr<int64_t>();
  seg.n_ids = I.size(0);
  seg.start = S.ptr<int64_t>();
  seg.count = C.ptr<int64_t>();
  seg.n_segments = S.size(0);
  require_segments_inside(seg.start, seg.count, seg.n_segments, seg.n_ids, "start", "ids", "entries");
  for (int64_t s = 0; sorted && s < seg.n_segments; ++s) {
    const int64_t* p = seg.ids + seg.start[s];
    for (int64_t j = 0; j < seg.count[s]; ++j)
      if ((j == 0 && p[0] < 0) || (j > 0 && p[j] <= p[j - 1]))
        value_error("the ids of segment ", s, " must be sorted, unique and non-negative (position ", j, ": ", p[j], ")");
  }
  return seg;
}

// The encoders' arguments: id segments, and the writable output with each
// segment's place in it.
struct EncodeArgs {
  TensorArg ids, start, count, out, out_start;
};

EncodeArgs encode_args(py::handle ids, py::handle start, py::handle count, py::handle out, py::handle out_start) {
  EncodeArgs e;
  e.ids = borrow(ids, "ids");
  require_cpu(e.ids, kOps);
  e.ids.dtype_is(DType::I64).ndim_is(1);
  e.start = index_arg(start, "start", e.ids, -1);
  e.count = index_arg(count, "count", e.ids, e.start.size(0));
  e.out = borrow(out, "out");
  e.out.dtype_is(DType::U8).ndim_is(1).same_device_as(e.ids).writable();
  e.out_start = index_arg(out_start, "out_start", e.ids, e.start.size(0));
  return e;
}

}  // namespace

void py_varint_gap_bytes(py::handle ids, py::handle start, py::handle count, py::handle out, int num_threads) {
  const TensorArg I = borrow(ids, "ids");
  I.dtype_is(DType::I64).ndim_is(1);
  require_cpu(I, kOps);
  const TensorArg S = index_arg(start, "start", I, -1);
  const TensorArg C = index_arg(count, "count", I, S.size(0));
  const TensorArg O = index_arg(out, "out", I, S.size(0));
  O.writable();
  const IdSegments seg = id_segments(I, S, C);
  py::gil_scoped_release nogil;
  varint_gap_bytes_cpu(seg, O.ptr<int64_t>(), num_threads);
}

void py_encode_varint_gaps(py::handle ids, py::handle start, py::handle count, py::handle out, py::handle out_start,
                           int num_threads) {
  const EncodeArgs e = encode_args(ids, start, count, out, out_start);
  const IdSegments seg = id_segments(e.ids, e.start, e.count);
  std::vector<int64_t> nbytes(static_cast<size_t>(seg.n_segments));
  varint_gap_bytes_cpu(seg, nbytes.data(), num_threads);
  require_output_segments(e.out_start.ptr<int64_t>(), nbytes.data(), seg.n_segments, e.out.size(0), "out_start", "out",
                          "bytes");
  py::gil_scoped_release nogil;
  encode_varint_gaps_cpu(seg, e.out.ptr<uint8_t>(), e.out_start.ptr<int64_t>(), num_threads);
}

namespace {

// The decoders' shared arguments and checks: bodies inside `stream`, ids inside `ids`.
// `nbytes` nullptr: every body is a bitmap of ceil(universe / 8) bytes.
template <class Decode>
void decode_rowsets(py::handle stream, py::handle start, py::handle nbytes, py::handle count, int64_t universe,
                    py::handle ids, py::handle ids_start, py::handle ok, int num_threads, Decode decode) {
  const TensorArg B = borrow(stream, "stream");
  B.dtype_is(DType::U8).ndim_is(1);
  require_cpu(B, kOps);
  const TensorArg S = index_arg(start, "start", B, -1);
  const int64_t n = S.size(0);
  const TensorArg C = index_arg(count, "count", B, n);
  const TensorArg I = borrow(ids, "ids");
  I.dtype_is(DType::I64).ndim_is(1).same_device_as(B).writable();
  const TensorArg IS = index_arg(ids_start, "ids_start", B, n);
  const TensorArg OK = borrow(ok, "ok");
  OK.dtype_is(DType::U8).ndim_is(1).same_device_as(B).writable().dim_is(0, n, "the number of segments");
  if (universe < 0) value_error("universe must be >= 0, got ", universe);
  const int64_t* declared = C.ptr<int64_t>();
  for (int64_t s = 0; s < n; ++s)
    if (declared[s] < 0 || declared[s] > universe)
      value_error("count[", s, "] = ", declared[s], " is outside [0, universe = ", universe,
                  "]: a set of distinct ids below the universe has no more than that");
  TensorArg NB;
  std::vector<int64_t> widths;
  const int64_t* body_bytes = nullptr;
  if (nbytes.is_none()) {
    widths.assign(static_cast<size_t>(n), bitmap_bytes(universe));
    body_bytes = widths.data();
  } else {
    NB = index_arg(nbytes, "nbytes", B, n);
    body_bytes = NB.ptr<int64_t>();
  }
  require_segments_inside(S.ptr<int64_t>(), body_bytes, n, B.size(0), "start", "stream", "bytes");
  require_segments_inside(IS.ptr<int64_t>(), C.ptr<int64_t>(), n, I.size(0), "ids_start", "ids", "entries");
  VarintDecodeArgs a;
  a.stream = B.ptr<uint8_t>();
  a.start = S.ptr<int64_t>();
  a.nbytes = body_bytes;
  a.count = C.ptr<int64_t>();
  a.n_segments = n;
  a.universe = static_cast<uint64_t>(universe);
  a.ids = I.ptr<int64_t>();
  a.ids_start = IS.ptr<int64_t>();
  a.ok = OK.ptr<uint8_t>();
  py::gil_scoped_release nogil;
  decode(a, num_threads);
}

}  // namespace

void py_decode_varint_gaps(py::handle stream, py::handle start, py::handle nbytes, py::handle count, int64_t universe,
                           py::handle ids, py::handle ids_start, py::handle ok, int num_threads) {
  if (nbytes.is_none()) value_error("nbytes is required");
  decode_rowsets(stream, start, nbytes, count, universe, ids, ids_start, ok, num_threads, decode_varint_gaps_cpu);
}

void py_encode_bitmap_ids(py::handle ids, py::handle start, py::handle count, int64_t universe, py::handle out,
                          py::handle out_start, int num_threads) {
  const EncodeArgs e = encode_args(ids, start, count, out, out_start);
  if (universe < 0) value_error("universe must be >= 0, got ", universe);
  const IdSegments seg = id_segments(e.ids, e.start, e.count, /*sorted=*/false);
  const int64_t n = seg.n_segments;
  const std::vector<int64_t> widths(static_cast<size_t>(n), bitmap_bytes(universe));
  require_output_segments(e.out_start.ptr<int64_t>(), widths.data(), n, e.out.size(0), "out_start", "out", "bytes");
  std::vector<uint8_t> ok(static_cast<size_t>(n));
  {
    py::gil_scoped_release nogil;
    encode_bitmap_ids_cpu(seg, universe, e.out.ptr<uint8_t>(), e.out_start.ptr<int64_t>(), ok.data(), num_threads);
  }
  for (int64_t s = 0; s < n; ++s)
    if (!ok[static_cast<size_t>(s)])
      index_error("segment ", s, " holds an id outside [0, ", universe, ")");
}

void py_decode_bitmap_ids(py::handle stream, py::handle start, py::handle count, int64_t universe, py::handle ids,
                          py::handle ids_start, py::handle ok, int num_threads) {
  decode_rowsets(stream, start, py::none(), count, universe, ids, ids_start, ok, num_threads, decode_bitmap_ids_cpu);
}

}  // namespace fedras

#include "ops/touched_rows.h"

#include <climits>

#include "common/dlpack_arg.h"
#include "common/errors.h"
#include "ops/ops.h"
#include "ops/segment_args.h"
#include "ops/validate.h"

namespace fedras {
namespace {

// The shared arguments, checked: offsets, shapes, and every item inside [0, n_items).
struct Touched {
  TensorArg pos_ptr, pos_items, neg_items;
  TouchedArgs args;
};

Touched touched_args(py::handle pos_ptr, py::handle pos_items, py::handle neg_items, int64_t n_items,
                     int num_threads) {
  Touched t;
  t.pos_items = borrow(pos_items, "pos_items");
  require_cpu(t.pos_items, "touched-row ops");
  t.pos_items.dtype_is(DType::I64).ndim_is(1);
  const int64_t n_pos = t.pos_items.size(0);
  t.pos_ptr = borrow_segment_values(pos_ptr, "pos_ptr", t.pos_items, -1, nullptr);
  t.neg_items = borrow(neg_items, "neg_items");
  t.neg_items.dtype_is(DType::I64).ndim_is(3).same_device_as(t.pos_items).dim_is(1, n_pos, "pos_items.shape[0]");
  if (t.pos_ptr.size(0) < 1) value_error("pos_ptr must hold at least one offset");
  if (n_items < 0 || n_items > INT_MAX) value_error("n_items must lie in [0, 2**31), got ", n_items);
  check_offsets(t.pos_ptr, n_pos, "pos_items.shape[0]", CheckScratch{});
  TouchedArgs& a = t.args;
  a.pos_ptr = t.pos_ptr.ptr<int64_t>();
  a.n_clients = t.pos_ptr.size(0) - 1;
  a.pos_items = t.pos_items.ptr<int64_t>();
  a.n_pos = n_pos;
  a.neg_items = t.neg_items.ptr<int64_t>();
  a.epochs = t.neg_items.size(0);
  a.n_neg = t.neg_items.size(2);
  a.n_items = n_items;
  a.num_threads = num_threads;
  const BadItem bad = touched_first_bad_item(a);
  if (bad.position >= 0) {
    const int64_t v = (bad.neg ? a.neg_items : a.pos_items)[bad.position];
    if (bad.neg) {
      const int64_t per_epoch = a.n_pos * a.n_neg;
      index_error("neg_items[", bad.position / per_epoch, ", ", bad.position % per_epoch / a.n_neg, ", ",
                  bad.position % a.n_neg, "] = ", v, " is not an item of [0, ", n_items, ")");
    }
    index_error("pos_items[", bad.position, "] = ", v, " is not an item of [0, ", n_items, ")");
  }
  return t;
}

}  // namespace

void py_touched_counts(py::handle pos_ptr, py::handle pos_items, py::handle neg_items, int64_t n_items,
                       py::handle counts, int num_threads) {
  const Touched t = touched_args(pos_ptr, pos_items, neg_items, n_items, num_threads);
  const TensorArg C = borrow_segment_values(counts, "counts", t.pos_items, t.args.n_clients, "pos_ptr.shape[0] - 1");
  C.writable();
  py::gil_scoped_release nogil;
  touched_counts_cpu(t.args, C.ptr<int64_t>());
}

void py_touched_rows(py::handle pos_ptr, py::handle pos_items, py::handle neg_items, int64_t n_items,
                     py::handle row_ptr, py::handle rows, py::handle pos_row, py::handle neg_row, int num_threads) {
  const Touched t = touched_args(pos_ptr, pos_items, neg_items, n_items, num_threads);
  const TensorArg RP = borrow_segment_values(row_ptr, "row_ptr", t.pos_items, t.args.n_clients + 1, "pos_ptr.shape[0]");
  const TensorArg R = borrow(rows, "rows");
  R.dtype_is(DType::I64).ndim_is(1).same_device_as(t.pos_items).writable();
  check_offsets(RP, R.size(0), "rows.shape[0]", CheckScratch{});
  const TensorArg PR = borrow(pos_row, "pos_row");
  PR.dtype_is(DType::I64).ndim_is(1).same_device_as(t.pos_items).writable().dim_is(0, t.args.n_pos,
                                                                                       "pos_items.shape[0]");
  const TensorArg NR = borrow(neg_row, "neg_row");
  NR.dtype_is(DType::I64).ndim_is(3).same_device_as(t.pos_items).writable();
  for (int i = 0; i < 3; ++i) NR.dim_is(i, t.neg_items.size(i), "neg_items.shape");
  int64_t bad = -1;
  {
    py::gil_scoped_release nogil;
    bad = touched_rows_cpu(t.args, RP.ptr<int64_t>(), R.ptr<int64_t>(), PR.ptr<int64_t>(), NR.ptr<int64_t>());
  }
  if (bad >= 0) value_error("row_ptr gives client ", bad, " a different number of rows than it touches");
}

}  // namespace fedras

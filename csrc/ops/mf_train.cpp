#include "ops/mf_train.h"

#include <cmath>
#include <string>

#include "common/dlpack_arg.h"
#include "common/errors.h"
#include "ops/ops.h"
#include "ops/validate.h"

namespace fedras {

void py_mf_train(py::handle w, py::handle u, py::handle row_ptr, py::handle pos_ptr, py::handle pos_row,
                 py::handle neg_row, py::handle table, py::handle rows, py::handle loss_out, double lr, double user_lr,
                 const std::string& loss, bool check, int num_threads) {
  const TensorArg W = borrow(w, "w");
  W.dtype_is(DType::F32).ndim_is(2).writable();
  const int64_t m = W.size(0), d = W.size(1);
  if (d < 1) value_error("w must have at least one column");
  const TensorArg U = borrow(u, "u");
  U.dtype_is(DType::F32).ndim_is(2).same_device_as(W).writable().dim_is(1, d, "w.shape[1]");
  const int64_t clients = U.size(0);
  const TensorArg RP = borrow(row_ptr, "row_ptr");
  RP.dtype_is(DType::I64).ndim_is(1).same_device_as(W).dim_is(0, clients + 1, "u.shape[0] + 1");
  const TensorArg PP = borrow(pos_ptr, "pos_ptr");
  PP.dtype_is(DType::I64).ndim_is(1).same_device_as(W).dim_is(0, clients + 1, "u.shape[0] + 1");
  const TensorArg PR = borrow(pos_row, "pos_row");
  PR.dtype_is(DType::I64).ndim_is(1).same_device_as(W);
  const int64_t n_pos = PR.size(0);
  const TensorArg NR = borrow(neg_row, "neg_row");
  NR.dtype_is(DType::I64).ndim_is(3).same_device_as(W).dim_is(1, n_pos, "pos_row.shape[0]");
  const TensorArg L = borrow(loss_out, "loss");
  L.dtype_is(DType::F32).ndim_is(1).same_device_as(W).writable().dim_is(0, clients, "u.shape[0]");
  if (W.is_cuda())
    value_error("w is a CUDA tensor, but mf_train has only a CPU kernel "
                "(fedras.training.train_mf_flat uses its torch path on CUDA)");
  if (!std::isfinite(lr)) value_error("lr must be finite, got ", lr);
  if (!std::isfinite(user_lr)) value_error("user_lr must be finite, got ", user_lr);
  if (loss != "bce" && loss != "bpr") value_error("loss must be 'bce' or 'bpr', got '", loss, "'");

  const CheckScratch cs;  // CPU: no device scratch
  check_offsets(RP, m, "w.shape[0]", cs);
  check_offsets(PP, n_pos, "pos_row.shape[0]", cs);
  TensorArg T, R;
  if (table.is_none() != rows.is_none()) value_error("table and rows go together: give both or neither");
  if (!table.is_none()) {
    T = borrow(table, "table");
    T.dtype_is(DType::F32).ndim_is(2).same_device_as(W).dim_is(1, d, "w.shape[1]");
    R = borrow(rows, "rows");
    R.dtype_is(DType::I64).ndim_is(1).same_device_as(W).dim_is(0, m, "w.shape[0]");
    check_index_range(R, T.size(0), "table.shape[0]", cs);  // always: the kernel reads table[rows]
    W.disjoint_from(T);
    U.disjoint_from(T);
  }
  W.disjoint_from(U);

  MfTrainArgs a;
  a.w = W.ptr<float>();
  a.n_rows = m;
  a.dim = d;
  a.u = U.ptr<float>();
  a.n_clients = clients;
  a.row_ptr = RP.ptr<int64_t>();
  a.pos_ptr = PP.ptr<int64_t>();
  a.pos_row = PR.ptr<int64_t>();
  a.n_pos = n_pos;
  a.neg_row = NR.ptr<int64_t>();
  a.epochs = NR.size(0);
  a.n_neg = NR.size(2);
  a.lr = static_cast<float>(lr);
  a.user_lr = static_cast<float>(user_lr);
  a.bpr = loss == "bpr" && a.n_neg > 0;  // BPR without negatives has no pairs: BCE on the positives
  a.loss = L.ptr<float>();
  if (!table.is_none()) {
    a.table = T.ptr<float>();
    a.rows = R.ptr<int64_t>();
  }
  a.num_threads = num_threads;

  // Without the check the kernel skips such samples, so it never leaves the client's rows.
  if (check) {
    const ForeignRow f = mf_train_first_foreign(a);
    if (f.pos >= 0) {
      const std::string where =
          f.epoch < 0 ? cat("pos_row[", f.pos, "]") : cat("neg_row[", f.epoch, ", ", f.pos, ", ", f.neg, "]");
      index_error(where, " = ", f.row, " is not a row of its client ", f.client, " (rows [", a.row_ptr[f.client], ", ",
                  a.row_ptr[f.client + 1], ") of row_ptr)");
    }
  }
  py::gil_scoped_release nogil;
  mf_train_cpu(a);
}

}  // namespace fedras

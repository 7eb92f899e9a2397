#include "ops/apply_actions.h"

#include <cmath>

#include "ops/dispatch.h"
#include "ops/ops.h"
#include "ops/validate.h"

namespace fedras {

int64_t apply_actions_workspace_bytes(int64_t n_entries, int64_t n_table_rows, bool deterministic) {
#ifdef FEDRAS_WITH_CUDA
  return apply_actions_cuda_workspace_bytes(n_entries, n_table_rows, deterministic);
#else
  (void)n_entries;
  (void)n_table_rows;
  (void)deterministic;
  return kStatusBytes;
#endif
}

void py_apply_actions(py::handle table, py::handle rows, py::handle action_idx, py::handle actions,
                      py::handle action_offsets, py::handle segment_of_row, py::handle row_scale,
                      py::handle workspace, double scale, const std::string& reduce, bool deterministic, bool check,
                      int num_threads, uintptr_t stream) {
  const TensorArg T = borrow(table, "table");
  T.dtype_is(DType::F32).ndim_is(2).writable();
  const int64_t n_rows = T.size(0), d = T.size(1);
  if (d < 1) value_error("table must have at least one column");
  const TensorArg R = borrow(rows, "rows");
  R.dtype_is(DType::I64).ndim_is(1).same_device_as(T);
  const int64_t m = R.size(0);
  const TensorArg IX = borrow(action_idx, "action_idx");
  IX.dtype_is(DType::I32).ndim_is(1).same_device_as(T).dim_is(0, m, "rows.shape[0]");
  const TensorArg A = borrow(actions, "actions");
  A.dtype_is(DType::F32).ndim_is(2).same_device_as(T).dim_is(1, d, "table.shape[1]");
  const TensorArg AO = borrow(action_offsets, "action_offsets");
  AO.dtype_is(DType::I64).ndim_is(1).same_device_as(T);
  const int64_t segments = AO.size(0) - 1;
  if (segments < 0) value_error("action_offsets must hold n_segments + 1 entries, got 0");
  const TensorArg SG = borrow(segment_of_row, "segment_of_row");
  SG.dtype_is(DType::I32).ndim_is(1).same_device_as(T).dim_is(0, m, "rows.shape[0]");
  bool has_rs = false;
  const TensorArg RS = borrow_optional(row_scale, "row_scale", &has_rs);
  if (has_rs) RS.dtype_is(DType::F32).ndim_is(1).same_device_as(T).dim_is(0, m, "rows.shape[0]");
  bool has_ws = false;
  const TensorArg W = borrow_optional(workspace, "workspace", &has_ws);
  if (!std::isfinite(scale)) value_error("scale must be finite, got ", scale);
  if (reduce != "mean" && reduce != "sum") value_error("reduce must be 'mean' or 'sum', got '", reduce, "'");
  void* strm = reinterpret_cast<void*>(stream);
  const CheckScratch cs = scratch_from_workspace(W, has_ws, T, strm);
  require_workspace(W, has_ws, T, [&] { return apply_actions_workspace_bytes(m, n_rows, deterministic); });

  if (check || !T.is_cuda()) {
    check_offsets(AO, A.size(0), "actions.shape[0]", cs);
    check_index_range(R, n_rows, "rows of table", cs);
    check_index_range(SG, segments, "segments of action_offsets", cs);
    check_local_index(IX, SG, AO, cs);
  }
  if (check) {
    check_finite(A, cs);
    if (has_rs) check_finite(RS, cs);
  }

  ApplyActionsArgs a;
  a.table = T.ptr<float>();
  a.n_table_rows = n_rows;
  a.dim = d;
  a.rows = R.ptr<int64_t>();
  a.action_idx = IX.ptr<int32_t>();
  a.segment_of_row = SG.ptr<int32_t>();
  a.n_entries = m;
  a.actions = A.ptr<float>();
  a.n_actions = A.size(0);
  a.action_offsets = AO.ptr<int64_t>();
  a.n_segments = segments;
  a.row_scale = has_rs ? RS.ptr<float>() : nullptr;
  a.scale = static_cast<float>(scale);
  a.mean = reduce == "mean";
  a.deterministic = deterministic;
  a.num_threads = num_threads;
  a.workspace = has_ws ? W.data : nullptr;
  a.workspace_bytes = has_ws ? W.numel() : 0;
  a.stream = strm;
  a.device_id = T.device_id;
  dispatch(T, [&] { apply_actions_cpu(a); }, [&] { FEDRAS_IF_CUDA(apply_actions_cuda(a)); });
}

}  // namespace fedras

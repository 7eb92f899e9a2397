#include "ops/project.h"

#include "ops/dispatch.h"
#include "ops/ops.h"
#include "ops/validate.h"

namespace fedras {

int64_t project_directions_workspace_bytes(int64_t n_directions, int64_t dim) {
#ifdef FEDRAS_WITH_CUDA
  return project_directions_cuda_workspace_bytes(n_directions, dim);
#else
  (void)n_directions;
  (void)dim;
  return kStatusBytes;
#endif
}

void py_project_directions(py::handle x, py::handle offsets, py::handle directions, py::handle dir_offsets,
                           py::handle index, py::handle scale, py::handle workspace, bool check, int num_threads,
                           uintptr_t stream) {
  const TensorArg X = borrow(x, "x");
  X.dtype_is(DType::F32).ndim_is(2);
  const int64_t n = X.size(0), d = X.size(1);
  if (d < 1) value_error("x must have at least one column");
  const TensorArg O = borrow(offsets, "offsets");
  O.dtype_is(DType::I64).ndim_is(1).same_device_as(X);
  const int64_t segments = O.size(0) - 1;
  if (segments < 0) value_error("offsets must hold n_segments + 1 entries, got 0");
  const TensorArg D = borrow(directions, "directions");
  D.dtype_is(DType::F32).ndim_is(2).same_device_as(X).dim_is(1, d, "x.shape[1]");
  const TensorArg DO = borrow(dir_offsets, "dir_offsets");
  DO.dtype_is(DType::I64).ndim_is(1).same_device_as(X).dim_is(0, segments + 1, "n_segments + 1");
  const TensorArg IX = borrow(index, "index");
  IX.dtype_is(DType::I32).ndim_is(1).same_device_as(X).writable().dim_is(0, n, "x.shape[0]");
  const TensorArg SC = borrow(scale, "scale");
  SC.dtype_is(DType::F32).ndim_is(1).same_device_as(X).writable().dim_is(0, n, "x.shape[0]");
  bool has_ws = false;
  const TensorArg W = borrow_optional(workspace, "workspace", &has_ws);
  void* strm = reinterpret_cast<void*>(stream);
  const CheckScratch cs = scratch_from_workspace(W, has_ws, X, strm);
  require_workspace(W, has_ws, X, [&] { return project_directions_workspace_bytes(D.size(0), d); });

  if (check || !X.is_cuda()) {
    check_offsets(O, n, "x.shape[0]", cs);
    check_offsets(DO, D.size(0), "directions.shape[0]", cs);
    check_k_per_segment(O, DO, KRule::kNonEmpty, cs);
  }
  if (check) {
    check_finite(X, cs);
    check_finite(D, cs);
  }

  ProjectArgs a;
  a.x = X.ptr<float>();
  a.n_rows = n;
  a.dim = d;
  a.offsets = O.ptr<int64_t>();
  a.n_segments = segments;
  a.directions = D.ptr<float>();
  a.n_directions = D.size(0);
  a.dir_offsets = DO.ptr<int64_t>();
  a.index = IX.ptr<int32_t>();
  a.scale = SC.ptr<float>();
  a.num_threads = num_threads;
  a.workspace = has_ws ? W.data : nullptr;
  a.workspace_bytes = has_ws ? W.numel() : 0;
  a.stream = strm;
  a.device_id = X.device_id;
  dispatch(X, [&] { project_directions_cpu(a); }, [&] { FEDRAS_IF_CUDA(project_directions_cuda(a)); });
}

}  // namespace fedras

#include "ops/kmeans.h"

#include <cmath>

#include "ops/dispatch.h"
#include "ops/ops.h"
#include "ops/validate.h"

namespace py = pybind11;

namespace fedras {

int64_t segmented_kmeans_workspace_bytes(int64_t n_rows, int64_t n_segments, int64_t total_k, int64_t dim) {
#ifdef FEDRAS_WITH_CUDA
  return segmented_kmeans_cuda_workspace_bytes(n_rows, n_segments, total_k, dim);
#else
  (void)n_rows;
  (void)n_segments;
  (void)total_k;
  (void)dim;
  return kStatusBytes;
#endif
}

void py_segmented_kmeans(py::handle x, py::handle offsets, py::handle k_offsets, py::handle segment_ids, py::handle centroids,
                         py::handle assignment, py::handle inertia, py::handle n_iter, py::handle workspace,
                         int iters, double tol, uint64_t seed, const std::string& init, const std::string& metric,
                         bool check, int num_threads, uintptr_t stream) {
  const TensorArg X = borrow(x, "x");
  X.dtype_is(DType::F32).ndim_is(2);
  const int64_t n = X.size(0), d = X.size(1);
  if (d < 1) value_error("x must have at least one column");
  const TensorArg O = borrow(offsets, "offsets");
  O.dtype_is(DType::I64).ndim_is(1).same_device_as(X);
  const int64_t segments = O.size(0) - 1;
  if (segments < 0) value_error("offsets must hold n_segments + 1 entries, got 0");
  const TensorArg K = borrow(k_offsets, "k_offsets");
  K.dtype_is(DType::I64).ndim_is(1).same_device_as(X).dim_is(0, segments + 1, "n_segments + 1");
  bool has_ids = false;
  const TensorArg SI = borrow_optional(segment_ids, "segment_ids", &has_ids);
  if (has_ids) SI.dtype_is(DType::I64).ndim_is(1).same_device_as(X).dim_is(0, segments, "n_segments");
  const TensorArg C = borrow(centroids, "centroids");
  C.dtype_is(DType::F32).ndim_is(2).same_device_as(X).writable().dim_is(1, d, "x.shape[1]");
  const TensorArg A = borrow(assignment, "assignment");
  A.dtype_is(DType::I32).ndim_is(1).same_device_as(X).writable().dim_is(0, n, "x.shape[0]");
  const TensorArg I = borrow(inertia, "inertia");
  I.dtype_is(DType::F64).ndim_is(1).same_device_as(X).writable().dim_is(0, segments, "n_segments");
  const TensorArg T = borrow(n_iter, "n_iter");
  T.dtype_is(DType::I32).ndim_is(1).same_device_as(X).writable().dim_is(0, segments, "n_segments");
  bool has_ws = false;
  const TensorArg W = borrow_optional(workspace, "workspace", &has_ws);
  if (iters < 0) value_error("iters must be >= 0, got ", iters);
  if (!(tol >= 0.0) || !std::isfinite(tol)) value_error("tol must be a finite number >= 0, got ", tol);
  if (init != "kmeans++" && init != "random") value_error("init must be 'kmeans++' or 'random', got '", init, "'");
  if (metric != "l2" && metric != "cosine") value_error("metric must be 'l2' or 'cosine', got '", metric, "'");
  void* strm = reinterpret_cast<void*>(stream);
  const CheckScratch cs = scratch_from_workspace(W, has_ws, X, strm);
  require_workspace(W, has_ws, X, [&] { return segmented_kmeans_workspace_bytes(n, segments, C.size(0), d); });

  // On the CPU the structural checks always run (they guard memory); on CUDA the
  // kernels clamp instead and the checks (which synchronise) run when asked.
  if (check || !X.is_cuda()) {
    check_offsets(O, n, "x.shape[0]", cs);
    check_offsets(K, C.size(0), "centroids.shape[0]", cs);
    check_k_per_segment(O, K, KRule::kClamped, cs);
  }
  if (check) check_finite(X, cs);

  KMeansArgs a;
  a.x = X.ptr<float>();
  a.n_rows = n;
  a.dim = d;
  a.offsets = O.ptr<int64_t>();
  a.n_segments = segments;
  a.k_offsets = K.ptr<int64_t>();
  a.total_k = C.size(0);
  a.segment_ids = has_ids ? SI.ptr<int64_t>() : nullptr;
  a.centroids = C.ptr<float>();
  a.assignment = A.ptr<int32_t>();
  a.inertia = I.ptr<double>();
  a.n_iter = T.ptr<int32_t>();
  a.iters = iters;
  a.tol = tol;
  a.seed = seed;
  a.kmeanspp = init == "kmeans++";
  a.cosine = metric == "cosine";
  a.num_threads = num_threads;
  a.workspace = has_ws ? W.data : nullptr;
  a.workspace_bytes = has_ws ? W.numel() : 0;
  a.stream = strm;
  a.device_id = X.device_id;
  dispatch(X, [&] { segmented_kmeans_cpu(a); }, [&] { FEDRAS_IF_CUDA(segmented_kmeans_cuda(a)); });
}

}  // namespace fedras

// pybind11 module _C. It sees only DLPack tensors, ints and strings: no torch headers,
// no libtorch, so one build works with any torch (or none). Outputs and CUDA
// workspaces are allocated by the caller; CUDA work runs on the stream passed in.
#include <pybind11/pybind11.h>

#include <new>
#include <stdexcept>
#include <utility>

#include "ops/ops.h"
#include "ops/validate.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace {

// Every entry point turns C++ exceptions into Python errors itself and leaves through
// error_already_set, which pybind11's dispatcher restores directly: the exception types
// map here, in one place (std::invalid_argument -> ValueError, std::out_of_range ->
// IndexError), whatever exception translators other modules in the process register.
template <class R, class... A>
auto guarded(R (*fn)(A...)) {
  return [fn](A... args) -> R {
    try {
      return fn(std::forward<A>(args)...);
    } catch (const py::error_already_set&) {
      throw;
    } catch (const py::builtin_exception& e) {  // pybind11's own (cast_error, ...): their Python type
      e.set_error();
    } catch (const std::invalid_argument& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const std::out_of_range& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const std::bad_alloc&) {
      PyErr_SetString(PyExc_MemoryError, "fedras_ext: out of host memory");
    } catch (const std::exception& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
    throw py::error_already_set();
  };
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "fedras native kernels (CPU + optional CUDA), DLPack in, caller-allocated out";

  m.attr("CHECK_WORKSPACE_BYTES") = fedras::kStatusBytes;
  m.def("build_info", guarded(&fedras::build_info), "Build configuration and device availability.");

  m.def("segmented_kmeans_workspace_bytes", guarded(&fedras::segmented_kmeans_workspace_bytes), "n_rows"_a, "n_segments"_a,
        "total_k"_a, "dim"_a,
        "Bytes of CUDA workspace segmented_kmeans needs.");
  m.def("segmented_kmeans", guarded(&fedras::py_segmented_kmeans), "x"_a, "offsets"_a, "k_offsets"_a, "segment_ids"_a, "centroids"_a,
        "assignment"_a, "inertia"_a, "n_iter"_a, "workspace"_a, "iters"_a, "tol"_a, "seed"_a, "init"_a, "metric"_a,
        "check"_a, "num_threads"_a, "stream"_a,
        "k-means per CSR segment of x into caller-allocated outputs (see fedras_ext.segmented_kmeans).");

  m.def("project_directions_workspace_bytes", guarded(&fedras::project_directions_workspace_bytes), "n_directions"_a, "dim"_a);
  m.def("project_directions", guarded(&fedras::py_project_directions), "x"_a, "offsets"_a, "directions"_a, "dir_offsets"_a,
        "index"_a, "scale"_a, "workspace"_a, "check"_a, "num_threads"_a, "stream"_a,
        "Best direction (largest cosine) per row and its projection scale.");

  m.def("apply_actions_workspace_bytes", guarded(&fedras::apply_actions_workspace_bytes), "n_entries"_a, "n_table_rows"_a,
        "deterministic"_a);
  m.def("apply_actions", guarded(&fedras::py_apply_actions), "table"_a, "rows"_a, "action_idx"_a, "actions"_a,
        "action_offsets"_a, "segment_of_row"_a, "row_scale"_a, "workspace"_a, "scale"_a, "reduce"_a,
        "deterministic"_a, "check"_a, "num_threads"_a, "stream"_a,
        "In-place scatter of per-segment actions into table rows (sum or mean).");

  m.def("pack_indices", guarded(&fedras::py_pack_indices), "idx"_a, "bits"_a, "out"_a, "workspace"_a, "check"_a,
        "num_threads"_a, "stream"_a, "Bit-pack int32 indices, little-endian bit order.");
  m.def("unpack_indices", guarded(&fedras::py_unpack_indices), "packed"_a, "bits"_a, "n"_a, "out"_a, "workspace"_a,
        "check"_a, "num_threads"_a, "stream"_a, "Inverse of pack_indices.");
  m.def("pack_index_segments", guarded(&fedras::py_pack_index_segments), "idx"_a, "start"_a, "count"_a, "bits"_a,
        "out"_a, "out_start"_a, "num_threads"_a, "pack_indices of many segments, each from a fresh byte (CPU only).");
  m.def("unpack_index_segments", guarded(&fedras::py_unpack_index_segments), "packed"_a, "start"_a, "count"_a,
        "bits"_a, "out"_a, "out_start"_a, "num_threads"_a, "Inverse of pack_index_segments (CPU only).");

  m.def("mf_train", guarded(&fedras::py_mf_train), "w"_a, "u"_a, "row_ptr"_a, "pos_ptr"_a, "pos_row"_a, "neg_row"_a,
        "table"_a, "rows"_a, "loss_out"_a, "lr"_a, "user_lr"_a, "loss"_a, "check"_a, "num_threads"_a,
        "MF local training of a round's clients, in place on w and u (CPU only).");

  m.def("touched_counts", guarded(&fedras::py_touched_counts), "pos_ptr"_a, "pos_items"_a, "neg_items"_a,
        "n_items"_a, "counts"_a, "num_threads"_a, "Distinct items each client touches (CPU only).");
  m.def("touched_rows", guarded(&fedras::py_touched_rows), "pos_ptr"_a, "pos_items"_a, "neg_items"_a, "n_items"_a,
        "row_ptr"_a, "rows"_a, "pos_row"_a, "neg_row"_a, "num_threads"_a,
        "Each client's sorted touched rows and every sample's row (CPU only).");
  m.def("copy_segments", guarded(&fedras::py_copy_segments), "src"_a, "src_start"_a, "length"_a, "dst"_a,
        "dst_start"_a, "num_threads"_a, "Copy byte ranges of src into dst (CPU only).");
  m.def("crc32_segments", guarded(&fedras::py_crc32_segments), "data"_a, "start"_a, "length"_a, "out"_a,
        "num_threads"_a, "zlib CRC-32 of byte ranges (CPU only).");
  m.def("varint_gap_bytes", guarded(&fedras::py_varint_gap_bytes), "ids"_a, "start"_a, "count"_a, "out"_a,
        "num_threads"_a, "Bytes of each id segment's delta-varint stream (CPU only).");
  m.def("encode_varint_gaps", guarded(&fedras::py_encode_varint_gaps), "ids"_a, "start"_a, "count"_a, "out"_a,
        "out_start"_a, "num_threads"_a, "Delta-varint streams of id segments (CPU only).");
  m.def("decode_varint_gaps", guarded(&fedras::py_decode_varint_gaps), "stream"_a, "start"_a, "nbytes"_a, "count"_a,
        "universe"_a, "ids"_a, "ids_start"_a, "ok"_a, "num_threads"_a,
        "Checked decode of delta-varint id segments (CPU only).");
  m.def("encode_bitmap_ids", guarded(&fedras::py_encode_bitmap_ids), "ids"_a, "start"_a, "count"_a, "universe"_a,
        "out"_a, "out_start"_a, "num_threads"_a, "Bitmaps of id segments (CPU only).");
  m.def("decode_bitmap_ids", guarded(&fedras::py_decode_bitmap_ids), "stream"_a, "start"_a, "count"_a, "universe"_a,
        "ids"_a, "ids_start"_a, "ok"_a, "num_threads"_a, "Checked decode of bitmap id sets (CPU only).");
}

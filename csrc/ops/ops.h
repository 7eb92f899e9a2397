// The Python-facing entry points of _C (argument parsing, checks, dispatch).
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

namespace fedras {

namespace py = pybind11;

int64_t segmented_kmeans_workspace_bytes(int64_t n_rows, int64_t n_segments, int64_t total_k, int64_t dim);
void py_segmented_kmeans(py::handle x, py::handle offsets, py::handle k_offsets, py::handle segment_ids, py::handle centroids,
                         py::handle assignment, py::handle inertia, py::handle n_iter, py::handle workspace,
                         int iters, double tol, uint64_t seed, const std::string& init, const std::string& metric,
                         bool check, int num_threads, uintptr_t stream);

int64_t project_directions_workspace_bytes(int64_t n_directions, int64_t dim);
void py_project_directions(py::handle x, py::handle offsets, py::handle directions, py::handle dir_offsets,
                           py::handle index, py::handle scale, py::handle workspace, bool check, int num_threads,
                           uintptr_t stream);

int64_t apply_actions_workspace_bytes(int64_t n_entries, int64_t n_table_rows, bool deterministic);
void py_apply_actions(py::handle table, py::handle rows, py::handle action_idx, py::handle actions,
                      py::handle action_offsets, py::handle segment_of_row, py::handle row_scale,
                      py::handle workspace, double scale, const std::string& reduce, bool deterministic, bool check,
                      int num_threads, uintptr_t stream);

void py_pack_indices(py::handle idx, int bits, py::handle out, py::handle workspace, bool check, int num_threads,
                     uintptr_t stream);
void py_unpack_indices(py::handle packed, int bits, int64_t n, py::handle out, py::handle workspace, bool check,
                       int num_threads, uintptr_t stream);
void py_pack_index_segments(py::handle idx, py::handle start, py::handle count, int bits, py::handle out,
                            py::handle out_start, int num_threads);
void py_unpack_index_segments(py::handle packed, py::handle start, py::handle count, int bits, py::handle out,
                              py::handle out_start, int num_threads);

void py_mf_train(py::handle w, py::handle u, py::handle row_ptr, py::handle pos_ptr, py::handle pos_row,
                 py::handle neg_row, py::handle table, py::handle rows, py::handle loss_out, double lr, double user_lr,
                 const std::string& loss, bool check, int num_threads);

void py_touched_counts(py::handle pos_ptr, py::handle pos_items, py::handle neg_items, int64_t n_items,
                       py::handle counts, int num_threads);
void py_touched_rows(py::handle pos_ptr, py::handle pos_items, py::handle neg_items, int64_t n_items,
                     py::handle row_ptr, py::handle rows, py::handle pos_row, py::handle neg_row, int num_threads);

void py_copy_segments(py::handle src, py::handle src_start, py::handle length, py::handle dst, py::handle dst_start,
                      int num_threads);
void py_crc32_segments(py::handle data, py::handle start, py::handle length, py::handle out, int num_threads);
void py_varint_gap_bytes(py::handle ids, py::handle start, py::handle count, py::handle out, int num_threads);
void py_encode_varint_gaps(py::handle ids, py::handle start, py::handle count, py::handle out, py::handle out_start,
                           int num_threads);
void py_decode_varint_gaps(py::handle stream, py::handle start, py::handle nbytes, py::handle count, int64_t universe,
                           py::handle ids, py::handle ids_start, py::handle ok, int num_threads);
void py_encode_bitmap_ids(py::handle ids, py::handle start, py::handle count, int64_t universe, py::handle out,
                          py::handle out_start, int num_threads);
void py_decode_bitmap_ids(py::handle stream, py::handle start, py::handle count, int64_t universe, py::handle ids,
                          py::handle ids_start, py::handle ok, int num_threads);

py::dict build_info();

}  // namespace fedras

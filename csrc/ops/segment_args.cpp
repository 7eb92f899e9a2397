#include "ops/segment_args.h"

#include <algorithm>
#include <vector>

#include "common/errors.h"
#include "ops/byte_segments.h"

namespace fedras {

void require_cpu(const TensorArg& t, const char* ops) {
  if (t.is_cuda()) value_error(t.name, " is a CUDA tensor, but the ", ops, " run on the CPU only");
}

TensorArg borrow_segment_values(pybind11::handle h, const char* name, const TensorArg& like, int64_t n,
                                const char* n_what) {
  TensorArg t = borrow(h, name);
  t.dtype_is(DType::I64).ndim_is(1).same_device_as(like);
  if (n >= 0) t.dim_is(0, n, n_what);
  return t;
}

void require_segments_inside(const int64_t* start, const int64_t* length, int64_t n, int64_t total,
                             const char* start_name, const char* of, const char* unit) {
  const int64_t bad = first_segment_out_of_bounds(start, length, n, total);
  if (bad >= 0)
    index_error("segment ", bad, " (", start_name, " ", start[bad], ", length ", length[bad], ") is not inside ", of,
                " of ", total, " ", unit);
}

void require_output_segments(const int64_t* start, const int64_t* length, int64_t n, int64_t total,
                             const char* start_name, const char* of, const char* unit) {
  require_segments_inside(start, length, n, total, start_name, of, unit);
  // Sorted by start, segments overlap iff some segment overlaps the next non-empty one.
  const auto check = [&](int64_t a, int64_t b) {  // a starts no later than b
    if (start[b] - start[a] < length[a])
      value_error("segments ", a, " and ", b, " overlap in ", of, " (", start_name, " ", start[a], " and ", start[b],
                  ", length ", length[a], " and ", length[b], "); the op writes them in parallel, so they must not");
  };
  std::vector<int64_t> order;
  bool in_order = true;
  for (int64_t s = 0; s < n; ++s) {
    if (length[s] == 0) continue;
    if (!order.empty()) {
      if (start[s] < start[order.back()]) {
        in_order = false;
      } else {
        check(order.back(), s);
      }
    }
    order.push_back(s);
  }
  if (in_order) return;
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return start[a] < start[b]; });
  for (size_t i = 1; i < order.size(); ++i) check(order[i - 1], order[i]);
}

}  // namespace fedras

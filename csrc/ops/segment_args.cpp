#include "ops/segment_args.h"

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

}  // namespace fedras

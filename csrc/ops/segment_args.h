// Argument checks shared by the CPU-only segment ops (byte segments, segmented bit
// packing, id sets): one wording per failure, written once.
#pragma once
#include <cstdint>

#include "common/dlpack_arg.h"

namespace fedras {

// These ops run on the CPU only. Checked first, so that a device mismatch with an
// output the wrapper made on the CPU cannot hide it; `ops` names the family.
void require_cpu(const TensorArg& t, const char* ops);

// A 1-D int64 tensor of per-segment values on `like`'s device, holding exactly n of
// them (n_what says where n comes from), or any number when n < 0.
TensorArg borrow_segment_values(pybind11::handle h, const char* name, const TensorArg& like, int64_t n,
                                const char* n_what);

// Every segment [start[s], start[s] + length[s]) lies inside [0, total); else an
// IndexError naming the first that does not:
// "segment s (<start_name> X, length L) is not inside <of> of <total> <unit>".
void require_segments_inside(const int64_t* start, const int64_t* length, int64_t n, int64_t total,
                             const char* start_name, const char* of, const char* unit);

// The segments an op writes in parallel: each inside [0, total), as above, and no two
// non-empty ones sharing an element (else a ValueError naming the first pair found;
// one pass when the starts are in order, as a cumsum gives them, a sort otherwise).
void require_output_segments(const int64_t* start, const int64_t* length, int64_t n, int64_t total,
                             const char* start_name, const char* of, const char* unit);

}  // namespace fedras

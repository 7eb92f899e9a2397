#include "ops/validate.h"

#include <cmath>

#include "common/errors.h"
#include "common/parallel.h"
#include "cuda/checks.h"  // declarations only; also holds the shared bad_k predicate

namespace fedras {
namespace {

#ifndef FEDRAS_WITH_CUDA
[[noreturn]] void no_cuda(const TensorArg& t) {
  value_error(t.name, " is a CUDA tensor, but this build of fedras_ext has no CUDA kernels");
}
#endif

template <class T>
T read_at(const TensorArg& t, int64_t i, const CheckScratch& cs) {
  T v{};
  if (t.is_cuda()) {
#ifdef FEDRAS_WITH_CUDA
    CudaDeviceGuard guard(t.device_id);
    cuda_copy_to_host(&v, t.ptr<T>() + i, sizeof(T), cs.stream);
#else
    (void)cs;
    no_cuda(t);
#endif
  } else {
    v = t.ptr<T>()[i];
  }
  return v;
}

// Smallest i in [0, n) with bad(i), or -1; parallel on the CPU.
template <class Pred>
int64_t first_cpu(int64_t n, Pred bad) {
  int64_t first = n;
#pragma omp parallel for reduction(min : first) schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i)
    if (i < first && bad(i)) first = i;
  return first < n ? first : -1;
}

}  // namespace

CheckScratch scratch_from_workspace(const TensorArg& ws, bool present, const TensorArg& like, void* stream) {
  CheckScratch cs;
  if (!like.is_cuda()) return cs;
  if (!present) value_error(ws.name, " is required for CUDA tensors");
  ws.dtype_is(DType::U8).same_device_as(like).writable();
  if (ws.numel() < kStatusBytes) value_error(ws.name, " must hold at least ", kStatusBytes, " bytes");
  cs.status = ws.ptr<int64_t>();
  cs.stream = stream;
  return cs;
}

void check_offsets(const TensorArg& off, int64_t total, const char* total_what, const CheckScratch& cs) {
  const int64_t count = off.numel();
  if (count < 1) value_error(off.name, " must hold at least one entry (it has n_segments + 1)");
  int64_t pos = -1;
  if (off.is_cuda()) {
#ifdef FEDRAS_WITH_CUDA
    CudaDeviceGuard guard(off.device_id);
    pos = cuda_first_bad_offset(off.ptr<int64_t>(), count, total, cs.status, cs.stream);
#else
    no_cuda(off);
#endif
  } else {
    const int64_t* o = off.ptr<int64_t>();
    pos = first_cpu(count, [&](int64_t i) {
      return (i == 0 && o[0] != 0) || (i > 0 && o[i] < o[i - 1]) || (i == count - 1 && o[i] != total);
    });
  }
  if (pos < 0) return;
  const int64_t v = read_at<int64_t>(off, pos, cs);
  if (pos == 0 && v != 0) value_error(off.name, "[0] must be 0, got ", v);
  if (pos > 0) {
    const int64_t prev = read_at<int64_t>(off, pos - 1, cs);
    if (v < prev)
      value_error(off.name, " must be non-decreasing, but ", off.name, "[", pos, "] = ", v, " < ", off.name, "[",
                  pos - 1, "] = ", prev);
  }
  value_error(off.name, "[-1] must equal ", total_what, " (", total, "), got ", v);
}

void check_index_range(const TensorArg& idx, int64_t hi, const char* hi_what, const CheckScratch& cs) {
  const int64_t n = idx.numel();
  const bool wide = idx.dtype == DType::I64;
  int64_t pos = -1;
  if (idx.is_cuda()) {
#ifdef FEDRAS_WITH_CUDA
    CudaDeviceGuard guard(idx.device_id);
    pos = wide ? cuda_first_outside_i64(idx.ptr<int64_t>(), n, 0, hi, cs.status, cs.stream)
               : cuda_first_outside_i32(idx.ptr<int32_t>(), n, 0, hi, cs.status, cs.stream);
#else
    no_cuda(idx);
#endif
  } else if (wide) {
    const int64_t* v = idx.ptr<int64_t>();
    pos = first_cpu(n, [&](int64_t i) { return v[i] < 0 || v[i] >= hi; });
  } else {
    const int32_t* v = idx.ptr<int32_t>();
    pos = first_cpu(n, [&](int64_t i) { return v[i] < 0 || v[i] >= hi; });
  }
  if (pos < 0) return;
  const int64_t v = wide ? read_at<int64_t>(idx, pos, cs) : read_at<int32_t>(idx, pos, cs);
  index_error(idx.name, "[", pos, "] = ", v, " is out of range [0, ", hi, ") (", hi_what, ")");
}

void check_finite(const TensorArg& v, const CheckScratch& cs) {
  const int64_t n = v.numel();
  int64_t pos = -1;
  if (v.is_cuda()) {
#ifdef FEDRAS_WITH_CUDA
    CudaDeviceGuard guard(v.device_id);
    pos = cuda_first_nonfinite(v.ptr<float>(), n, cs.status, cs.stream);
#else
    no_cuda(v);
#endif
  } else {
    const float* p = v.ptr<float>();
    pos = first_cpu(n, [&](int64_t i) { return !std::isfinite(p[i]); });
  }
  if (pos < 0) return;
  const float bad = read_at<float>(v, pos, cs);
  value_error(v.name, " must be finite, but holds ", std::isnan(bad) ? "NaN" : "Inf", " at flat index ", pos);
}

void check_local_index(const TensorArg& idx, const TensorArg& seg, const TensorArg& seg_off, const CheckScratch& cs) {
  const int64_t n = idx.numel();
  int64_t pos = -1;
  if (idx.is_cuda()) {
#ifdef FEDRAS_WITH_CUDA
    CudaDeviceGuard guard(idx.device_id);
    pos = cuda_first_bad_local_index(idx.ptr<int32_t>(), seg.ptr<int32_t>(), n, seg_off.ptr<int64_t>(), cs.status,
                                     cs.stream);
#else
    no_cuda(idx);
#endif
  } else {
    const int32_t* v = idx.ptr<int32_t>();
    const int32_t* s = seg.ptr<int32_t>();
    const int64_t* o = seg_off.ptr<int64_t>();
    pos = first_cpu(n, [&](int64_t i) { return v[i] < 0 || v[i] >= o[s[i] + 1] - o[s[i]]; });
  }
  if (pos < 0) return;
  const int32_t v = read_at<int32_t>(idx, pos, cs);
  const int32_t s = read_at<int32_t>(seg, pos, cs);
  const int64_t size = read_at<int64_t>(seg_off, s + 1, cs) - read_at<int64_t>(seg_off, s, cs);
  index_error(idx.name, "[", pos, "] = ", v, " is out of range [0, ", size, ") for its segment ", s, " (",
              seg_off.name, " gives that segment ", size, " rows)");
}

void check_k_per_segment(const TensorArg& off, const TensorArg& k_off, KRule rule, const CheckScratch& cs) {
  const int64_t segments = off.numel() - 1;
  int64_t pos = -1;
  if (off.is_cuda()) {
#ifdef FEDRAS_WITH_CUDA
    CudaDeviceGuard guard(off.device_id);
    pos = cuda_first_bad_k(off.ptr<int64_t>(), k_off.ptr<int64_t>(), segments, int(rule), cs.status, cs.stream);
#else
    no_cuda(off);
#endif
  } else {
    const int64_t* o = off.ptr<int64_t>();
    const int64_t* k = k_off.ptr<int64_t>();
    pos = first_cpu(segments, [&](int64_t s) { return bad_k(o[s + 1] - o[s], k[s + 1] - k[s], int(rule)); });
  }
  if (pos < 0) return;
  const int64_t n = read_at<int64_t>(off, pos + 1, cs) - read_at<int64_t>(off, pos, cs);
  const int64_t ks = read_at<int64_t>(k_off, pos + 1, cs) - read_at<int64_t>(k_off, pos, cs);
  if (rule == KRule::kNonEmpty)
    value_error(k_off.name, " gives segment ", pos, " no entries but it has ", n, " rows");
  value_error(k_off.name, " gives segment ", pos, " ", ks, " clusters but it has ", n,
              " rows; k must lie in [1, rows] (0 for an empty segment)");
}

}  // namespace fedras

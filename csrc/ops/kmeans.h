// segmented_kmeans: one k-means per CSR segment of rows, all in one call.
#pragma once
#include <cstdint>

namespace fedras {

struct KMeansArgs {
  const float* x = nullptr;        // [n_rows, dim]
  int64_t n_rows = 0;
  int64_t dim = 0;
  const int64_t* offsets = nullptr;    // [n_segments + 1], CSR over rows
  int64_t n_segments = 0;
  const int64_t* k_offsets = nullptr;  // [n_segments + 1], CSR over centroid rows (k already clamped)
  int64_t total_k = 0;
  const int64_t* segment_ids = nullptr;  // [n_segments] random stream of each segment; nullptr: its index
  float* centroids = nullptr;      // [total_k, dim] out
  int32_t* assignment = nullptr;   // [n_rows] out, local to each segment
  double* inertia = nullptr;       // [n_segments] out
  int32_t* n_iter = nullptr;       // [n_segments] out
  int iters = 25;
  double tol = 0.0;
  uint64_t seed = 0;
  bool kmeanspp = true;            // else "random" init
  bool cosine = false;             // spherical k-means on normalised rows
  int num_threads = 0;             // 0: the OpenMP default
  void* workspace = nullptr;       // CUDA only: caller-allocated scratch
  int64_t workspace_bytes = 0;
  void* stream = nullptr;          // CUDA only: the caller's cudaStream_t
  int device_id = 0;               // CUDA: the device all tensors live on
};

void segmented_kmeans_cpu(const KMeansArgs& a);

#ifdef FEDRAS_WITH_CUDA
int64_t segmented_kmeans_cuda_workspace_bytes(int64_t n_rows, int64_t n_segments, int64_t total_k, int64_t dim);
void segmented_kmeans_cuda(const KMeansArgs& a);
#endif

}  // namespace fedras

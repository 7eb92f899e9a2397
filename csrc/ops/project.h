// project_directions: per row, the direction of its segment with the largest cosine,
// and the projection scale x . a_hat.
#pragma once
#include <cstdint>

namespace fedras {

struct ProjectArgs {
  const float* x = nullptr;               // [n_rows, dim]
  int64_t n_rows = 0;
  int64_t dim = 0;
  const int64_t* offsets = nullptr;       // [n_segments + 1] over rows
  int64_t n_segments = 0;
  const float* directions = nullptr;      // [n_directions, dim]
  int64_t n_directions = 0;
  const int64_t* dir_offsets = nullptr;   // [n_segments + 1] over directions
  int32_t* index = nullptr;               // [n_rows] out, local to the segment
  float* scale = nullptr;                 // [n_rows] out
  int num_threads = 0;
  void* workspace = nullptr;              // CUDA: n_directions * dim floats (unit directions)
  int64_t workspace_bytes = 0;
  void* stream = nullptr;
  int device_id = 0;                      // CUDA: the device all tensors live on
};

void project_directions_cpu(const ProjectArgs& a);

#ifdef FEDRAS_WITH_CUDA
int64_t project_directions_cuda_workspace_bytes(int64_t n_directions, int64_t dim);
void project_directions_cuda(const ProjectArgs& a);
#endif

}  // namespace fedras

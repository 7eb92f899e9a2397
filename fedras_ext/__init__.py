"""fedras_ext: the native ops of fedras (C++/OpenMP and CUDA), with PyTorch references.

Ops (each also registered as a ``torch.library.custom_op`` under ``torch.ops.fedras``):

- :func:`segmented_kmeans` - batched k-means over ragged per-client row sets.
- :func:`project_directions` - best direction per row and its projection scale.
- :func:`apply_actions` - in-place scatter of per-client actions into an item table.
- :func:`pack_indices` / :func:`unpack_indices` - 1..16-bit index packing;
  :func:`pack_index_segments` / :func:`unpack_index_segments` - many streams at once (CPU).
- :func:`mf_train` - the MF local training of a whole round, fused per client (CPU).
- :func:`touched_rows` - a round's touched item rows per client, and every sample's
  index into them (CPU).
- :func:`copy_segments` / :func:`crc32_segments` - many byte ranges copied or
  checksummed at once, for the payload codec (CPU).
- :func:`varint_gap_bytes` / :func:`encode_varint_gaps` / :func:`decode_varint_gaps` /
  :func:`encode_bitmap_ids` / :func:`decode_bitmap_ids` - delta-varint and bitmap id
  sets (the codec's RowSet bodies), many at once (CPU).

Pure-PyTorch references with the same signatures live in :mod:`fedras_ext.reference`.
"""
from __future__ import annotations

from typing import Any, Dict

from ._native import _C
from .bitpack import bits_for, pack_index_segments, pack_indices, packed_nbytes, unpack_index_segments, unpack_indices
from .byte_segments import copy_segments, crc32_segments
from .kmeans import KMeansResult, segmented_kmeans
from .mf_train import mf_train
from .touched_rows import touched_rows
from .project import project_directions
from .varint_gaps import decode_bitmap_ids, decode_varint_gaps, encode_bitmap_ids, encode_varint_gaps, varint_gap_bytes
from .scatter import apply_actions

__version__ = _C.build_info()["version"]


def build_info() -> Dict[str, Any]:
    """How the native module was built and what it can use now.

    Keys: ``version``, ``cuda_compiled`` (bool), ``cuda_archs`` (list of ints, e.g. ``[80, 90]``),
    ``cuda_runtime_version``, ``cuda_device_count``, ``gpu_available`` (a CUDA device is usable
    now), ``openmp``, ``openmp_threads``, ``dlpack``, ``links_libtorch`` (always False).
    """
    return dict(_C.build_info())


__all__ = [
    "KMeansResult",
    "apply_actions",
    "bits_for",
    "build_info",
    "copy_segments",
    "crc32_segments",
    "mf_train",
    "touched_rows",
    "pack_index_segments",
    "pack_indices",
    "packed_nbytes",
    "project_directions",
    "segmented_kmeans",
    "unpack_index_segments",
    "unpack_indices",
    "varint_gap_bytes",
    "encode_varint_gaps",
    "decode_varint_gaps",
    "encode_bitmap_ids",
    "decode_bitmap_ids",
]

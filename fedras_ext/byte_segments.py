"""copy_segments / crc32_segments: many byte ranges at once (CPU only).

The payload codec (:mod:`fedras.codec.batch`, :mod:`fedras.codec.batch_decode`)
assembles and checks a round's payloads with these instead of a Python loop per
payload. A segment is ``(start, length)`` into a flat uint8 buffer.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from . import _native
from ._interop import index_view, read_view, write_view
from ._native import _C, capsule


@_native.custom_op("fedras::copy_segments", mutates_args=("dst",))
def _copy_op(src: torch.Tensor, src_start: torch.Tensor, length: torch.Tensor, dst: torch.Tensor,
             dst_start: torch.Tensor) -> None:
    _C.copy_segments(capsule(src), capsule(src_start), capsule(length), capsule(dst), capsule(dst_start),
                     _native.num_threads())


@_copy_op.register_fake
def _(src, src_start, length, dst, dst_start):
    return None


@_native.custom_op("fedras::crc32_segments", mutates_args=())
def _crc32_op(data: torch.Tensor, start: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    out = torch.empty(start.shape[0], dtype=torch.int64)
    _C.crc32_segments(capsule(data), capsule(start), capsule(length), capsule(out), _native.num_threads())
    return out


@_crc32_op.register_fake
def _(data, start, length):
    return start.new_empty((start.shape[0],), dtype=torch.int64)


def copy_segments(src: Any, src_start: Any, length: Any, dst: Any, dst_start: Any) -> None:
    """``dst[dst_start[s]: dst_start[s] + length[s]] = src[src_start[s]: ... + length[s]]``
    for every segment ``s``, in place on ``dst``.

    Args:
        src: uint8 ``[N]`` (numpy, read-only allowed, or a CPU tensor).
        src_start, length, dst_start: int64 ``[S]``.
        dst: uint8 ``[M]``, writable.

    Raises ValueError for a wrong dtype, shape or device or for two non-empty segments
    that overlap in ``dst`` (they are copied in parallel), IndexError for a segment
    outside ``src`` or ``dst`` (naming the first).
    """
    _copy_op(read_view(src, "src"), index_view(src_start, "src_start"), index_view(length, "length"),
             write_view(dst, "dst"), index_view(dst_start, "dst_start"))


def crc32_segments(data: Any, start: Any, length: Any) -> np.ndarray:
    """CRC-32 (``zlib.crc32``) of every segment ``data[start[s]: start[s] + length[s]]``.

    Args:
        data: uint8 ``[N]`` (numpy, read-only allowed, or a CPU tensor).
        start, length: int64 ``[S]``.

    Returns int64 ``[S]`` numpy, each in ``[0, 2**32)``. Raises as :func:`copy_segments`.
    """
    return _crc32_op(read_view(data, "data"), index_view(start, "start"), index_view(length, "length")).numpy()

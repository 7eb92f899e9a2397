"""pack_indices / unpack_indices: small indices at 1..16 bits each.

Layout (little-endian bit order): index ``i`` occupies stream bits
``[i * bits, (i + 1) * bits)``, least significant bit first, and stream bit ``p`` is
bit ``p % 8`` of byte ``p // 8``. The last byte's unused high bits are zero. The packed
length is ``ceil(n * bits / 8)`` bytes.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import torch

from . import _native
from ._checks import require
from ._interop import as_tensor, index_view, read_view, to_kind
from ._native import _C, capsule, stream_of


def packed_nbytes(n: int, bits: int) -> int:
    """Bytes that ``n`` indices of ``bits`` bits occupy."""
    return (n * bits + 7) // 8


_POWERS_OF_TWO = np.left_shift(np.int64(1), np.arange(63, dtype=np.int64))


def bits_for(k: Any) -> Any:
    """Bits per index for ``k`` possible values: ``ceil(log2 k)``, at least 1.

    ``k``: an int (returns an int) or an integer array (returns int64 of its shape, one
    call for a round's clients). Raises ValueError for a ``k`` below 1 or over 2**62."""
    arr = np.asarray(k)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"k must be integers, got {arr.dtype}")
    if arr.size and arr.min() < 1:
        raise ValueError(f"k must be >= 1, got {int(arr.min())}")
    if arr.size and arr.max() > 1 << 62:
        raise ValueError(f"k must be at most 2**62, got {int(arr.max())}")
    arr = arr.astype(np.int64)  # uint64 would meet the table as float64
    bits = np.maximum(1, np.searchsorted(_POWERS_OF_TWO, arr))  # the first power of two >= k
    return int(bits) if arr.ndim == 0 else bits.astype(np.int64)


def _check_bits(bits: int) -> None:
    if not isinstance(bits, int) or not 1 <= bits <= 16:
        raise ValueError(f"bits must be an int in [1, 16], got {bits!r}")


@_native.custom_op("fedras::pack_indices", mutates_args=())
def _pack_op(idx: torch.Tensor, bits: int, validate: bool) -> torch.Tensor:
    out = torch.empty(packed_nbytes(idx.numel(), bits), dtype=torch.uint8, device=idx.device)
    ws = _native.workspace(idx, int, _C.CHECK_WORKSPACE_BYTES)
    _C.pack_indices(capsule(idx), bits, capsule(out), _native.optional_capsule(ws), validate, _native.num_threads(), stream_of(idx))
    return out


@_pack_op.register_fake
def _(idx, bits, validate):
    return idx.new_empty((packed_nbytes(idx.shape[0], bits),), dtype=torch.uint8)


@_native.custom_op("fedras::unpack_indices", mutates_args=())
def _unpack_op(packed: torch.Tensor, bits: int, n: int) -> torch.Tensor:
    out = torch.empty(n, dtype=torch.int32, device=packed.device)
    _C.unpack_indices(capsule(packed), bits, n, capsule(out), None, False, _native.num_threads(), stream_of(packed))
    return out


@_unpack_op.register_fake
def _(packed, bits, n):
    return packed.new_empty((n,), dtype=torch.int32)


def pack_indices(idx: Any, bits: int, *, validate: bool = True) -> Any:
    """Bit-pack int32 ``[n]`` indices in ``[0, 2**bits)`` into uint8 ``[ceil(n*bits/8)]``.

    Out-of-range values raise ``IndexError`` (on CUDA with ``validate=False`` they are
    masked to ``bits`` bits instead).
    """
    _check_bits(bits)
    t, kind = as_tensor(idx, "idx")
    require(t, "idx", dtype=torch.int32, ndim=1)
    return to_kind(_pack_op(t, bits, validate), kind)


def unpack_indices(packed: Any, bits: int, n: int) -> Any:
    """Inverse of :func:`pack_indices`: uint8 ``[ceil(n*bits/8)]`` to int32 ``[n]``."""
    _check_bits(bits)
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    t, kind = as_tensor(packed, "packed")
    require(t, "packed", dtype=torch.uint8, ndim=1)
    if t.numel() != packed_nbytes(n, bits):
        raise ValueError(f"packed must hold ceil(n * bits / 8) = {packed_nbytes(n, bits)} bytes, got {t.numel()}")
    return to_kind(_unpack_op(t, bits, n), kind)


# ----------------------------------------------------------------- many streams at once (CPU)


def _segment_starts(count: torch.Tensor, bits: int) -> torch.Tensor:
    nbytes = (count.clamp(min=0) * bits + 7) // 8
    return torch.cumsum(nbytes, 0) - nbytes


@_native.custom_op("fedras::pack_index_segments", mutates_args=())
def _pack_segments_op(idx: torch.Tensor, start: torch.Tensor, count: torch.Tensor, bits: int) -> torch.Tensor:
    out_start = _segment_starts(count, bits)
    total = int((count.clamp(min=0) * bits + 7).div(8, rounding_mode="floor").sum())
    out = torch.empty(total, dtype=torch.uint8)
    _C.pack_index_segments(capsule(idx), capsule(start), capsule(count), bits, capsule(out), capsule(out_start),
                           _native.num_threads())
    return out


@_pack_segments_op.register_fake
def _(idx, start, count, bits):
    return idx.new_empty((torch.library.get_ctx().new_dynamic_size(),), dtype=torch.uint8)


@_native.custom_op("fedras::unpack_index_segments", mutates_args=())
def _unpack_segments_op(packed: torch.Tensor, start: torch.Tensor, count: torch.Tensor, bits: int) -> torch.Tensor:
    counts = count.clamp(min=0)
    out = torch.empty(int(counts.sum()), dtype=torch.int32)
    _C.unpack_index_segments(capsule(packed), capsule(torch.cumsum(counts, 0) - counts), capsule(count), bits,
                             capsule(out), capsule(start), _native.num_threads())
    return out


@_unpack_segments_op.register_fake
def _(packed, start, count, bits):
    return packed.new_empty((torch.library.get_ctx().new_dynamic_size(),), dtype=torch.int32)


def pack_index_segments(idx: Any, start: Any, count: Any, bits: int) -> np.ndarray:
    """Pack segment ``s`` = ``idx[start[s]: start[s] + count[s]]`` as :func:`pack_indices`
    does, each from a fresh byte, and lay the packed segments end to end (CPU only).

    Args:
        idx: int32 ``[M]``; every value inside a segment in ``[0, 2**bits)``.
        start, count: int64 ``[S]``.
        bits: 1..16.

    Returns uint8 ``[sum(ceil(count * bits / 8))]`` numpy. Raises IndexError for a value
    out of range or a segment outside ``idx``, ValueError for bad bits, dtype or device.
    """
    _check_bits(bits)
    return _pack_segments_op(read_view(idx, "idx"), index_view(start, "start"), index_view(count, "count"), bits).numpy()


def unpack_index_segments(packed: Any, start: Any, count: Any, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_index_segments` for the streams at byte offsets ``start``
    (int64 ``[S]``) of ``packed`` (uint8), ``count[s]`` indices each: int32
    ``[sum(count)]`` numpy, segments end to end. Raises IndexError for a stream outside
    ``packed``."""
    _check_bits(bits)
    return _unpack_segments_op(read_view(packed, "packed"), index_view(start, "start"), index_view(count, "count"),
                               bits).numpy()

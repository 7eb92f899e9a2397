"""Id sets, many at once (CPU only): the codec's RowSet bodies.

Segment ``s`` is ``count[s]`` ids starting at ``ids[start[s]]``. Its delta-varint
stream (sorted unique ids) is the unsigned LEB128 varint (7 bits a byte, low group
first, high bit = more) of the first id, then of each gap to the previous id, each in
its shortest form. Its bitmap over a universe of ``U`` ids is ``ceil(U / 8)`` bytes,
bit ``i`` of byte ``b`` set for id ``8 b + i`` (:func:`encode_bitmap_ids`,
:func:`decode_bitmap_ids`).
"""
from __future__ import annotations

from typing import Any, Tuple

import numpy as np
import torch

from . import _native
from ._native import _C, capsule
from ._interop import index_view, read_view, write_view


@_native.custom_op("fedras::varint_gap_bytes", mutates_args=())
def _bytes_op(ids: torch.Tensor, start: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    out = torch.empty(start.shape[0], dtype=torch.int64)
    _C.varint_gap_bytes(capsule(ids), capsule(start), capsule(count), capsule(out), _native.num_threads())
    return out


@_bytes_op.register_fake
def _(ids, start, count):
    return start.new_empty((start.shape[0],), dtype=torch.int64)


@_native.custom_op("fedras::encode_varint_gaps", mutates_args=("out",))
def _encode_op(ids: torch.Tensor, start: torch.Tensor, count: torch.Tensor, out: torch.Tensor,
               out_start: torch.Tensor) -> None:
    _C.encode_varint_gaps(capsule(ids), capsule(start), capsule(count), capsule(out), capsule(out_start),
                          _native.num_threads())


@_encode_op.register_fake
def _(ids, start, count, out, out_start):
    return None


@_native.custom_op("fedras::encode_bitmap_ids", mutates_args=("out",))
def _encode_bitmap_op(ids: torch.Tensor, start: torch.Tensor, count: torch.Tensor, universe: int, out: torch.Tensor,
                      out_start: torch.Tensor) -> None:
    _C.encode_bitmap_ids(capsule(ids), capsule(start), capsule(count), universe, capsule(out), capsule(out_start),
                         _native.num_threads())


@_encode_bitmap_op.register_fake
def _(ids, start, count, universe, out, out_start):
    return None


def _decode_outputs(start: torch.Tensor, count: torch.Tensor, universe: int):
    """ids (int64, room for every declared id), where each segment's ids start, ok.
    Checks the counts first, so that a wild one raises instead of allocating."""
    if universe < 0:
        raise ValueError(f"universe must be >= 0, got {universe}")
    bad = torch.nonzero((count < 0) | (count > universe))
    if bad.numel():
        s = int(bad[0])
        raise ValueError(f"count[{s}] = {int(count[s])} is outside [0, universe = {universe}]: "
                         "a set of distinct ids below the universe has no more than that")
    return (torch.empty(int(count.sum()), dtype=torch.int64), torch.cumsum(count, 0) - count,
            torch.empty(start.shape[0], dtype=torch.uint8))


def _decode_fake(stream, start, *_):
    n = torch.library.get_ctx().new_dynamic_size()
    return stream.new_empty((n,), dtype=torch.int64), stream.new_empty((start.shape[0],), dtype=torch.bool)


@_native.custom_op("fedras::decode_varint_gaps", mutates_args=())
def _decode_op(stream: torch.Tensor, start: torch.Tensor, nbytes: torch.Tensor, count: torch.Tensor,
               universe: int) -> Tuple[torch.Tensor, torch.Tensor]:
    ids, ids_start, ok = _decode_outputs(start, count, universe)
    _C.decode_varint_gaps(capsule(stream), capsule(start), capsule(nbytes), capsule(count), universe, capsule(ids),
                          capsule(ids_start), capsule(ok), _native.num_threads())
    return ids, ok.bool()


@_native.custom_op("fedras::decode_bitmap_ids", mutates_args=())
def _bitmap_op(stream: torch.Tensor, start: torch.Tensor, count: torch.Tensor,
               universe: int) -> Tuple[torch.Tensor, torch.Tensor]:
    ids, ids_start, ok = _decode_outputs(start, count, universe)
    _C.decode_bitmap_ids(capsule(stream), capsule(start), capsule(count), universe, capsule(ids), capsule(ids_start),
                         capsule(ok), _native.num_threads())
    return ids, ok.bool()


_decode_op.register_fake(_decode_fake)
_bitmap_op.register_fake(_decode_fake)


def varint_gap_bytes(ids: Any, start: Any, count: Any) -> np.ndarray:
    """Bytes of each segment's delta-varint stream: int64 ``[S]`` numpy.

    Args:
        ids: int64 ``[N]``; each segment's ids sorted, unique and non-negative.
        start, count: int64 ``[S]``: segment ``s`` is ``ids[start[s]: start[s] + count[s]]``.

    Raises ValueError for unsorted, repeated or negative ids (naming the segment) or a
    wrong dtype/shape/device, IndexError for a segment outside ``ids``.
    """
    return _bytes_op(read_view(ids, "ids"), index_view(start, "start"), index_view(count, "count")).numpy()


def encode_varint_gaps(ids: Any, start: Any, count: Any, out: Any, out_start: Any) -> None:
    """Write segment ``s``'s stream (:func:`varint_gap_bytes` ``[s]`` bytes) at
    ``out[out_start[s]:]``, in place on ``out`` (uint8 ``[M]``, writable). Raises as
    :func:`varint_gap_bytes`, IndexError for a stream that would not fit ``out`` and
    ValueError for two non-empty streams that would overlap in it (they are written in
    parallel)."""
    _encode_op(read_view(ids, "ids"), index_view(start, "start"), index_view(count, "count"),
               write_view(out, "out"), index_view(out_start, "out_start"))


def decode_varint_gaps(stream: Any, start: Any, nbytes: Any, count: Any, universe: int) -> Tuple[np.ndarray, np.ndarray]:
    """Decode the delta-varint bodies ``stream[start[s]: start[s] + nbytes[s]]``, each
    declared to hold ``count[s]`` ids over ``[0, universe)``.

    Returns ``(ids, ok)``: int64 ``[sum(count)]`` the ids, segment after segment, and
    bool ``[S]``, true where the body is exactly ``count[s]`` varints, each at most 10
    bytes, within 64 bits and in its shortest form, whose running sums are strictly
    increasing ids below ``universe``. The ids of a segment that is not ok are
    unspecified. Raises IndexError for a body outside ``stream``, ValueError for a
    wrong dtype/shape/device, a negative ``universe`` or a count outside
    ``[0, universe]`` (screen declared counts first: no such set exists).
    """
    ids, ok = _decode_op(read_view(stream, "stream"), index_view(start, "start"), index_view(nbytes, "nbytes"),
                         index_view(count, "count"), int(universe))
    return ids.numpy(), ok.numpy()


def encode_bitmap_ids(ids: Any, start: Any, count: Any, universe: int, out: Any, out_start: Any) -> None:
    """Write segment ``s``'s bitmap over ``[0, universe)`` (``ceil(universe / 8)`` bytes,
    bit ``i`` of byte ``b`` set for id ``8 b + i``) at ``out[out_start[s]:]``, in place
    on ``out`` (uint8 ``[M]``, writable).

    Args:
        ids: int64 ``[N]``; segment ``s`` is ``ids[start[s]: start[s] + count[s]]``, its
            ids in ``[0, universe)`` (repeats and order do not matter to a bitmap).
        start, count, out_start: int64 ``[S]``.

    The bitmaps must not overlap in ``out`` (segments are written in parallel):
    ValueError names the first pair that does.

    Raises IndexError for an id outside the universe (naming the first such segment;
    every bitmap is still written, without those ids) or a segment outside ``ids`` or
    ``out``, ValueError for a wrong dtype/shape/device or a negative ``universe``.
    """
    _encode_bitmap_op(read_view(ids, "ids"), index_view(start, "start"), index_view(count, "count"), int(universe),
                      write_view(out, "out"), index_view(out_start, "out_start"))


def decode_bitmap_ids(stream: Any, start: Any, count: Any, universe: int) -> Tuple[np.ndarray, np.ndarray]:
    """Decode the bitmap bodies ``stream[start[s]: start[s] + ceil(universe / 8)]``, each
    declared to hold ``count[s]`` ids over ``[0, universe)``.

    Returns ``(ids, ok)``: int64 ``[sum(count)]`` the set bits' positions, ascending,
    segment after segment, and bool ``[S]``, true where exactly ``count[s]`` bits are set
    and none at or beyond ``universe``. The ids of a segment that is not ok are
    unspecified. Raises IndexError for a body outside ``stream``, ValueError for a wrong
    dtype/shape/device, a negative ``universe`` or a count outside ``[0, universe]``.
    """
    ids, ok = _bitmap_op(read_view(stream, "stream"), index_view(start, "start"), index_view(count, "count"),
                         int(universe))
    return ids.numpy(), ok.numpy()

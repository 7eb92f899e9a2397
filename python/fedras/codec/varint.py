"""Vectorised unsigned LEB128 varints (7 bits per byte, low group first, high bit = more).

No Python loop runs per value: byte lengths come from one ``searchsorted``, encoding
fills a ``[n, longest]`` matrix of 7-bit groups and keeps the used ones, and decoding
finds value boundaries with ``flatnonzero`` and sums shifted groups with ``reduceat``.
"""
from __future__ import annotations

import numpy as np

from .errors import MalformedField

MAX_VARINT_BYTES = 10  # ceil(64 / 7)
# A value needs k + 1 bytes when it is >= 2**(7k) and < 2**(7(k+1)).
_THRESHOLDS = np.array([1 << (7 * k) for k in range(1, MAX_VARINT_BYTES)], dtype=np.uint64)
_SHIFTS = (7 * np.arange(MAX_VARINT_BYTES)).astype(np.uint64)
_COLUMNS = np.arange(MAX_VARINT_BYTES)


def uvarint_lengths(values: np.ndarray) -> np.ndarray:
    """Encoded byte length of each value: uint64 ``[n]`` -> int64 ``[n]`` in 1..10."""
    return np.searchsorted(_THRESHOLDS, values, side="right").astype(np.int64) + 1


def encode_uvarints(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """LEB128 stream of ``values`` (uint64 ``[n]``) given their ``uvarint_lengths``: uint8 ``[sum(lengths)]``."""
    if values.size == 0:
        return np.zeros(0, dtype=np.uint8)
    width = int(lengths.max())
    groups = ((values[:, None] >> _SHIFTS[:width]) & np.uint64(0x7F)).astype(np.uint8)
    used = _COLUMNS[:width] < lengths[:, None]
    groups[:, :-1] |= used[:, 1:].view(np.uint8) << 7  # continuation bit: the next group is used
    return groups[used]  # row-major: each value's groups in order


def decode_uvarints(stream: np.ndarray, count: int) -> np.ndarray:
    """Decode exactly ``count`` varints that fill ``stream`` (uint8 ``[m]``) exactly: uint64 ``[count]``.

    Raises :class:`MalformedField` when the stream holds a different number of values,
    ends inside a value, or has a value longer than 10 bytes, over 64 bits, or not in
    its shortest form (so every value has exactly one encoding).
    """
    if count == 0:
        if stream.size:
            raise MalformedField(f"varint stream of {stream.size} bytes for 0 values")
        return np.zeros(0, dtype=np.uint64)
    last = np.flatnonzero(stream < 0x80)  # final byte of each value
    if last.size != count:
        raise MalformedField(f"varint stream holds {last.size} complete values, header declares {count}")
    if stream[-1] >= 0x80:
        raise MalformedField(f"varint stream ends inside a value ({stream.size - 1 - int(last[-1])} stray bytes)")
    lengths = np.empty_like(last)
    lengths[0] = last[0] + 1
    lengths[1:] = last[1:] - last[:-1]
    longest = int(lengths.max())
    if longest > MAX_VARINT_BYTES:
        raise MalformedField(f"varint of {longest} bytes (at most {MAX_VARINT_BYTES})")
    if longest == MAX_VARINT_BYTES and np.any(stream[last[lengths == MAX_VARINT_BYTES]] > 1):
        raise MalformedField("varint value over 64 bits")
    starts = last - (lengths - 1)
    group_index = np.arange(stream.size) - np.repeat(starts, lengths)
    # Groups of one value occupy disjoint bits, so their sum is their bitwise OR.
    values = np.add.reduceat((stream & 0x7F).astype(np.uint64) << _SHIFTS[group_index], starts)
    if not np.array_equal(uvarint_lengths(values), lengths):
        raise MalformedField("varint not in its shortest form")
    return values

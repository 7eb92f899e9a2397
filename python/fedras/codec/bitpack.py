"""Bit packing for :class:`~fedras.codec.Packed`, byte-identical to ``fedras_ext.pack_indices``.

Layout: index i occupies stream bits ``[i*bits, (i+1)*bits)``, LSB first; stream bit p
is bit ``p % 8`` of byte ``p // 8``; the unused high bits of the last byte are zero.

Small inputs (a client's few hundred indices) are packed in numpy, because the native
op's torch dispatch alone costs ~50 us per call; large inputs (one stream or a batch of
them) go to the native multithreaded ops, which are then far faster. Widths of 2, 4
and 8 bits (and 16 to pack) need no bit matrix: each lane of the bytes is shifted as a
whole (1.5-2x faster; 4 bits is the default k = 16).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

import fedras_ext

NATIVE_MIN_BITS = 1 << 15  # payloads of at least this many bits (4 KiB) use fedras_ext
_BIT_VALUES = (1 << np.arange(16)).astype(np.int32)


def packed_nbytes(count: int, bits: int) -> int:
    """Bytes that ``count`` indices of ``bits`` bits occupy: ``ceil(count * bits / 8)``."""
    return (count * bits + 7) // 8


def offsets(counts: np.ndarray) -> np.ndarray:
    """int64 ``[S + 1]``: CSR offsets of segments of ``counts`` items."""
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _slot_of_each(counts: np.ndarray, per: int, nbytes: np.ndarray) -> Optional[np.ndarray]:
    """Where index i goes among the ``per``-wide lanes of the packed bytes, each segment
    starting on a fresh byte; None when that is just i (no segment needs padding)."""
    if counts.size <= 1 or not np.any(counts[:-1] % per):
        return None
    shift = offsets(nbytes)[:-1] * per - offsets(counts)[:-1]
    return np.repeat(shift, counts) + np.arange(int(counts.sum()))


def _bit_of_each(counts: np.ndarray, bits: int, nbytes: np.ndarray) -> np.ndarray:
    """int64 ``[M, bits]``: the stream bit of every bit of every index."""
    shift = offsets(nbytes)[:-1] * 8 - offsets(counts)[:-1] * bits
    return (np.repeat(shift, counts) + np.arange(int(counts.sum())) * bits)[:, None] + np.arange(bits)


def pack_segments(idx: np.ndarray, counts: np.ndarray, bits: int) -> np.ndarray:
    """Segments of ``idx`` (int32 ``[M]`` in ``[0, 2**bits)``, ``counts`` int64 ``[S]``)
    each packed as :func:`pack` packs it, from a fresh byte, concatenated: uint8."""
    if idx.size * bits >= NATIVE_MIN_BITS:
        return fedras_ext.pack_index_segments(np.ascontiguousarray(idx), offsets(counts)[:-1], counts, bits)
    if bits == 16:  # every segment ends on a byte boundary
        return idx.astype("<u2").view(np.uint8)
    nbytes = (counts * bits + 7) // 8
    if bits in (2, 4, 8):
        per = 8 // bits
        lanes = np.zeros(int(nbytes.sum()) * per, dtype=np.uint8)
        slot = _slot_of_each(counts, per, nbytes)
        if slot is None:
            lanes[: idx.size] = idx
        else:
            lanes[slot] = idx
        out = lanes[0::per].copy()  # index j of each byte is lane j, at bit j * bits
        for j in range(1, per):
            out |= lanes[j::per] << np.uint8(j * bits)
        return out
    stream = np.zeros(int(nbytes.sum()) * 8, dtype=bool)
    stream[_bit_of_each(counts, bits, nbytes)] = (idx[:, None] & _BIT_VALUES[:bits]) != 0
    return np.packbits(stream, bitorder="little")


def unpack_segments(packed: np.ndarray, counts: np.ndarray, bits: int) -> np.ndarray:
    """The inverse of :func:`pack_segments`: int32 ``[sum(counts)]`` (a new array). The
    caller checks that ``packed`` holds exactly those bytes."""
    if packed.size * 8 >= NATIVE_MIN_BITS:
        return fedras_ext.unpack_index_segments(packed, offsets((counts * bits + 7) // 8)[:-1], counts, bits)
    if bits == 16:
        return packed.view("<u2").astype(np.int32)
    nbytes = (counts * bits + 7) // 8
    if bits in (2, 4, 8):
        per = 8 // bits
        lanes = np.empty(packed.size * per, dtype=np.int32)
        lanes[0::per] = packed & np.uint8((1 << bits) - 1)
        for j in range(1, per - 1):
            lanes[j::per] = (packed >> np.uint8(j * bits)) & np.uint8((1 << bits) - 1)
        if per > 1:
            lanes[per - 1::per] = packed >> np.uint8(8 - bits)  # the top lane needs no mask
        slot = _slot_of_each(counts, per, nbytes)
        return lanes[: int(counts.sum())] if slot is None else lanes[slot]
    stream = np.unpackbits(packed, bitorder="little")
    return stream[_bit_of_each(counts, bits, nbytes)].astype(np.int32) @ _BIT_VALUES[:bits]


def pack(idx: np.ndarray, bits: int) -> np.ndarray:
    """int32 ``[n]`` in ``[0, 2**bits)`` -> uint8 ``[ceil(n * bits / 8)]``. The caller checks the range."""
    if idx.size * bits >= NATIVE_MIN_BITS:
        return np.asarray(fedras_ext.pack_indices(np.ascontiguousarray(idx), bits))
    return pack_segments(idx, np.array([idx.size]), bits)


def unpack(packed: np.ndarray, bits: int, count: int) -> np.ndarray:
    """uint8 ``[ceil(count * bits / 8)]`` -> int32 ``[count]`` (a new array)."""
    if count * bits >= NATIVE_MIN_BITS:
        return np.asarray(fedras_ext.unpack_indices(packed, bits, count))
    return unpack_segments(packed, np.array([count]), bits)

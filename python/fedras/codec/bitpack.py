"""Bit packing for :class:`~fedras.codec.Packed`, byte-identical to ``fedras_ext.pack_indices``.

Layout: index i occupies stream bits ``[i*bits, (i+1)*bits)``, LSB first; stream bit p
is bit ``p % 8`` of byte ``p // 8``; the unused high bits of the last byte are zero.

Small inputs (a client's few hundred indices) are packed in numpy, because the native
op's torch dispatch alone costs ~50 us per call; large inputs go to the native
multithreaded op, which is then far faster. Widths of 2, 4 and 8 bits (and 16 to pack)
need no bit matrix: each lane of the bytes is shifted as a whole (1.5-2x faster; 4
bits is the default k = 16).
"""
from __future__ import annotations

import numpy as np

NATIVE_MIN_BITS = 1 << 15  # payloads of at least this many bits (4 KiB) use fedras_ext
_BIT_VALUES = (1 << np.arange(16)).astype(np.int32)


def packed_nbytes(count: int, bits: int) -> int:
    """Bytes that ``count`` indices of ``bits`` bits occupy: ``ceil(count * bits / 8)``."""
    return (count * bits + 7) // 8


def pack(idx: np.ndarray, bits: int) -> np.ndarray:
    """int32 ``[n]`` in ``[0, 2**bits)`` -> uint8 ``[ceil(n * bits / 8)]``. The caller checks the range."""
    if idx.size * bits >= NATIVE_MIN_BITS:
        import fedras_ext  # imported on first use: it loads torch

        return np.asarray(fedras_ext.pack_indices(np.ascontiguousarray(idx), bits))
    if bits == 16:
        return idx.astype("<u2").view(np.uint8)
    if bits in (2, 4, 8):
        per = 8 // bits
        lanes = np.zeros(packed_nbytes(idx.size, bits) * per, dtype=np.uint8)
        lanes[: idx.size] = idx
        out = lanes[0::per].copy()  # index j of each byte is lane j, at bit j * bits
        for j in range(1, per):
            out |= lanes[j::per] << np.uint8(j * bits)
        return out
    return np.packbits((idx[:, None] & _BIT_VALUES[:bits]) != 0, bitorder="little")


def unpack(packed: np.ndarray, bits: int, count: int) -> np.ndarray:
    """uint8 ``[ceil(count * bits / 8)]`` -> int32 ``[count]`` (a new array)."""
    if count * bits >= NATIVE_MIN_BITS:
        import fedras_ext

        return np.asarray(fedras_ext.unpack_indices(packed, bits, count))
    if bits in (2, 4, 8):
        per = 8 // bits
        out = np.empty(packed.size * per, dtype=np.int32)
        out[0::per] = packed & np.uint8((1 << bits) - 1)
        for j in range(1, per - 1):
            out[j::per] = (packed >> np.uint8(j * bits)) & np.uint8((1 << bits) - 1)
        if per > 1:
            out[per - 1::per] = packed >> np.uint8(8 - bits)  # the top lane needs no mask
        return out[:count]
    bit_matrix = np.unpackbits(packed, count=count * bits, bitorder="little").reshape(count, bits)
    return bit_matrix @ _BIT_VALUES[:bits]

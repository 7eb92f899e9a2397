"""RowSet: a set of table rows, sent as a bitmap or as delta varints, whichever is smaller."""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Tuple

import numpy as np

from .errors import LimitExceeded, MalformedField
from .fields import Field, check_element_count, check_u32, coerce_array
from .limits import Limits
from .reader import Reader
from .varint import MAX_VARINT_BYTES, decode_uvarints, encode_uvarints, uvarint_lengths

BITMAP, DELTA_VARINT = 0, 1
_SPEC = struct.Struct("<IIB")  # universe, count, encoding


def bitmap_nbytes(universe: int) -> int:
    """Bytes of the bitmap encoding: ``ceil(universe / 8)``."""
    return (universe + 7) // 8


@dataclass(frozen=True, eq=False)
class RowSet(Field):
    """Sorted unique row ids, int64 ``[n]``, all in ``[0, universe)``.

    Wire: the smaller of (ties pick the bitmap; decoding rejects the larger one)
      - bitmap: ``ceil(universe / 8)`` bytes, row i is bit ``i % 8`` (LSB first) of byte
        ``i // 8``, unused high bits of the last byte zero;
      - delta varints: LEB128 of ``ids[0]``, then of each gap ``ids[j] - ids[j-1]`` (>= 1),
        every varint in its shortest form.
    """

    ids: np.ndarray
    universe: int
    TYPE_CODE = 7

    def __post_init__(self) -> None:
        ids = coerce_array(self.ids, np.dtype(np.int64), "RowSet ids", integers=True)
        if ids.ndim != 1:
            raise ValueError(f"RowSet ids must be 1-D, got shape {ids.shape}")
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "universe", check_u32(self.universe, "RowSet universe"))

    def wire_parts(self) -> Tuple[bytes, np.ndarray]:
        ids, universe = self.ids, self.universe
        n = ids.size
        if n:
            if ids[0] < 0 or ids[-1] >= universe:
                raise ValueError(f"RowSet ids must lie in [0, {universe}), got [{int(ids[0])}, {int(ids[-1])}]")
            if n > 1 and not (ids[1:] > ids[:-1]).all():
                raise ValueError("RowSet ids must be sorted and unique")
        deltas_and_lengths = _varint_plan(ids, universe)
        if deltas_and_lengths is None:
            return _SPEC.pack(universe, n, BITMAP), _bitmap(ids, universe)
        return _SPEC.pack(universe, n, DELTA_VARINT), encode_uvarints(*deltas_and_lengths)

    @classmethod
    def read_spec(cls, reader: Reader, limits: Limits) -> Tuple[int, int, int]:
        universe, count, encoding = _SPEC.unpack(reader.take(_SPEC.size, "RowSet universe, count, encoding"))
        if universe > limits.max_universe:
            raise LimitExceeded(f"RowSet universe {universe} is over the limit {limits.max_universe}")
        check_element_count(count, limits, "RowSet")
        if count > universe:
            raise MalformedField(f"RowSet of {count} ids in a universe of {universe}")
        if encoding not in (BITMAP, DELTA_VARINT):
            raise MalformedField(f"unknown RowSet encoding {encoding}")
        return universe, count, encoding

    @classmethod
    def body_length_error(cls, spec: Tuple[int, int, int], nbytes: int) -> str | None:
        universe, count, encoding = spec
        if encoding == BITMAP:
            expected = bitmap_nbytes(universe)
            return None if nbytes == expected else f"bitmap body of {nbytes} bytes, universe {universe} needs {expected}"
        if not count <= nbytes <= MAX_VARINT_BYTES * count:
            return f"varint body of {nbytes} bytes cannot hold {count} ids"
        return None

    @classmethod
    def from_body(cls, spec: Tuple[int, int, int], body: memoryview) -> "RowSet":
        universe, count, encoding = spec
        stream = np.frombuffer(body, dtype=np.uint8)
        if encoding == BITMAP:
            ids = _from_bitmap(stream, universe, count)
            if _varint_plan(ids, universe) is not None:
                raise MalformedField("RowSet sent as a bitmap although delta varints are smaller")
        else:
            if bitmap_nbytes(universe) <= stream.size:
                raise MalformedField("RowSet sent as delta varints although the bitmap is no larger")
            ids = _from_deltas(stream, universe, count)
        return cls._trusted(ids, universe)


def _varint_plan(ids: np.ndarray, universe: int) -> Tuple[np.ndarray, np.ndarray] | None:
    """(deltas uint64 [n], their varint lengths) when delta varints beat the bitmap, else None.

    This one rule picks the encoding and, on decode, rejects the other one, so every set
    has exactly one encoding.
    """
    bitmap_len = bitmap_nbytes(universe)
    if bitmap_len <= ids.size:  # a varint takes at least one byte per id
        return None
    deltas = set_gaps(ids)
    lengths = uvarint_lengths(deltas)
    return (deltas, lengths) if int(lengths.sum()) < bitmap_len else None


def set_gaps(ids: np.ndarray) -> np.ndarray:
    """uint64 ``[n]``: the delta-varint values of one sorted id set (int64 ``ids``): the
    first id as is, then the gaps to the previous id."""
    gaps = ids.astype(np.uint64)  # slicing beats np.diff on small arrays
    if ids.size > 1:
        gaps[1:] -= ids[:-1].astype(np.uint64)
    return gaps


def _bitmap(ids: np.ndarray, universe: int) -> np.ndarray:
    mask = np.zeros(universe, dtype=bool)
    mask[ids] = True
    return np.packbits(mask, bitorder="little")


def _from_bitmap(stream: np.ndarray, universe: int, count: int) -> np.ndarray:
    tail_bits = universe % 8
    if tail_bits and stream[-1] >> tail_bits:
        raise MalformedField(f"bitmap has bits set at or beyond universe {universe}")
    ids = np.unpackbits(stream, bitorder="little").nonzero()[0].astype(np.int64, copy=False)
    if ids.size != count:
        raise MalformedField(f"bitmap holds {ids.size} ids, header declares {count}")
    return ids


def _from_deltas(stream: np.ndarray, universe: int, count: int) -> np.ndarray:
    deltas = decode_uvarints(stream, count)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    # Each delta is < universe < 2**32 and a <= 4 GiB body holds < 2**30 five-byte deltas,
    # so the int64 cumsum stays below 2**62: it cannot wrap.
    if int(deltas.max()) >= universe:
        raise MalformedField(f"RowSet delta {int(deltas.max())} is not below universe {universe}")
    if count > 1 and int(deltas[1:].min()) == 0:
        raise MalformedField("RowSet ids are not strictly increasing (zero gap)")
    ids = np.cumsum(deltas.astype(np.int64))
    if ids[-1] >= universe:
        raise MalformedField(f"RowSet id {int(ids[-1])} is not below universe {universe}")
    return ids

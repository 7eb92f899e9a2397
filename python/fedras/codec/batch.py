"""Encode many messages of one shape at once: the simulation's uplinks of a round.

A round's uplinks all carry the same fields, each a slice of one flat per-round array.
:func:`encode_batch` takes those arrays as *columns* (one per field), builds every
field's declared sizes and bodies with vectorised numpy per column, and assembles all
messages in one buffer with the native byte-segment ops (``copy_segments``,
``crc32_segments``): no Python loop per message but the final cut into ``bytes``.

The bytes are exactly those of ``encode(Message(kind, round, sender, {name:
column.field(s)}))``: :func:`encode` is the reference, and the tests compare the two
on random and edge-case batches. Columns check their values as the field classes do
(same ValueErrors), so a batch cannot encode what a Message would refuse.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Type, Union

import numpy as np

from fedras_ext import copy_segments, crc32_segments, encode_bitmap_ids, encode_varint_gaps, varint_gap_bytes

from .bitpack import offsets as _offsets
from .bitpack import pack_segments
from .fields import MAX_NDIM, U32_MAX, Field, Packed, _ArrayField, check_u32, coerce_array
from .message import _PREAMBLE, _U32, FORMAT_VERSION, MAGIC, _ascii_name
from .rowset import BITMAP, DELTA_VARINT, RowSet, bitmap_nbytes

# Where bodies are: (flat uint8 buffer, which messages int64 [m], where each body starts in it).
Pieces = List[Tuple[np.ndarray, np.ndarray, np.ndarray]]
# (declared sizes uint8 [S, h], body bytes int64 [S], the bodies)
Wire = Tuple[np.ndarray, np.ndarray, Pieces]


def _lengths(ptr: np.ndarray, n: int, what: str) -> np.ndarray:
    """int64 ``[S]`` segment lengths of CSR offsets ``ptr`` over ``n`` items (checked)."""
    ptr = np.asarray(ptr, dtype=np.int64)
    if ptr.ndim != 1 or ptr.size == 0 or ptr[0] != 0 or ptr[-1] != n or np.any(ptr[1:] < ptr[:-1]):
        raise ValueError(f"{what}: offsets must be non-decreasing from 0 to {n}")
    return np.diff(ptr)


def _u32_columns(n: int, *cols: np.ndarray) -> np.ndarray:
    """uint8 ``[n, 4 * len(cols)]``: each int64 ``[n]`` column as little-endian u32 (checked)."""
    out = np.stack([np.asarray(c, dtype=np.int64) for c in cols], axis=1) if cols else np.zeros((n, 0), np.int64)
    if out.size and (out.min() < 0 or out.max() > U32_MAX):
        raise ValueError("a declared size is outside [0, 2**32)")
    return np.ascontiguousarray(out.astype("<u4")).view(np.uint8).reshape(n, -1)


def _pieces(flat: np.ndarray, messages: np.ndarray, nbytes: np.ndarray) -> Pieces:
    """Bodies of ``messages`` laid end to end in ``flat`` (``nbytes`` each, in that order)."""
    return [(flat, messages, _offsets(nbytes)[:-1])]


def _ragged_take(data: np.ndarray, ptr: np.ndarray, idx: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Segments ``idx`` of the CSR ``(data, ptr)``, in that order: (data, ptr)."""
    counts = np.diff(ptr)[idx]
    out_ptr = _offsets(counts)
    rows = np.repeat(ptr[idx] - out_ptr[:-1], counts) + np.arange(out_ptr[-1])
    return data[rows], out_ptr


class Column:
    """One field of every message of a batch."""

    n: int  # messages

    def field(self, s: int) -> Field:
        """The field of message ``s`` as a Field (what ``encode`` would be given)."""
        raise NotImplementedError

    def wire(self) -> Wire:
        """Declared sizes of every message (uint8 ``[S, h]``, the same ``h`` for all), the
        bytes of each body and where they are."""
        raise NotImplementedError

    @property
    def field_type(self) -> Type[Field]:
        raise NotImplementedError

    def take(self, idx: np.ndarray) -> "Column":
        """The messages ``idx`` (int ``[S']``), in that order."""
        raise NotImplementedError


def concat_columns(columns: Sequence[Column]) -> Column:
    """Columns of the same field over several groups of messages, one after the other."""
    first = columns[0]
    if isinstance(first, ArrayColumn) and first.ptr is None:
        return ArrayColumn(first.cls, np.concatenate([c.data for c in columns]))
    if isinstance(first, ArrayColumn):
        return ArrayColumn(first.cls, np.concatenate([c.data for c in columns]),
                           _offsets(np.concatenate([c.counts for c in columns])))
    if isinstance(first, RowSetColumn):
        return RowSetColumn(np.concatenate([c.ids for c in columns]), _offsets(np.concatenate([c.counts for c in columns])),
                            first.universe)
    return PackedColumn(np.concatenate([c.idx for c in columns]), _offsets(np.concatenate([c.counts for c in columns])),
                        np.concatenate([c.bits for c in columns]))


@dataclass
class ArrayColumn(Column):
    """A dense array field (``cls`` is F32, F16, I8, U8, I32 or I64).

    With ``ptr`` (int64 ``[S + 1]``), message ``s`` gets ``data[ptr[s]:ptr[s + 1]]``;
    without, it gets ``data[s]`` (e.g. ``data`` int64 ``[S]`` gives 0-d scalars).
    """

    cls: Type[_ArrayField]
    data: np.ndarray
    ptr: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        self.data = coerce_array(self.data, self.cls.DTYPE, self.cls.__name__)
        ragged = self.ptr is not None
        if self.data.ndim < 1 or self.data.ndim - (0 if ragged else 1) > MAX_NDIM:
            raise ValueError(f"{self.cls.__name__} column of shape {self.data.shape}: messages need 0..{MAX_NDIM} dims")
        if ragged:
            self.counts = _lengths(self.ptr, self.data.shape[0], self.cls.__name__)
            self.ptr = _offsets(self.counts)
        self.n = len(self.counts) if ragged else self.data.shape[0]

    @property
    def field_type(self) -> Type[Field]:
        return self.cls

    def field(self, s: int) -> Field:
        if self.ptr is None:
            return self.cls(self.data[s])
        return self.cls(self.data[self.ptr[s]: self.ptr[s + 1]])

    def take(self, idx: np.ndarray) -> "ArrayColumn":
        if self.ptr is None:
            return ArrayColumn(self.cls, self.data[idx])
        return ArrayColumn(self.cls, *_ragged_take(self.data, self.ptr, idx))

    def wire(self) -> Wire:
        tail = self.data.shape[1:]
        for d in tail:
            check_u32(d, "array dimension")
        per_message = self.cls.WIRE_DTYPE.itemsize * int(np.prod(tail, dtype=np.int64))
        fixed = [np.full(self.n, d, dtype=np.int64) for d in tail]
        if self.ptr is not None:  # [count_s, *tail] each
            dims, nbytes = [self.counts, *fixed], self.counts * per_message
        else:                     # tail each
            dims, nbytes = fixed, np.full(self.n, per_message, dtype=np.int64)
        if nbytes.size and nbytes.max() > U32_MAX:
            raise ValueError("an array is over the 4 GiB field body limit")
        spec = np.concatenate([np.full((self.n, 1), len(dims), dtype=np.uint8), _u32_columns(self.n, *dims)], axis=1)
        flat = np.ascontiguousarray(self.data, dtype=self.cls.WIRE_DTYPE).reshape(-1).view(np.uint8)
        return spec, nbytes, _pieces(flat, np.arange(self.n), nbytes)


@dataclass
class RowSetColumn(Column):
    """A RowSet field: message ``s`` gets ``ids[ptr[s]:ptr[s + 1]]`` (sorted, unique,
    in ``[0, universe)``), as a bitmap or delta varints by RowSet's rule."""

    ids: np.ndarray
    ptr: np.ndarray
    universe: int

    def __post_init__(self) -> None:
        self.ids = coerce_array(self.ids, np.dtype(np.int64), "RowSet ids", integers=True)
        if self.ids.ndim != 1:
            raise ValueError(f"RowSet ids must be 1-D, got shape {self.ids.shape}")
        self.universe = check_u32(self.universe, "RowSet universe")
        self.counts = _lengths(self.ptr, self.ids.size, "RowSet")
        self.ptr = _offsets(self.counts)
        self.n = self.counts.size
        self.first = np.zeros(self.ids.size, dtype=bool)  # first id of its message
        self.first[self.ptr[:-1][self.counts > 0]] = True
        ids = self.ids
        if ids.size and (ids.min() < 0 or ids.max() >= self.universe):
            raise ValueError(f"RowSet ids must lie in [0, {self.universe}), got [{int(ids.min())}, {int(ids.max())}]")
        if ids.size > 1 and not np.all((ids[1:] > ids[:-1]) | self.first[1:]):
            raise ValueError("RowSet ids must be sorted and unique")

    @property
    def field_type(self) -> Type[Field]:
        return RowSet

    def field(self, s: int) -> Field:
        return RowSet(self.ids[self.ptr[s]: self.ptr[s + 1]], self.universe)

    def take(self, idx: np.ndarray) -> "RowSetColumn":
        return RowSetColumn(*_ragged_take(self.ids, self.ptr, idx), self.universe)

    def wire(self) -> Wire:
        ids, counts = self.ids, self.counts
        bitmap_len = bitmap_nbytes(self.universe)
        # Varints take a byte per id at least, so only messages of fewer ids than the
        # bitmap's bytes need their varint length (RowSet's _varint_plan, batched).
        maybe = np.flatnonzero(counts < bitmap_len)
        varint_len = np.zeros(self.n, dtype=np.int64)
        varint_len[maybe] = varint_gap_bytes(ids, self.ptr[maybe], counts[maybe])
        varint = np.zeros(self.n, dtype=bool)
        varint[maybe] = varint_len[maybe] < bitmap_len
        varint_msgs = np.flatnonzero(varint)
        nbytes = np.where(varint, varint_len, bitmap_len)
        body_at = _offsets(nbytes[varint_msgs])
        stream = np.empty(int(body_at[-1]), dtype=np.uint8)
        encode_varint_gaps(ids, self.ptr[varint_msgs], counts[varint_msgs], stream, body_at[:-1])
        which = np.flatnonzero(~varint)
        map_at = np.arange(which.size, dtype=np.int64) * bitmap_len
        maps = np.empty(which.size * bitmap_len, dtype=np.uint8)
        encode_bitmap_ids(ids, self.ptr[which], counts[which], self.universe, maps, map_at)
        spec = np.concatenate([_u32_columns(self.n, np.full(self.n, self.universe), counts),
                               np.where(varint, DELTA_VARINT, BITMAP).astype(np.uint8)[:, None]], axis=1)
        return spec, nbytes, _pieces(stream, varint_msgs, nbytes[varint_msgs]) + [(maps, which, map_at)]


@dataclass
class PackedColumn(Column):
    """A Packed field: message ``s`` gets ``idx[ptr[s]:ptr[s + 1]]`` at ``bits[s]`` bits
    (an int for every message, or int ``[S]``)."""

    idx: np.ndarray
    ptr: np.ndarray
    bits: Union[int, np.ndarray]

    def __post_init__(self) -> None:
        self.idx = coerce_array(self.idx, np.dtype(np.int32), "Packed idx", integers=True)
        if self.idx.ndim != 1:
            raise ValueError(f"Packed idx must be 1-D, got shape {self.idx.shape}")
        self.counts = _lengths(self.ptr, self.idx.size, "Packed")
        self.ptr = _offsets(self.counts)
        self.n = self.counts.size
        bits = np.broadcast_to(np.asarray(self.bits), (self.n,))
        if bits.dtype.kind not in "iu" or (bits.size and (bits.min() < 1 or bits.max() > 16)):
            raise ValueError(f"Packed bits must be ints in 1..16, got {self.bits!r}")
        self.bits = bits.astype(np.int64)
        if self.n and self.counts.max() > U32_MAX:
            raise ValueError(f"Packed count must be below 2**32, got {int(self.counts.max())}")
        if self.idx.size:
            # Viewed as uint32, negatives become huge, so one shift checks both ends.
            same = self.bits.min() == self.bits.max()
            row_bits = self.bits[:1] if same else np.repeat(self.bits, self.counts)
            if np.any(self.idx.view(np.uint32) >> row_bits.astype(np.uint32)):
                raise ValueError("Packed values must lie in [0, 2**bits) of their message")

    @property
    def field_type(self) -> Type[Field]:
        return Packed

    def field(self, s: int) -> Field:
        return Packed(self.idx[self.ptr[s]: self.ptr[s + 1]], int(self.bits[s]))

    def take(self, idx: np.ndarray) -> "PackedColumn":
        return PackedColumn(*_ragged_take(self.idx, self.ptr, idx), self.bits[idx])

    def wire(self) -> Wire:
        nbytes = (self.counts * self.bits + 7) // 8
        pieces: Pieces = []
        for b in np.unique(self.bits).tolist():
            group = np.flatnonzero(self.bits == b)
            rows = slice(None) if group.size == self.n else np.repeat(self.bits == b, self.counts)
            pieces += _pieces(pack_segments(self.idx[rows], self.counts[group], b), group, nbytes[group])
        spec = np.concatenate([_u32_columns(self.n, self.counts), self.bits.astype(np.uint8)[:, None]], axis=1)
        return spec, nbytes, pieces


def _sender_column(senders: Sequence[int]) -> np.ndarray:
    """int64 ``[S]`` of the client ids, each checked as ``encode`` checks a sender."""
    arr = np.asarray(senders)
    if not (arr.ndim == 1 and arr.dtype.kind in "iu" and (arr.size == 0 or (arr.min() >= 0 and arr.max() <= U32_MAX))):
        arr = np.array([check_u32(s, "sender") for s in senders], dtype=np.int64).reshape(-1)
    return arr.astype(np.int64)


def _rows_at(matrix: np.ndarray, out: np.ndarray, at: np.ndarray) -> None:
    """Row ``s`` of ``matrix`` (uint8 ``[S, w]``) into ``out`` at ``at[s]``."""
    n, w = matrix.shape
    copy_segments(np.ascontiguousarray(matrix).reshape(-1), np.arange(n, dtype=np.int64) * w,
                  np.full(n, w, dtype=np.int64), out, at)


def encode_batch(kind: str, round_: int, senders: Sequence[int],
                 columns: Mapping[str, Column]) -> Tuple[List[bytes], Dict[str, np.ndarray]]:
    """Encode message ``s`` = ``Message(kind, round_, senders[s], {name: col.field(s)})``
    for every ``s``: the same bytes as :func:`~fedras.codec.encode`, in one pass per column.

    ``senders``: S client ids (u32); every column holds S messages. Returns the S
    payloads and, per field name, int64 ``[S]`` the bytes that field takes in each
    (``field_size``). Raises ValueError as ``encode`` would (naming the field).
    """
    n = len(senders)
    kind_raw = _ascii_name(kind, "kind")
    if not 1 <= len(columns) <= 0xFFFF:
        raise ValueError(f"a message carries 1..65535 fields, got {len(columns)}")
    head = _PREAMBLE.pack(MAGIC, FORMAT_VERSION, 0) + bytes((len(kind_raw),)) + kind_raw
    round_ = check_u32(round_, "round")
    sender_ids = _sender_column(senders)
    fields = []
    sizes: Dict[str, np.ndarray] = {}
    for name, col in columns.items():
        if col.n != n:
            raise ValueError(f"field {name!r}: column holds {col.n} messages, there are {n} senders")
        raw = _ascii_name(name, "field name")
        try:
            spec, nbytes, pieces = col.wire()
        except ValueError as e:
            raise ValueError(f"field {name!r} ({col.field_type.__name__}): {e}") from e
        prefix = np.frombuffer(bytes((len(raw),)) + raw + bytes((col.field_type.TYPE_CODE,)), dtype=np.uint8)
        header = np.concatenate([np.broadcast_to(prefix, (n, prefix.size)), spec, _u32_columns(n, nbytes)], axis=1)
        sizes[name] = header.shape[1] + nbytes
        fields.append((header, nbytes, pieces))

    # Every message: head, round/sender/field count, the fields (header, body), CRC.
    start = np.concatenate([np.broadcast_to(np.frombuffer(head, np.uint8), (n, len(head))),
                            _u32_columns(n, np.full(n, round_), sender_ids),
                            np.broadcast_to(np.frombuffer(len(columns).to_bytes(2, "little"), np.uint8), (n, 2))], axis=1)
    length = start.shape[1] + sum(sizes.values(), np.zeros(n, dtype=np.int64)) + _U32.size
    at = _offsets(length)
    out = np.empty(int(at[-1]), dtype=np.uint8)
    cursor = at[:-1].copy()
    _rows_at(start, out, cursor)
    cursor += start.shape[1]
    for header, nbytes, pieces in fields:
        _rows_at(header, out, cursor)
        cursor += header.shape[1]
        for flat, messages, body_start in pieces:
            copy_segments(flat, body_start, nbytes[messages], out, cursor[messages])
        cursor += nbytes
    crc = crc32_segments(out, at[:-1], length - _U32.size)
    _rows_at(_u32_columns(n, crc), out, cursor)
    view = memoryview(out)  # one copy per payload, not a whole-buffer copy first
    return [view[a:b].tobytes() for a, b in zip(at[:-1].tolist(), at[1:].tolist())], sizes

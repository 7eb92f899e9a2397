"""Decode many payloads of one expected layout at once: a round's uplinks at the server.

A :data:`Template` names every field a payload must carry, in order, with its type and
the dims that are fixed (``Expect``). :func:`decode_batch` walks all payloads in
lockstep, one header item at a time for every payload together, and decodes each
field's bodies for all payloads in a few numpy calls, into :mod:`~fedras.codec.batch`
columns.

It only ever *accepts*: a payload that deviates in any way (another layout, a failed
check, a lying size) is handed back for :func:`~fedras.codec.decode`, the reference
decoder, which gives the verdict and the error. The header checks ``decode`` makes on a
payload of the template's layout are made here too, vectorised, and so are the body
checks of Packed fields; RowSet bodies go through the native ``decode_bitmap_ids`` and
``decode_varint_gaps``, which make ``decode``'s checks; array bodies need no check
beyond their size. So the fast path never accepts a payload
``decode`` would refuse, and decodes what it accepts to the same values (the tests
compare both on mutated payloads).

:func:`to_columns` turns a payload that ``decode`` accepted into one-message columns
of the template, or says why it does not fit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Type

import numpy as np

from fedras_ext import copy_segments, crc32_segments, decode_bitmap_ids, decode_varint_gaps, varint_gap_bytes

from .batch import ArrayColumn, Column, PackedColumn, RowSetColumn, _offsets, _ragged_take
from .bitpack import unpack_segments
from .fields import _NUMPY_MAX_BYTES, F16, F32, FIELD_TYPES, MAX_NDIM, Field, Packed, _ArrayField
from .limits import DEFAULT_LIMITS, Limits
from .message import FORMAT_VERSION, MAGIC
from .reader import is_valid_name
from .rowset import BITMAP, DELTA_VARINT, RowSet, bitmap_nbytes
from .varint import MAX_VARINT_BYTES

_FLOAT_TYPES = (F32, F16)


@dataclass(frozen=True)
class Expect:
    """What one field of a template must be.

    - ``cls``: the field type (``F32``, ..., ``RowSet``, ``Packed``).
    - ``shape``: arrays only; the dims, ``None`` first for a leading dim that varies per
      payload (e.g. ``(None, 32)``: ``[k, 32]`` for any ``k``), ``()`` for a scalar.
    - ``universe``: RowSet only; the universe the ids must be over.
    """

    cls: Type[Field]
    shape: Optional[Tuple[Optional[int], ...]] = None
    universe: Optional[int] = None

    @property
    def ragged(self) -> bool:
        return bool(self.shape) and self.shape[0] is None

    def describe(self) -> str:
        if self.cls is RowSet:
            return f"a RowSet over {self.universe} rows"
        if self.cls is Packed:
            return "a Packed"
        dims = ", ".join("*" if d is None else str(d) for d in self.shape)
        return f"{self.cls.__name__} [{dims}]"


Template = Mapping[str, Expect]


@dataclass
class Decoded:
    """The payloads the fast path accepted (``index`` into the input, sorted) and the
    ones it left to :func:`~fedras.codec.decode` (``others``)."""

    index: np.ndarray          # int64 [F]
    senders: np.ndarray        # int64 [F]
    rounds: np.ndarray         # int64 [F]
    columns: Dict[str, Column]
    others: np.ndarray         # int64 [S - F]


# ------------------------------------------------------------------------- lockstep walk
class _Walk:
    """Cursors of every payload in one buffer; ``ok`` drops a payload at its first deviation."""

    def __init__(self, bufs: Sequence[bytes], limits: Limits) -> None:
        lens = np.array([len(b) for b in bufs], dtype=np.int64)
        self.start = _offsets(lens)[:-1]
        self.end = self.start + lens
        # Reads of dropped payloads go to offset 0 of a zero tail, never outside the buffer.
        self.blob = np.frombuffer(b"".join([*bufs, bytes(16)]), dtype=np.uint8)
        self.cur = self.start.copy()
        self.ok = lens <= limits.max_bytes

    def _at(self, n: int) -> np.ndarray:
        self.ok &= self.cur + n <= self.end
        pos = np.where(self.ok, self.cur, 0)
        self.cur = self.cur + n
        return self.blob[pos[:, None] + np.arange(n)]

    def expect(self, const: bytes) -> None:
        got = self._at(len(const))
        self.ok &= (got == np.frombuffer(const, dtype=np.uint8)).all(1)

    def uint(self, n: int) -> np.ndarray:
        """The next n-byte little-endian unsigned int of every payload: int64."""
        return (self._at(n).astype(np.int64) << (8 * np.arange(n))).sum(1)

    def body(self, nbytes: np.ndarray) -> np.ndarray:
        """Skip every payload's body of ``nbytes``; returns where each starts."""
        at = self.cur.copy()
        self.cur = self.cur + nbytes
        self.ok &= self.cur <= self.end
        return at


def _array_sizes(walk: _Walk, exp: Expect, limits: Limits) -> Tuple[np.ndarray, np.ndarray]:
    """Declared sizes of an array field: (leading count per payload, body bytes)."""
    walk.expect(bytes((len(exp.shape),)))
    dims = [walk.uint(4) for _ in exp.shape]
    for d, want in zip(dims, exp.shape):
        if want is not None:
            walk.ok &= d == want
    fixed = int(np.prod([d for d in exp.shape if d is not None], dtype=np.int64))
    fixed_nonzero = int(np.prod([d for d in exp.shape if d], dtype=np.int64))
    count = dims[0] if exp.ragged else np.ones_like(walk.cur)
    # decode's element check skips zero dims (numpy refuses even an empty array whose other dims overflow).
    elements = np.where(count * fixed > 0, count * fixed, np.where(count > 0, count, 1) * fixed_nonzero)
    walk.ok &= (elements <= limits.max_elements) & (elements * exp.cls.DTYPE.itemsize <= _NUMPY_MAX_BYTES)
    nbytes = count * fixed * exp.cls.DTYPE.itemsize
    walk.ok &= walk.uint(4) == nbytes
    return count, nbytes


# ------------------------------------------------------------------------- bodies
def _joined(walk: _Walk, at: np.ndarray, nbytes: np.ndarray) -> np.ndarray:
    """The bodies at ``at`` of ``nbytes`` each, joined: uint8 (a copy)."""
    ptr = _offsets(nbytes)
    out = np.empty(int(ptr[-1]), dtype=np.uint8)
    copy_segments(walk.blob, at, nbytes, out, ptr[:-1])
    return out


def _in_order(parts: List[Tuple[np.ndarray, np.ndarray]], counts: np.ndarray, dtype) -> np.ndarray:
    """Flat values of all payloads in payload order, from groups ``(members, their values
    joined)``; ``counts``: values per payload."""
    if len(parts) == 1 and parts[0][0].size == counts.size:
        return parts[0][1].astype(dtype, copy=False)  # one group of every payload: already in order
    ptr = _offsets(counts)
    out = np.empty(int(ptr[-1]), dtype=dtype)
    size = out.itemsize
    for members, values in parts:
        # Each payload's values are one run in `values` and one in `out`: copy the runs
        # as bytes (a fancy-index scatter built a 6M-entry index at ML-1M size).
        c = counts[members]
        copy_segments(np.ascontiguousarray(values, dtype=dtype).view(np.uint8), _offsets(c)[:-1] * size, c * size,
                      out.view(np.uint8), ptr[members] * size)
    return out


def _packed_field(walk: _Walk, at, nbytes, count, bits) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Packed bodies, one per payload: (indices int32 joined, count per payload, ok per
    payload) with Packed.from_body's check."""
    used = count * bits % 8
    last = walk.blob[np.maximum(at + nbytes - 1, 0)]
    ok = (used == 0) | ((last >> used.astype(np.uint8)) == 0)  # padding bits of the last byte must be zero
    parts = []
    for b in np.unique(bits).tolist():
        members = np.flatnonzero(bits == b)
        parts.append((members, unpack_segments(_joined(walk, at[members], nbytes[members]), count[members], b)))
    return _in_order(parts, count, np.int32), count, ok


def _rowset_field(walk: _Walk, at, nbytes, count, encoding, universe: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RowSet bodies, one per payload: (ids int64 joined, ids per payload, ok per
    payload), with RowSet.from_body's checks."""
    ok = np.ones(count.size, dtype=bool)
    got = np.zeros(count.size, dtype=np.int64)
    parts = []
    maps = np.flatnonzero(encoding == BITMAP)
    if maps.size:
        # RowSet.from_body's bitmap checks natively, on the bodies in place: exactly the
        # declared count of bits set, none at or beyond the universe.
        width = bitmap_nbytes(universe)
        ids, ok[maps] = decode_bitmap_ids(walk.blob, at[maps], count[maps], universe)
        got[maps] = count[maps]
        # Canonical: a set goes as a bitmap only when its delta varints are not smaller,
        # which only sets of fewer ids than the bitmap's bytes can be.
        small = np.flatnonzero(ok[maps] & (count[maps] < width))
        if small.size:
            varint_len = varint_gap_bytes(ids, _offsets(count[maps])[small], count[maps][small])
            ok[maps[small]] &= varint_len >= width
        parts.append((maps, ids))
    varints = np.flatnonzero(encoding != BITMAP)
    if varints.size:
        # decode_uvarints' and _from_deltas' checks, natively, on the bodies in place;
        # and varints only where they beat the bitmap.
        ids, ok[varints] = decode_varint_gaps(walk.blob, at[varints], nbytes[varints], count[varints], universe)
        ok[varints] &= nbytes[varints] < bitmap_nbytes(universe)
        got[varints] = count[varints]
        parts.append((varints, ids))
    return _in_order(parts, got, np.int64), got, ok


def _array_column(walk: _Walk, exp: Expect, final: np.ndarray, at, nbytes, count) -> ArrayColumn:
    cls: Type[_ArrayField] = exp.cls  # type: ignore[assignment]
    data = _joined(walk, at[final], nbytes[final]).view(cls.WIRE_DTYPE).astype(cls.DTYPE)  # a copy: nothing aliases the payloads
    if exp.ragged:
        return ArrayColumn(cls, data.reshape(-1, *exp.shape[1:]), _offsets(count[final]))
    return ArrayColumn(cls, data.reshape(final.size, *exp.shape))


# ------------------------------------------------------------------------- entry points
def _check_template(kind: str, template: Template) -> None:
    """The template is the caller's: a name decode would refuse must fail loudly here,
    or the fast path would accept what decode refuses."""
    for name in (kind, *template):
        if not (name.isascii() and is_valid_name(name.encode("ascii"))):
            raise ValueError(f"template name {name!r} is not 1..32 visible ASCII chars")
    for name, exp in template.items():
        if exp.cls not in FIELD_TYPES.values():
            raise ValueError(f"field {name!r}: unknown field type {exp.cls!r}")
        if issubclass(exp.cls, _ArrayField) and (exp.shape is None or len(exp.shape) > MAX_NDIM
                                                  or any(d is None for d in exp.shape[1:])):
            raise ValueError(f"field {name!r}: arrays need a shape of 0..{MAX_NDIM} dims, only the first may vary")
        if exp.cls is RowSet and exp.universe is None:
            raise ValueError(f"field {name!r}: a RowSet needs its universe")


def decode_batch(bufs: Sequence[bytes], kind: str, template: Template, *, limits: Limits = DEFAULT_LIMITS) -> Decoded:
    """Decode the payloads of ``template``'s layout (kind ``kind``, exactly these fields
    in this order) in one lockstep pass; return the rest in ``others`` for ``decode``.

    ``bufs``: S payloads (bytes). Returns :class:`Decoded`, whose columns hold the
    accepted payloads in input order.
    """
    _check_template(kind, template)
    walk = _Walk(bufs, limits)
    raw_kind = kind.encode("ascii")
    walk.expect(MAGIC + bytes((FORMAT_VERSION, 0, len(raw_kind))) + raw_kind)
    rounds, senders = walk.uint(4), walk.uint(4)
    walk.expect(len(template).to_bytes(2, "little"))
    if not 1 <= len(template) <= limits.max_fields:
        walk.ok[:] = False
    sizes = {}
    for name, exp in template.items():
        raw = name.encode("ascii")
        walk.expect(bytes((len(raw),)) + raw + bytes((exp.cls.TYPE_CODE,)))
        if exp.cls is RowSet:  # RowSet.read_spec and body_length_error
            universe, count, encoding = walk.uint(4), walk.uint(4), walk.uint(1)
            walk.ok &= (universe == exp.universe) & (universe <= limits.max_universe)
            walk.ok &= (count <= limits.max_elements) & (count <= universe) & (encoding <= DELTA_VARINT)
            nbytes = walk.uint(4)
            walk.ok &= np.where(encoding == BITMAP, nbytes == bitmap_nbytes(exp.universe),
                                (count <= nbytes) & (nbytes <= MAX_VARINT_BYTES * count))
            specs = np.stack([universe, count, encoding], 1)
        elif exp.cls is Packed:  # Packed.read_spec and body_length_error
            count, bits = walk.uint(4), walk.uint(1)
            walk.ok &= (bits >= 1) & (bits <= 16) & (count <= limits.max_elements)
            nbytes = walk.uint(4)
            walk.ok &= nbytes == (count * bits + 7) // 8
            specs = np.stack([count, bits], 1)
        else:
            count, nbytes = _array_sizes(walk, exp, limits)
            specs = None
        sizes[name] = (walk.body(nbytes), nbytes, count, specs)
    walk.ok &= walk.cur + 4 == walk.end  # then the CRC, and nothing after it
    whole = np.flatnonzero(walk.ok)
    crc = crc32_segments(walk.blob, walk.start[whole], walk.cur[whole] - walk.start[whole])
    stored = (walk.blob[walk.cur[whole][:, None] + np.arange(4)].astype(np.int64) << (8 * np.arange(4))).sum(1)
    walk.ok[whole] = crc == stored

    keep = np.flatnonzero(walk.ok)
    good = np.ones(keep.size, dtype=bool)
    indexed: Dict[str, Tuple[np.ndarray, np.ndarray]] = {}
    for name, exp in template.items():
        at, nbytes, count, specs = sizes[name]
        if exp.cls is RowSet:
            values, got, ok = _rowset_field(walk, at[keep], nbytes[keep], count[keep], specs[keep, 2], exp.universe)
        elif exp.cls is Packed:
            values, got, ok = _packed_field(walk, at[keep], nbytes[keep], count[keep], specs[keep, 1])
        else:
            continue
        indexed[name] = (values, got)
        good &= ok
    final = keep[good]
    columns: Dict[str, Column] = {}
    for name, exp in template.items():
        at, nbytes, count, specs = sizes[name]
        if exp.cls in (RowSet, Packed):
            values, got = indexed[name]
            if good.all():  # the usual round: nothing to drop
                flat, ptr = values, _offsets(got)
            else:
                flat, ptr = _ragged_take(values, _offsets(got), np.flatnonzero(good))
            columns[name] = (RowSetColumn(flat, ptr, exp.universe) if exp.cls is RowSet
                             else PackedColumn(flat, ptr, specs[final, 1]))
        else:
            columns[name] = _array_column(walk, exp, final, at, nbytes, count)
    return Decoded(final, senders[final], rounds[final], columns, np.setdiff1d(np.arange(len(bufs)), final))


def to_columns(fields: Mapping[str, Field], template: Template) -> Dict[str, Column]:
    """One decoded payload's fields as one-message columns of ``template``. Raises
    ValueError saying which field is missing, unexpected or not as expected."""
    extra = sorted(set(fields) - set(template))
    if extra:
        raise ValueError(f"unexpected field(s) {', '.join(map(repr, extra))}")
    out: Dict[str, Column] = {}
    for name, exp in template.items():
        f = fields.get(name)
        if f is None:
            raise ValueError(f"field {name!r} is missing")
        if type(f) is not exp.cls:
            raise ValueError(f"field {name!r} must be {exp.describe()}, got a {type(f).__name__}")
        one = np.array([0, 0], dtype=np.int64)
        if isinstance(f, RowSet):
            if f.universe != exp.universe:
                raise ValueError(f"field {name!r} is over a universe of {f.universe}, the table has {exp.universe}")
            one[1] = f.ids.size
            out[name] = RowSetColumn(f.ids, one, f.universe)
        elif isinstance(f, Packed):
            one[1] = f.idx.size
            out[name] = PackedColumn(f.idx, one, f.bits)
        else:
            shape = f.array.shape
            if len(shape) != len(exp.shape) or any(w is not None and d != w for d, w in zip(shape, exp.shape)):
                raise ValueError(f"field {name!r} must be {exp.describe()}, got shape {shape}")
            if exp.ragged:
                one[1] = shape[0]
                out[name] = ArrayColumn(type(f), f.array, one)
            else:
                out[name] = ArrayColumn(type(f), f.array[None])
    return out


def float_columns(columns: Mapping[str, Column]) -> List[Tuple[str, ArrayColumn]]:
    """The float (F32, F16) columns: where NaN and Inf can hide."""
    return [(k, c) for k, c in columns.items() if isinstance(c, ArrayColumn) and c.cls in _FLOAT_TYPES]

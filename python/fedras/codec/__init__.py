"""fedras.codec: the binary wire format of every payload (v1).

A :class:`Message` is a typed, self-describing container (kind, round, sender, named
fields); the protocol layer chooses the fields of each payload kind. Field types:

- dense arrays, ndim 0..4: :class:`F32`, :class:`F16`, :class:`I8`, :class:`U8`,
  :class:`I32`, :class:`I64`;
- :class:`RowSet`: sorted unique row ids of a table, as a bitmap or delta varints;
- :class:`Packed`: small indices bit-packed at 1..16 bits.

``encode(msg) -> bytes``; ``decode(buf, limits=...) -> Message`` treats ``buf`` as
hostile and raises only :class:`PayloadError` subclasses; ``encoded_size(msg)`` is the
exact payload length. ``encode_batch`` writes many messages of one shape from
per-field columns (the simulation's uplinks), byte-identical to ``encode``. The byte layout is documented in :mod:`fedras.codec.message`.

Example::

    msg = Message("fedras/up", round=3, sender=17, fields={
        "rows": RowSet(ids, universe=n_items),
        "actions": F32(actions),               # float32 [K, d]
        "assign": Packed(assign, bits=4),      # int32 [len(ids)]
        "n": I64(np.int64(n_samples)),
    })
    wire = encode(msg)
    assert decode(wire) == msg
"""
from .errors import (
    BadMagic,
    ChecksumMismatch,
    LimitExceeded,
    MalformedField,
    MalformedPayload,
    PayloadError,
    TruncatedPayload,
    UnexpectedDecodeError,
    UnsupportedVersion,
)
from .fields import F16, F32, I8, I32, I64, U8, Field, Packed
from .limits import DEFAULT_LIMITS, Limits
from .message import FORMAT_VERSION, MAGIC, SERVER_ID, Message, decode, encode, encoded_size, field_size
from .rowset import RowSet
from .batch import ArrayColumn, Column, PackedColumn, RowSetColumn, encode_batch

__all__ = [
    "ArrayColumn",
    "Column",
    "PackedColumn",
    "RowSetColumn",
    "encode_batch",
    "BadMagic",
    "ChecksumMismatch",
    "DEFAULT_LIMITS",
    "F16",
    "F32",
    "FORMAT_VERSION",
    "Field",
    "I32",
    "I64",
    "I8",
    "LimitExceeded",
    "Limits",
    "MAGIC",
    "MalformedField",
    "MalformedPayload",
    "Message",
    "Packed",
    "PayloadError",
    "RowSet",
    "SERVER_ID",
    "TruncatedPayload",
    "U8",
    "UnexpectedDecodeError",
    "UnsupportedVersion",
    "decode",
    "encode",
    "encoded_size",
    "field_size",
]

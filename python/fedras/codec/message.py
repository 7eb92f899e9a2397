"""Message, encode and decode: the v1 wire format.

A message is a small typed container; the protocol layer decides which fields each
payload kind carries. Wire format v1, all integers little-endian::

    offset  size     content
    0       4        magic b"FRAS"
    4       1        format version, u8 = 1
    5       1        flags, u8 = 0 (any other value is rejected)
    6       1        kind length K, u8 in 1..32
    7       K        kind, visible ASCII (0x21..0x7E), e.g. b"fedras/up"
    7+K     4        round, u32
    11+K    4        sender, u32 (client id; 0xFFFFFFFF = the server)
    15+K    2        field count F, u16 in 1..Limits.max_fields
    17+K    ...      F fields, each:
                       1     name length N, u8 in 1..32
                       N     name, visible ASCII, unique within the message
                       1     type code, u8
                       ...   declared sizes, by type:
                               F32=1 F16=2 I8=3 U8=4 I32=5 I64=6:
                                   ndim u8 (0..4), then ndim x dim u32 (C order)
                               RowSet=7: universe u32, count u32,
                                   encoding u8 (0 = bitmap, 1 = delta varint)
                               Packed=8: count u32, bits u8 (1..16)
                       4     body length B, u32 (must equal what the sizes imply;
                             delta varints: count <= B <= 10 * count)
                       B     body: arrays raw little-endian C-order elements;
                             RowSet and Packed as documented on their classes
    end-4   4        CRC32 (zlib.crc32) of every byte before it

Nothing may follow the CRC. ``len(encode(msg))`` is the byte count the simulation
reports: the payload is measured, never estimated.

Decoding treats the buffer as hostile. It (1) walks the headers, checking every
declared size against the limits and against the bytes actually present, (2) checks
the CRC, and only then (3) materialises the bodies, each of which is validated.
Nothing is allocated in proportion to a declared size before it has been checked
against the bytes present, and every failure is a :class:`PayloadError`.
"""
from __future__ import annotations

import dataclasses
import functools
import struct
import zlib
from typing import Any, Dict, List, Tuple, Type, Union

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
from .fields import FIELD_TYPES, Field, check_u32
from .limits import DEFAULT_LIMITS, Limits
from .reader import MAX_NAME_LEN, Reader, is_valid_name

MAGIC = b"FRAS"
FORMAT_VERSION = 1
SERVER_ID = 0xFFFFFFFF
_PREAMBLE = struct.Struct("<4sBB")  # magic, version, flags
_ROUND_SENDER_COUNT = struct.Struct("<IIH")
_U32 = struct.Struct("<I")

Buffer = Union[bytes, bytearray, memoryview]


@dataclasses.dataclass
class Message:
    """One payload.

    Attributes:
        kind: payload kind, 1..32 visible ASCII chars, e.g. ``"fedras/up"``.
        round: round number, u32.
        sender: client id, u32; :data:`SERVER_ID` (0xFFFFFFFF) for the server.
        fields: insertion-ordered ``name -> Field``; 1..32-char visible ASCII names.
    """

    kind: str
    round: int
    sender: int
    fields: Dict[str, Field] = dataclasses.field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------
def _ascii_name(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a str, got {type(value).__name__}")
    return _checked_ascii(value, what)


@functools.lru_cache(maxsize=1024)  # the same few kinds and field names recur in every message
def _checked_ascii(value: str, what: str) -> bytes:
    if not (value.isascii() and is_valid_name(raw := value.encode("ascii"))):
        raise ValueError(f"{what} must be 1..{MAX_NAME_LEN} visible ASCII chars, got {value!r}")
    return raw


def _encode_parts(msg: Message) -> List[Any]:
    """The payload as a list of bytes-like chunks, CRC excluded."""
    if not isinstance(msg, Message):
        raise ValueError(f"encode needs a Message, got {type(msg).__name__}")
    kind = _ascii_name(msg.kind, "kind")
    if not 1 <= len(msg.fields) <= 0xFFFF:
        raise ValueError(f"a message carries 1..65535 fields, got {len(msg.fields)}")
    parts: List[Any] = [
        _PREAMBLE.pack(MAGIC, FORMAT_VERSION, 0),
        bytes((len(kind),)) + kind,
        _ROUND_SENDER_COUNT.pack(check_u32(msg.round, "round"), check_u32(msg.sender, "sender"), len(msg.fields)),
    ]
    for name, field in msg.fields.items():
        raw_name = _ascii_name(name, "field name")
        if FIELD_TYPES.get(getattr(field, "TYPE_CODE", None)) is not type(field):
            raise ValueError(f"field {name!r}: expected one of F32, F16, I8, U8, I32, I64, RowSet, Packed, got {type(field).__name__}")
        try:
            sizes, body = field.wire_parts()
        except ValueError as e:
            raise ValueError(f"field {name!r} ({type(field).__name__}): {e}") from e
        parts.append(b"".join((bytes((len(raw_name),)), raw_name, bytes((field.TYPE_CODE,)), sizes, _U32.pack(len(body)))))
        parts.append(body)
    return parts


def encode(msg: Message) -> bytes:
    """Encode ``msg`` to v1 wire bytes. Raises ValueError (naming the field) on invalid input."""
    parts = _encode_parts(msg)
    crc = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
    parts.append(_U32.pack(crc))
    return b"".join(parts)


def field_size(name: str, field: Field) -> int:
    """Bytes that ``field``, named ``name``, adds to an encoded message (its header and
    body), computed without encoding array or Packed bodies."""
    return 1 + len(_ascii_name(name, "field name")) + 1 + field.wire_size() + _U32.size


def encoded_size(msg: Message) -> int:
    """``len(encode(msg))``, without assembling the payload."""
    return sum(map(len, _encode_parts(msg))) + _U32.size  # every part is bytes or uint8 [n]


# ---------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------
def _byte_view(buf: Buffer) -> memoryview:
    try:
        view = memoryview(buf)
    except TypeError:
        raise TypeError(f"decode needs a bytes-like object, got {type(buf).__name__}") from None
    if not view.c_contiguous:
        raise TypeError("decode needs a contiguous buffer")
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def _read_fields(reader: Reader, limits: Limits) -> List[Tuple[str, Type[Field], Any, memoryview]]:
    """Walk the field headers: (name, class, declared sizes, body view) per field; no body is read."""
    count = reader.u16("field count")
    if count == 0:
        raise MalformedPayload("message has no fields")
    if count > limits.max_fields:
        raise LimitExceeded(f"message declares {count} fields, limit is {limits.max_fields}")
    walked = []
    seen = set()
    for _ in range(count):
        name = reader.name("field name")
        if name in seen:
            raise MalformedPayload(f"duplicate field name {name!r}")
        seen.add(name)
        try:
            code = reader.u8("type code")
            cls = FIELD_TYPES.get(code)
            if cls is None:
                raise MalformedField(f"unknown type code {code}")
            spec = cls.read_spec(reader, limits)
            nbytes = reader.u32("body length")
            error = cls.body_length_error(spec, nbytes)
            if error:
                raise MalformedField(error)
            walked.append((name, cls, spec, reader.take(nbytes, "body")))
        except PayloadError as e:
            raise _in_field(e, name) from None
    return walked


def _in_field(error: PayloadError, name: str) -> PayloadError:
    """The same error type, its message prefixed with the field name."""
    return type(error)(f"field {name!r}: {error}")


def _decode(view: memoryview, limits: Limits) -> Message:
    if len(view) > limits.max_bytes:
        raise LimitExceeded(f"payload of {len(view)} bytes, limit is {limits.max_bytes}")
    head = bytes(view[: len(MAGIC)])
    if head != MAGIC[: len(head)]:
        raise BadMagic(f"payload starts with {head!r}, not {MAGIC!r}")
    if len(head) < len(MAGIC):
        raise TruncatedPayload(f"payload of {len(view)} bytes ends inside the magic")
    reader = Reader(view, len(MAGIC))
    version = reader.u8("version")
    if version != FORMAT_VERSION:
        raise UnsupportedVersion(f"format version {version}, this decoder reads {FORMAT_VERSION}")
    flags = reader.u8("flags")
    if flags:
        raise MalformedPayload(f"flags {flags:#04x} set, v1 defines none")
    kind = reader.name("kind")
    round_, sender = reader.u32("round"), reader.u32("sender")
    walked = _read_fields(reader, limits)

    if reader.remaining < _U32.size:
        raise TruncatedPayload(f"payload ends {_U32.size - reader.remaining} bytes short of its CRC")
    if reader.remaining > _U32.size:
        raise MalformedPayload(f"{reader.remaining - _U32.size} trailing bytes after the CRC")
    checked = reader.pos
    (crc,) = _U32.unpack_from(view, checked)
    if zlib.crc32(view[:checked]) != crc:
        raise ChecksumMismatch(f"CRC32 {zlib.crc32(view[:checked]):#010x} of the payload, {crc:#010x} stored")

    fields: Dict[str, Field] = {}
    for name, cls, spec, body in walked:
        try:
            fields[name] = cls.from_body(spec, body)
        except PayloadError as e:
            raise _in_field(e, name) from None
    return Message(kind, round_, sender, fields)


def decode(buf: Buffer, *, limits: Limits = DEFAULT_LIMITS) -> Message:
    """Decode untrusted v1 bytes into a :class:`Message`.

    Args:
        buf: the payload, any contiguous bytes-like object. It is not retained: decoded
            arrays are independent, writable copies that never alias it.
        limits: size bounds checked before anything is allocated.

    Raises:
        PayloadError: for every invalid payload (a subclass says which check failed).
            An unforeseen internal failure is reported as :class:`UnexpectedDecodeError`,
            also a PayloadError, so a server never crashes on a payload.
        TypeError: ``buf`` is not a contiguous bytes-like object (a caller bug).
    """
    view = _byte_view(buf)
    try:
        return _decode(view, limits)
    except PayloadError:
        raise
    except MemoryError as e:
        raise LimitExceeded(f"out of memory while decoding a {len(view)}-byte payload") from e
    except Exception as e:  # a decoder bug must still not take the server down
        raise UnexpectedDecodeError(f"{type(e).__name__}: {e}") from e

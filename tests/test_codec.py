"""fedras.codec: round trips, exact byte accounting, encoder validation, and a decoder
that rejects every hostile payload with a PayloadError (checked by hand-built payloads,
hypothesis property tests and hypothesis-driven mutation fuzzing).

Payloads are built here by a tiny independent writer of the documented layout
(``raw_message``), so the tests pin the wire format rather than echo the encoder.
"""
from __future__ import annotations

import struct
import tracemalloc
import zlib
from typing import List, Sequence, Tuple

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fedras_ext
from fedras.codec import (
    F16,
    F32,
    I8,
    I32,
    I64,
    SERVER_ID,
    U8,
    BadMagic,
    ChecksumMismatch,
    LimitExceeded,
    Limits,
    MalformedField,
    MalformedPayload,
    Message,
    Packed,
    PayloadError,
    RowSet,
    TruncatedPayload,
    UnexpectedDecodeError,
    UnsupportedVersion,
    decode,
    encode,
    encoded_size,
)
from fedras.codec.bitpack import NATIVE_MIN_BITS

ARRAY_TYPES = [(F32, np.float32, 1), (F16, np.float16, 2), (I8, np.int8, 3), (U8, np.uint8, 4), (I32, np.int32, 5), (I64, np.int64, 6)]
ROWSET, PACKED = 7, 8
EXTREMES = [0, 1, 2, 3, 7, 8, 0x7F, 0x80, 0xFF, 0xFFFF, 2**31 - 1, 2**31, 2**32 - 1]


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
def one(field, name: str = "x") -> Message:
    return Message("test/kind", 7, 42, {name: field})


def roundtrip(msg: Message) -> Message:
    wire = encode(msg)
    assert encoded_size(msg) == len(wire)
    out = decode(wire)
    assert out == msg
    assert list(out.fields) == list(msg.fields)  # insertion order survives
    assert encode(out) == wire  # canonical: one encoding per message
    return out


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def raw_field(name: bytes, code: int, sizes: bytes, body: bytes, body_len: int | None = None) -> bytes:
    n = len(body) if body_len is None else body_len
    return bytes([len(name)]) + name + bytes([code]) + sizes + struct.pack("<I", n) + body


def raw_message(fields: Sequence[bytes], kind: bytes = b"k", count: int | None = None, version: int = 1, flags: int = 0) -> bytes:
    """A payload written straight from the documented layout, CRC included."""
    n = len(fields) if count is None else count
    head = b"FRAS" + bytes([version, flags, len(kind)]) + kind + struct.pack("<IIH", 1, 2, n)
    return with_crc(head + b"".join(fields))


def array_field(name: bytes, code: int, dims: Sequence[int], body: bytes, body_len: int | None = None) -> bytes:
    return raw_field(name, code, struct.pack(f"<B{len(dims)}I", len(dims), *dims), body, body_len)


def rowset_field(name: bytes, universe: int, count: int, encoding: int, body: bytes, body_len: int | None = None) -> bytes:
    return raw_field(name, ROWSET, struct.pack("<IIB", universe, count, encoding), body, body_len)


def packed_field(name: bytes, count: int, bits: int, body: bytes, body_len: int | None = None) -> bytes:
    return raw_field(name, PACKED, struct.pack("<IB", count, bits), body, body_len)


def leb128(values: Sequence[int]) -> bytes:
    out = bytearray()
    for v in values:
        while True:
            out.append((v & 0x7F) | (0x80 if v > 0x7F else 0))
            v >>= 7
            if not v:
                break
    return bytes(out)


def header_slots(wire: bytes) -> List[Tuple[int, int, str]]:
    """(offset, width, what) of every integer in the headers of a valid payload."""
    slots = [(4, 1, "version"), (5, 1, "flags"), (6, 1, "kind length")]
    pos = 7 + wire[6]
    slots += [(pos, 4, "round"), (pos + 4, 4, "sender"), (pos + 8, 2, "field count")]
    nfields = struct.unpack_from("<H", wire, pos + 8)[0]
    pos += 10
    for _ in range(nfields):
        slots.append((pos, 1, "name length"))
        pos += 1 + wire[pos]
        code = wire[pos]
        slots.append((pos, 1, "type code"))
        pos += 1
        if code == ROWSET:
            slots += [(pos, 4, "universe"), (pos + 4, 4, "count"), (pos + 8, 1, "encoding")]
            pos += 9
        elif code == PACKED:
            slots += [(pos, 4, "count"), (pos + 4, 1, "bits")]
            pos += 5
        else:
            ndim = wire[pos]
            slots += [(pos, 1, "ndim")] + [(pos + 1 + 4 * i, 4, "dim") for i in range(ndim)]
            pos += 1 + 4 * ndim
        slots.append((pos, 4, "body length"))
        pos += 4 + struct.unpack_from("<I", wire, pos)[0]
    assert pos + 4 == len(wire)
    return slots


def decodes_or_rejects(buf: bytes, limits: Limits | None = None) -> None:
    """The decoder contract: a valid Message that re-encodes to ``buf``, or a PayloadError."""
    try:
        msg = decode(buf) if limits is None else decode(buf, limits=limits)
    except UnexpectedDecodeError:  # a PayloadError, but it means the decoder has a bug
        raise
    except PayloadError:
        return
    assert isinstance(msg, Message)
    assert encode(msg) == bytes(buf)


def typical_uplink(rng: np.random.Generator, universe: int = 1682, n: int = 400, k: int = 16, d: int = 32) -> Message:
    ids = np.sort(rng.choice(universe, n, replace=False)).astype(np.int64)
    return Message(
        "fedras/up",
        3,
        17,
        {
            "rows": RowSet(ids, universe),
            "actions": F32(rng.standard_normal((k, d)).astype(np.float32)),
            "assign": Packed(rng.integers(0, k, n).astype(np.int32), 4),
            "samples": I64(np.int64(n)),
        },
    )


# ---------------------------------------------------------------------------------------
# round trips
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls,dtype,code", ARRAY_TYPES, ids=[t[0].__name__ for t in ARRAY_TYPES])
@pytest.mark.parametrize("shape", [(), (0,), (5,), (3, 0), (2, 3), (2, 3, 4), (1, 2, 3, 4), (0, 0, 0, 0)])
def test_array_roundtrip(cls, dtype, code, shape):
    rng = np.random.default_rng(0)
    data = (rng.standard_normal(shape) * 50).astype(dtype)
    out = roundtrip(one(cls(data))).fields["x"].array
    assert out.dtype == dtype and out.shape == shape and out.flags.writeable and out.flags.c_contiguous
    np.testing.assert_array_equal(out, data)


def test_array_inputs_normalised():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert roundtrip(one(F32(a.T))).fields["x"].array.tolist() == a.T.tolist()  # non-contiguous
    big_endian = np.arange(5, dtype=">i4")
    assert roundtrip(one(I32(big_endian))).fields["x"].array.tolist() == list(range(5))
    assert roundtrip(one(I64(7))).fields["x"].array.shape == ()


def test_f16_is_bit_exact_and_int8_extremes():
    special = np.array([0.0, -0.0, 1 / 3, 65504, -65504, 6e-8, np.inf, -np.inf, np.nan], dtype=np.float16)
    out = roundtrip(one(F16(special))).fields["x"].array
    assert out.view(np.uint16).tolist() == special.view(np.uint16).tolist()
    ints = np.array([-128, -1, 0, 1, 127], dtype=np.int8)
    assert roundtrip(one(I8(ints))).fields["x"].array.tolist() == ints.tolist()


def test_non_finite_floats_are_not_a_codec_error():
    data = np.array([np.nan, np.inf, -np.inf, 1.0], dtype=np.float32)
    out = roundtrip(one(F32(data))).fields["x"].array
    assert np.isnan(out[0]) and np.isinf(out[1:3]).all()


def rowset_body(wire: bytes) -> Tuple[int, bytes]:
    """(encoding, body) of the single RowSet field of a one-field message."""
    offset = header_slots(wire)[-1][0]  # body length slot
    encoding = wire[offset - 1]
    n = struct.unpack_from("<I", wire, offset)[0]
    return encoding, wire[offset + 4 : offset + 4 + n]


@pytest.mark.parametrize(
    "ids,universe",
    [
        ([], 0),
        ([], 1),
        ([], 1000),
        ([0], 1),
        ([0], 1000),
        ([999], 1000),
        (list(range(1000)), 1000),
        (list(range(0, 1000, 3)), 1000),
        ([5, 6, 7], 10),
        ([0, 2**31 - 1], 2**31),
        (list(range(0, 2**20, 4099)), 2**20),
        (list(range(16)), 16),
        ([1, 3], 16),
    ],
)
def test_rowset_roundtrip_picks_smaller_encoding(ids, universe):
    msg = one(RowSet(np.array(ids, dtype=np.int64), universe))
    roundtrip(msg)
    wire = encode(msg)
    encoding, body = rowset_body(wire)
    gaps = np.diff(np.array(ids, dtype=np.int64), prepend=0).tolist()
    bitmap_len, varint_len = (universe + 7) // 8, len(leb128(gaps))
    assert encoding == (0 if bitmap_len <= varint_len else 1)  # ties pick the bitmap
    assert len(body) == min(bitmap_len, varint_len)
    if encoding == 0:
        bits = np.unpackbits(np.frombuffer(body, np.uint8), bitorder="little")
        assert np.flatnonzero(bits).tolist() == list(ids)
    else:
        assert body == leb128(gaps)


@pytest.mark.parametrize("bits", range(1, 17))
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 1000])
def test_packed_roundtrip_matches_fedras_ext(bits, n):
    rng = np.random.default_rng(bits * 1000 + n)
    idx = rng.integers(0, 2**bits, n).astype(np.int32)
    if n:
        idx[0] = 2**bits - 1
    msg = one(Packed(idx, bits))
    roundtrip(msg)
    wire = encode(msg)
    body = wire[len(wire) - 4 - (n * bits + 7) // 8 : len(wire) - 4]
    assert body == np.asarray(fedras_ext.pack_indices(idx, bits)).tobytes()


@pytest.mark.parametrize("n_bits", [NATIVE_MIN_BITS - 16, NATIVE_MIN_BITS, NATIVE_MIN_BITS + 16])
def test_packed_native_and_numpy_paths_agree(n_bits):
    idx = np.random.default_rng(1).integers(0, 2**16, n_bits // 16).astype(np.int32)
    msg = one(Packed(idx, 16))
    roundtrip(msg)
    assert encode(msg)[-4 - len(idx) * 2 : -4] == np.asarray(fedras_ext.pack_indices(idx, 16)).tobytes()


def test_integer_inputs_cast_only_when_lossless():
    assert roundtrip(one(RowSet(np.array([1, 2], dtype=np.int32), 5))).fields["x"].ids.dtype == np.int64
    assert roundtrip(one(Packed(np.array([1, 2], dtype=np.uint8), 2))).fields["x"].idx.dtype == np.int32
    with pytest.raises(ValueError, match="int32"):
        Packed(np.array([1], dtype=np.int64), 2)


def test_typical_uplinks_roundtrip():
    rng = np.random.default_rng(0)
    msg = typical_uplink(rng)
    msg.fields["down"] = F16(rng.standard_normal((4, 8)).astype(np.float16))
    roundtrip(msg)
    roundtrip(Message("fedras/down", 2**32 - 1, SERVER_ID, {"rows": RowSet(np.arange(0, 10**6, 997), 10**6)}))


def test_decoded_arrays_are_independent_copies():
    msg = one(F32(np.arange(6, dtype=np.float32).reshape(2, 3)))
    buf = bytearray(encode(msg))
    out = decode(buf)
    buf[-10:] = bytes(10)  # scribbling on the buffer must not reach the decoded array
    assert out == msg
    buf.extend(b"more")  # and no view of it is left behind (a live export would block resizing)
    out.fields["x"].array[0, 0] = 99  # writable
    assert decode(bytes(encode(msg))) == msg
    assert decode(memoryview(bytes(encode(msg)))) == msg


# ---------------------------------------------------------------------------------------
# byte accounting
# ---------------------------------------------------------------------------------------
def test_exact_bytes_of_a_small_message():
    msg = Message("k", 0, 1, {"a": I64(np.int64(7)), "r": RowSet(np.array([1, 3]), 16)})
    wire = encode(msg)
    header = 4 + 1 + 1 + (1 + 1) + 4 + 4 + 2  # magic, version, flags, kind, round, sender, count
    field_a = (1 + 1) + 1 + 1 + 4 + 8  # name, type, ndim 0, body length, one int64
    field_r = (1 + 1) + 1 + 9 + 4 + 2  # name, type, universe/count/encoding, body length, 2-byte bitmap
    assert len(wire) == encoded_size(msg) == header + field_a + field_r + 4 == 56
    expected = with_crc(
        b"FRAS\x01\x00\x01k" + struct.pack("<IIH", 0, 1, 2)
        + array_field(b"a", 6, [], struct.pack("<q", 7))
        + rowset_field(b"r", 16, 2, 0, bytes([0b1010, 0]))
    )
    assert wire == expected


def test_typical_uplink_sizes():
    rng = np.random.default_rng(0)
    msg = typical_uplink(rng)
    overhead = 4 + 2 + (1 + 9) + 8 + 2 + 4  # magic, version+flags, kind, round+sender, count, CRC
    rows = (1 + 4) + 1 + 9 + 4 + 211  # name, type, sizes, body length, bitmap of 1682 rows
    actions = (1 + 7) + 1 + (1 + 8) + 4 + 16 * 32 * 4
    assign = (1 + 6) + 1 + 5 + 4 + 400 * 4 // 8
    samples = (1 + 7) + 1 + 1 + 4 + 8
    assert len(encode(msg)) == encoded_size(msg) == overhead + rows + actions + assign + samples == 2569


# ---------------------------------------------------------------------------------------
# encoder validation: ValueError naming the field
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field,match",
    [
        (RowSet(np.array([3, 2]), 10), "sorted"),
        (RowSet(np.array([2, 2]), 10), "sorted"),
        (RowSet(np.array([-1, 2]), 10), r"\[0, 10\)"),
        (RowSet(np.array([1, 10]), 10), r"\[0, 10\)"),
        (Packed(np.array([0, 4], dtype=np.int32), 2), r"\[0, 2\*\*2\)"),
        (Packed(np.array([-1], dtype=np.int32), 2), r"\[0, 2\*\*2\)"),
    ],
)
def test_encode_rejects_bad_values_naming_the_field(field, match):
    with pytest.raises(ValueError, match=match) as info:
        encode(one(field, name="bad_field"))
    assert "bad_field" in str(info.value) and not isinstance(info.value, PayloadError)


@pytest.mark.parametrize(
    "make",
    [
        lambda: F32(np.zeros(3)),  # float64
        lambda: F16(np.zeros(3, np.float32)),
        lambda: I8(np.zeros(3, np.int16)),
        lambda: U8(np.zeros(3, bool)),
        lambda: F32(np.zeros((1,) * 5, np.float32)),
        lambda: RowSet(np.zeros((2, 2), np.int64), 5),
        lambda: RowSet(np.zeros(2, np.float32), 5),
        lambda: RowSet(np.zeros(0, np.int64), -1),
        lambda: RowSet(np.zeros(0, np.int64), 2**32),
        lambda: Packed(np.zeros(2, np.int32), 0),
        lambda: Packed(np.zeros(2, np.int32), 17),
        lambda: Packed(np.zeros(2, np.int32), True),
        lambda: Packed(np.zeros((2, 1), np.int32), 3),
    ],
)
def test_field_constructors_reject_wrong_types(make):
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize(
    "msg",
    [
        Message("", 0, 0, {"a": I64(1)}),
        Message("x" * 33, 0, 0, {"a": I64(1)}),
        Message("has space", 0, 0, {"a": I64(1)}),
        Message("caf\u00e9", 0, 0, {"a": I64(1)}),
        Message("k", -1, 0, {"a": I64(1)}),
        Message("k", 2**32, 0, {"a": I64(1)}),
        Message("k", 0, 2**32, {"a": I64(1)}),
        Message("k", 0, 0, {}),
        Message("k", 0, 0, {"n" * 33: I64(1)}),
        Message("k", 0, 0, {"": I64(1)}),
        Message("k", 0, 0, {"\u00e9": I64(1)}),
        Message("k", 0, 0, {"a": np.zeros(3)}),
    ],
)
def test_encode_rejects_bad_messages(msg):
    with pytest.raises(ValueError):
        encode(msg)


# ---------------------------------------------------------------------------------------
# decoder: each named check
# ---------------------------------------------------------------------------------------
GOOD_FIELD = array_field(b"a", 6, [], struct.pack("<q", 7))


def assert_rejects(buf: bytes, error: type, match: str | None = None, limits: Limits | None = None) -> None:
    with pytest.raises(error, match=match):
        decode(buf) if limits is None else decode(buf, limits=limits)


def test_valid_raw_message_decodes():
    assert decode(raw_message([GOOD_FIELD])).fields["a"].array == 7


@pytest.mark.parametrize(
    "buf,error,match",
    [
        (b"", TruncatedPayload, "magic"),
        (b"FR", TruncatedPayload, "magic"),
        (b"XRAS" + bytes(40), BadMagic, None),
        (raw_message([GOOD_FIELD], version=2), UnsupportedVersion, "version 2"),
        (raw_message([GOOD_FIELD], version=0), UnsupportedVersion, None),
        (raw_message([GOOD_FIELD], flags=1), MalformedPayload, "flags"),
        (raw_message([GOOD_FIELD], kind=b""), MalformedPayload, "kind"),
        (raw_message([GOOD_FIELD], kind=b"a b"), MalformedPayload, "kind"),
        (raw_message([GOOD_FIELD], kind=b"\xc3\xa9"), MalformedPayload, "kind"),
        (raw_message([GOOD_FIELD], kind=b"k" * 33), MalformedPayload, "kind"),
        (raw_message([]), MalformedPayload, "no fields"),
        (raw_message([GOOD_FIELD] * 65), LimitExceeded, "65 fields"),
        (raw_message([GOOD_FIELD], count=2), TruncatedPayload, None),
        (raw_message([GOOD_FIELD, GOOD_FIELD]), MalformedPayload, "duplicate"),
        (raw_message([raw_field(b"a\x00", 6, b"\x00", bytes(8))]), MalformedPayload, "name"),
        (raw_message([raw_field(b"", 6, b"\x00", bytes(8))]), MalformedPayload, "name"),
        (raw_message([raw_field(b"a", 0, b"", b"")]), MalformedField, "type code 0"),
        (raw_message([raw_field(b"a", 9, b"", b"")]), MalformedField, "type code 9"),
        (raw_message([raw_field(b"a", 255, b"", b"")]), MalformedField, "type code 255"),
        (raw_message([GOOD_FIELD])[:-1] + b"\x00", ChecksumMismatch, None),
        (raw_message([GOOD_FIELD]) + b"\x00", MalformedPayload, "1 trailing"),
        (raw_message([GOOD_FIELD]) + raw_message([GOOD_FIELD]), MalformedPayload, "trailing"),
    ],
)
def test_decode_rejects_bad_headers(buf, error, match):
    assert_rejects(buf, error, match)


@pytest.mark.parametrize(
    "field,error,match",
    [
        # arrays
        (array_field(b"a", 1, [1] * 5, bytes(4)), MalformedField, "ndim 5"),
        (array_field(b"a", 1, [2**32 - 1] * 4, bytes(4)), LimitExceeded, "elements"),
        (array_field(b"a", 1, [2, 3], bytes(20)), MalformedField, "needs 24"),
        (array_field(b"a", 1, [2, 3], bytes(24), body_len=2**32 - 1), MalformedField, "needs 24"),
        (array_field(b"a", 1, [2**27 + 1], b""), LimitExceeded, "elements"),
        (array_field(b"a", 1, [2**20, 2**20], b""), LimitExceeded, "elements"),
        (array_field(b"a", 1, [0, 2**31, 2**31, 5], b""), LimitExceeded, "elements"),  # empty, yet too big for numpy
        # RowSet
        (rowset_field(b"r", 2**31 + 1, 0, 0, b""), LimitExceeded, "universe"),
        (rowset_field(b"r", 2**31, 2**27 + 1, 1, b""), LimitExceeded, "elements"),
        (rowset_field(b"r", 10, 11, 0, bytes(2)), MalformedField, "11 ids in a universe of 10"),
        (rowset_field(b"r", 10, 1, 2, bytes(2)), MalformedField, "encoding 2"),
        (rowset_field(b"r", 16, 1, 0, bytes(1)), MalformedField, "needs 2"),
        (rowset_field(b"r", 10, 2, 0, bytes([0b1000_0011, 0])), MalformedField, "holds 3 ids"),  # popcount
        (rowset_field(b"r", 10, 2, 0, bytes([1, 0b100])), MalformedField, "beyond universe"),
        (rowset_field(b"r", 9, 1, 0, bytes([0, 0b10])), MalformedField, "beyond universe"),
        (rowset_field(b"r", 2**31, 2**27, 1, bytes(10)), MalformedField, "cannot hold"),
        (rowset_field(b"r", 10**6, 3, 1, leb128([5, 7])), MalformedField, "cannot hold|2 complete values"),
        (rowset_field(b"r", 10**6, 2, 1, leb128([5, 7, 9])), MalformedField, "3 complete values"),
        (rowset_field(b"r", 10**6, 2, 1, leb128([5, 7]) + b"\x80"), MalformedField, "ends inside"),
        (rowset_field(b"r", 10**6, 2, 1, leb128([5, 0])), MalformedField, "strictly increasing"),
        (rowset_field(b"r", 10**6, 2, 1, leb128([5, 10**6])), MalformedField, "below universe"),
        (rowset_field(b"r", 10**6, 2, 1, leb128([600_000, 400_000])), MalformedField, "below universe"),
        (rowset_field(b"r", 2**31, 2, 1, b"\x01" + b"\x80" * 10 + b"\x01"), MalformedField, "11 bytes"),
        (rowset_field(b"r", 2**31, 1, 1, b"\xff" * 9 + b"\x02"), MalformedField, "over 64 bits"),
        (rowset_field(b"r", 10**6, 1, 1, b"\x85\x00"), MalformedField, "shortest form"),
        (rowset_field(b"r", 16, 2, 1, leb128([1, 2])), MalformedField, "bitmap is no larger"),
        (rowset_field(b"r", 10**6, 1, 0, bytes([1]) + bytes(124_999)), MalformedField, "varints are smaller"),
        # Packed
        (packed_field(b"p", 3, 0, b""), MalformedField, "bits 0"),
        (packed_field(b"p", 3, 17, bytes(7)), MalformedField, "bits 17"),
        (packed_field(b"p", 3, 255, bytes(7)), MalformedField, "bits 255"),
        (packed_field(b"p", 3, 4, bytes(1)), MalformedField, "need 2"),
        (packed_field(b"p", 3, 4, bytes(3)), MalformedField, "need 2"),
        (packed_field(b"p", 3, 4, bytes([0, 0x10])), MalformedField, "padding"),
        (packed_field(b"p", 2**32 - 1, 16, b""), LimitExceeded, "elements"),
        (packed_field(b"p", 2**27, 16, bytes(8)), MalformedField, "need"),
    ],
)
def test_decode_rejects_bad_fields(field, error, match):
    assert_rejects(raw_message([GOOD_FIELD.replace(b"\x01a", b"\x01z"), field]), error, match)


def test_empty_array_with_huge_dims():
    no_limits = Limits(max_elements=2**200)
    assert_rejects(raw_message([array_field(b"a", 6, [0, 2**31, 2**31], b"")]), MalformedField, "too large", limits=no_limits)
    assert decode(raw_message([array_field(b"a", 6, [0, 2**20, 2**20], b"")]), limits=no_limits).fields["a"].array.shape == (0, 2**20, 2**20)


def test_atheris_regressions():
    """Crashes found by tests/fuzz/fuzz_codec.py (empty arrays whose other dims overflow numpy)."""
    for blob in [
        "465241530100087175616e742f7570010000000200000002000171030203000000050000000f000000ae1d00876d38cf843f42a603666dc40162010400000000000000210021bfeb2300000000000000",
        "465241530100087175616e742f7570010000000200000002000171030203000000050000000f000000ae1d00876d38cf843f42a603666dc4016201040000000000bf0000212100eb2300003d00000000",
    ]:
        data = bytes.fromhex(blob)
        decodes_or_rejects(data)
        decodes_or_rejects(with_crc(data))


def test_body_length_beyond_buffer_is_truncation():
    assert_rejects(raw_message([array_field(b"a", 4, [100], bytes(10), body_len=100)]), TruncatedPayload, "body")
    assert_rejects(raw_message([rowset_field(b"r", 800, 1, 0, b"", body_len=100)]), TruncatedPayload, "body")


def test_limits_are_configurable():
    wire = encode(typical_uplink(np.random.default_rng(0)))
    assert_rejects(wire, LimitExceeded, "bytes", limits=Limits(max_bytes=len(wire) - 1))
    assert_rejects(wire, LimitExceeded, "fields", limits=Limits(max_fields=3))
    assert_rejects(wire, LimitExceeded, "elements", limits=Limits(max_elements=399))
    assert_rejects(wire, LimitExceeded, "universe", limits=Limits(max_universe=1000))
    decode(wire, limits=Limits(max_bytes=len(wire), max_fields=4, max_elements=512, max_universe=1682))


def test_every_truncation_is_rejected():
    wire = encode(typical_uplink(np.random.default_rng(0), universe=100, n=20, k=4, d=3))
    for cut in range(len(wire)):
        assert_rejects(wire[:cut], TruncatedPayload)


def test_non_bytes_input_is_a_type_error():
    with pytest.raises(TypeError):
        decode("FRAS")  # type: ignore[arg-type]


def test_huge_declarations_are_rejected_without_allocating():
    huge = [
        array_field(b"a", 1, [2**32 - 1] * 4, bytes(16)),
        array_field(b"a", 6, [2**31, 2**31], bytes(8)),
        rowset_field(b"r", 2**31, 2**27, 1, bytes(64)),
        rowset_field(b"r", 2**31, 2**20, 0, bytes(64)),
        rowset_field(b"r", 2**32 - 1, 2**32 - 1, 1, bytes(64)),
        packed_field(b"p", 2**32 - 1, 16, bytes(64)),
        packed_field(b"p", 2**27, 16, bytes(64)),
    ]
    no_limits = Limits(max_bytes=2**62, max_elements=2**130, max_universe=2**32, max_fields=2**16)
    tracemalloc.start()
    try:
        for field in huge:
            buf = raw_message([field])
            for limits in (None, no_limits):
                tracemalloc.reset_peak()
                with pytest.raises(PayloadError):
                    decode(buf) if limits is None else decode(buf, limits=limits)
                assert tracemalloc.get_traced_memory()[1] < 64 * 1024
    finally:
        tracemalloc.stop()


# ---------------------------------------------------------------------------------------
# hypothesis: random messages round-trip
# ---------------------------------------------------------------------------------------
NAMES = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=32)
SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)


@st.composite
def array_fields(draw):
    cls, dtype, _ = draw(st.sampled_from(ARRAY_TYPES))
    return cls(draw(hnp.arrays(dtype, SHAPES)))


@st.composite
def rowsets(draw):
    universe = draw(st.one_of(st.integers(0, 64), st.integers(0, 5000), st.sampled_from([2**20, 2**31])))
    if universe == 0:
        return RowSet(np.zeros(0, np.int64), 0)
    ids = draw(st.lists(st.integers(0, universe - 1), max_size=min(universe, 300), unique=True))
    return RowSet(np.array(sorted(ids), dtype=np.int64), universe)


@st.composite
def packeds(draw):
    bits = draw(st.integers(1, 16))
    idx = draw(st.lists(st.integers(0, 2**bits - 1), max_size=300))
    return Packed(np.array(idx, dtype=np.int32), bits)


FIELDS = st.one_of(array_fields(), rowsets(), packeds())


@st.composite
def messages(draw, max_fields: int = 6):
    return Message(
        draw(NAMES),
        draw(st.integers(0, 2**32 - 1)),
        draw(st.integers(0, 2**32 - 1)),
        draw(st.dictionaries(NAMES, FIELDS, min_size=1, max_size=max_fields)),
    )


PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY
@given(messages())
def test_random_messages_roundtrip(msg):
    roundtrip(msg)


# ---------------------------------------------------------------------------------------
# hypothesis fuzzing: mutated payloads decode or raise PayloadError, nothing else
# ---------------------------------------------------------------------------------------
def recrc(buf: bytearray) -> bytes:
    return with_crc(bytes(buf[:-4]))


@PROPERTY
@given(messages(max_fields=3), st.data())
def test_fuzz_header_rewrites(msg, data):
    wire = encode(msg)
    slots = header_slots(wire)
    buf = bytearray(wire)
    for _ in range(data.draw(st.integers(1, 3))):
        offset, width, _what = data.draw(st.sampled_from(slots))
        value = data.draw(st.one_of(st.sampled_from(EXTREMES), st.integers(0, 2 ** (8 * width) - 1)))
        buf[offset : offset + width] = (value % 2 ** (8 * width)).to_bytes(width, "little")
    decodes_or_rejects(recrc(buf))
    decodes_or_rejects(bytes(buf))


@PROPERTY
@given(messages(max_fields=3), st.data())
def test_fuzz_bit_flips_and_byte_writes(msg, data):
    buf = bytearray(encode(msg))
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(buf) - 1))
        if data.draw(st.booleans()):
            buf[pos] ^= 1 << data.draw(st.integers(0, 7))
        else:
            buf[pos] = data.draw(st.integers(0, 255))
    decodes_or_rejects(bytes(buf))
    decodes_or_rejects(recrc(buf))  # past the CRC, into the structural checks


@PROPERTY
@given(messages(max_fields=3), st.data())
def test_fuzz_splices(msg, data):
    wire = encode(msg)
    cut = data.draw(st.integers(0, len(wire)))
    extra = data.draw(st.binary(max_size=64))
    decodes_or_rejects(wire + extra)
    decodes_or_rejects(wire[:cut] + extra)
    decodes_or_rejects(with_crc(wire[:cut] + extra))
    body = bytearray(wire[:-4])
    at = data.draw(st.integers(0, len(body)))
    del body[at : at + data.draw(st.integers(0, 16))]
    decodes_or_rejects(with_crc(bytes(body) + extra))


@PROPERTY
@given(st.binary(max_size=200))
def test_fuzz_arbitrary_bytes(blob):
    decodes_or_rejects(blob)
    decodes_or_rejects(with_crc(b"FRAS\x01\x00" + blob))


@PROPERTY
@given(st.data())
def test_fuzz_rowset_and_packed_bodies(data):
    """Random bodies under valid-looking RowSet / Packed headers reach the body checks."""
    if data.draw(st.booleans()):
        universe = data.draw(st.sampled_from([0, 1, 7, 8, 9, 64, 1000, 2**31]))
        count = data.draw(st.integers(0, 12))
        encoding = data.draw(st.sampled_from([0, 1]))
        if encoding == 0 and universe <= 1000:
            body = data.draw(st.binary(min_size=(universe + 7) // 8, max_size=(universe + 7) // 8))
        else:
            body = data.draw(st.binary(min_size=count, max_size=10 * count))
        field = rowset_field(b"r", universe, count, encoding, body)
    else:
        count, bits = data.draw(st.integers(0, 40)), data.draw(st.integers(1, 16))
        n = (count * bits + 7) // 8
        field = packed_field(b"p", count, bits, data.draw(st.binary(min_size=n, max_size=n)))
    decodes_or_rejects(raw_message([field]))


def test_field_size_is_each_fields_share_of_the_encoding():
    from fedras.codec import field_size

    rng = np.random.default_rng(0)
    fields = {
        "a": F32(rng.normal(size=(7, 3)).astype(np.float32)),
        "half": F16(np.zeros((2, 2, 2), np.float16)),
        "q": I8(np.zeros(5, np.int8)),
        "p": Packed(np.arange(13, dtype=np.int32) % 8, 3),
        "r": RowSet(np.array([1, 5, 200], np.int64), 1000),
        "s": I64(np.int64(4)),
    }
    base = Message("k/up", 1, 2, {"s": fields["s"]})
    for name, f in fields.items():
        if name == "s":
            continue
        with_f = Message("k/up", 1, 2, {"s": fields["s"], name: f})
        assert field_size(name, f) == len(encode(with_f)) - len(encode(base)), name


@pytest.mark.parametrize("bits", [1, 3, 4, 7, 8, 13, 16])
def test_segment_packing_native_and_numpy_paths_agree(monkeypatch, bits):
    from fedras.codec import bitpack

    rng = np.random.default_rng(bits)
    counts = rng.integers(0, 3000, 30)
    counts[::7] = 0
    idx = rng.integers(0, 1 << bits, int(counts.sum())).astype(np.int32)
    assert idx.size * bits >= NATIVE_MIN_BITS  # the native branch
    native = bitpack.pack_segments(idx, counts, bits)
    back = bitpack.unpack_segments(native, counts, bits)
    monkeypatch.setattr(bitpack, "NATIVE_MIN_BITS", 1 << 62)  # the numpy branch
    assert np.array_equal(native, bitpack.pack_segments(idx, counts, bits))
    assert np.array_equal(back, bitpack.unpack_segments(native, counts, bits))
    assert np.array_equal(back, idx)

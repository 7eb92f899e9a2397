"""decode_batch against decode, the reference: it may only accept what decode accepts,
and must decode it to the same values. Mutations re-seal the CRC, so the header and
body checks, not the checksum, decide."""
import zlib

import numpy as np
import pytest

from fedras.codec import F16, F32, I64, Limits, Message, Packed, PayloadError, RowSet, decode, encode
from fedras.codec.batch_decode import Expect, decode_batch, to_columns

UNIVERSE, DIM = 300, 6
TEMPLATE = {
    "rows": Expect(RowSet, universe=UNIVERSE),
    "actions": Expect(F32, (None, DIM)),
    "assign": Expect(Packed),
    "scale": Expect(F16, (None,)),
    "n": Expect(I64, ()),
    "shared.w": Expect(F32, (2, 3)),
}


def valid_message(rng, sender, n=None):
    n = int(rng.choice([0, 1, 5, 40, 120, 299])) if n is None else n
    k = int(rng.integers(1, 9)) if n else 0
    rows = np.sort(rng.choice(UNIVERSE, n, replace=False))
    return Message("fedras/up", 3, sender, {
        "rows": RowSet(rows, UNIVERSE),
        "actions": F32(rng.standard_normal((k, DIM)).astype(np.float32)),
        "assign": Packed(rng.integers(0, max(k, 1), n).astype(np.int32), int(rng.integers(4, 17))),
        "scale": F16(rng.standard_normal(k).astype(np.float16)),
        "n": I64(np.int64(rng.integers(0, 100))),
        "shared.w": F32(rng.standard_normal((2, 3)).astype(np.float32)),
    })


def reseal(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "little")


def mutate(wire: bytes, rng) -> bytes:
    body = bytearray(wire[:-4])
    kind = rng.integers(6)
    if kind == 0:    # flip bits anywhere (headers included)
        for pos in rng.integers(0, len(body) * 8, size=int(rng.integers(1, 4))):
            body[pos // 8] ^= 1 << (pos % 8)
    elif kind == 1:  # overwrite one byte with an extreme value
        body[int(rng.integers(len(body)))] = int(rng.choice([0, 1, 0x7F, 0x80, 0xFF]))
    elif kind == 2:  # cut
        del body[int(rng.integers(len(body))):]
    elif kind == 3:  # grow
        at = int(rng.integers(len(body) + 1))
        body[at:at] = bytes(rng.integers(0, 256, int(rng.integers(1, 9))).astype(np.uint8))
    elif kind == 4:  # a u32 size set to something large
        at = int(rng.integers(0, max(len(body) - 4, 1)))
        body[at: at + 4] = int(rng.choice([2**31, 2**32 - 1, 1 << 27, 65536])).to_bytes(4, "little")
    else:            # bad CRC only
        return bytes(body) + b"\0\0\0\0"
    return reseal(bytes(body))


def check_agrees(wires, template, limits=Limits()):
    out = decode_batch(wires, "fedras/up", template, limits=limits)
    assert np.array_equal(np.sort(np.concatenate([out.index, out.others])), np.arange(len(wires)))
    for j, i in enumerate(out.index.tolist()):
        msg = decode(wires[i], limits=limits)  # must not raise: the fast path accepted it
        assert (msg.sender, msg.round) == (out.senders[j], out.rounds[j])
        expected = to_columns(msg.fields, template)
        for name, col in out.columns.items():
            assert col.field(j) == expected[name].field(0), name
    return out


def test_valid_payloads_all_take_the_fast_path():
    rng = np.random.default_rng(0)
    msgs = [valid_message(rng, s) for s in range(60)]
    out = check_agrees([encode(m) for m in msgs], TEMPLATE)
    assert out.others.size == 0
    for j, m in enumerate(msgs):
        assert out.columns["rows"].field(j) == m.fields["rows"]
        assert out.columns["n"].field(j) == m.fields["n"]


@pytest.mark.parametrize("seed", range(25))
def test_mutated_payloads_agree_with_decode(seed):
    rng = np.random.default_rng(seed)
    wires = []
    for s in range(80):
        wire = encode(valid_message(rng, s))
        wires.append(mutate(wire, rng) if rng.random() < 0.8 else wire)
    out = check_agrees(wires, TEMPLATE)
    for i in out.others.tolist():  # left out: decode refuses it, or it is valid but off-template
        try:
            msg = decode(wires[i])
        except PayloadError:
            continue
        with pytest.raises(ValueError):
            to_columns(msg.fields, TEMPLATE) if msg.kind == "fedras/up" else (_ for _ in ()).throw(ValueError())


def test_limits_are_honoured():
    rng = np.random.default_rng(1)
    wires = [encode(valid_message(rng, s)) for s in range(20)]
    for limits in (Limits(max_bytes=400), Limits(max_elements=50), Limits(max_universe=100), Limits(max_fields=5)):
        check_agrees(wires, TEMPLATE, limits)


def test_off_template_payloads_are_left_to_decode():
    rng = np.random.default_rng(2)
    base = valid_message(rng, 1)
    reordered = Message(base.kind, 3, 1, dict(reversed(list(base.fields.items()))))
    wrong_width = Message(base.kind, 3, 1, {**base.fields, "actions": F32(np.zeros((1, DIM + 1), np.float32))})
    other_kind = Message("fedavg/up", 3, 1, base.fields)
    out = decode_batch([encode(m) for m in (reordered, wrong_width, other_kind, base)], "fedras/up", TEMPLATE)
    assert out.index.tolist() == [3] and out.others.tolist() == [0, 1, 2]
    assert set(to_columns(reordered.fields, TEMPLATE)) == set(TEMPLATE)  # valid, only in another order
    with pytest.raises(ValueError, match="must be F32"):
        to_columns(wrong_width.fields, TEMPLATE)


def test_to_columns_names_what_does_not_fit():
    rng = np.random.default_rng(3)
    fields = dict(valid_message(rng, 1).fields)
    with pytest.raises(ValueError, match="'n' is missing"):
        to_columns({k: v for k, v in fields.items() if k != "n"}, TEMPLATE)
    with pytest.raises(ValueError, match="unexpected field"):
        to_columns({**fields, "extra": I64(np.int64(1))}, TEMPLATE)
    with pytest.raises(ValueError, match="universe of 7"):
        to_columns({**fields, "rows": RowSet(np.array([1]), 7)}, TEMPLATE)
    with pytest.raises(ValueError, match="must be a Packed"):
        to_columns({**fields, "assign": I64(np.zeros(3, np.int64))}, TEMPLATE)


def test_bad_templates_fail_loudly():
    with pytest.raises(ValueError, match="template name"):
        decode_batch([], "bad kind", TEMPLATE)
    with pytest.raises(ValueError, match="only the first may vary"):
        decode_batch([], "k", {"a": Expect(F32, (3, None))})
    with pytest.raises(ValueError, match="universe"):
        decode_batch([], "k", {"r": Expect(RowSet)})


@pytest.mark.parametrize("n_rows", [0, 3])
def test_every_single_byte_change_agrees_with_decode(n_rows):
    # Small payloads, every byte set to every boundary value (CRC re-sealed), plus bytes
    # after the CRC: each header check of decode must have its twin in the fast path.
    body = encode(valid_message(np.random.default_rng(n_rows), 5, n_rows))[:-4]
    wires = [reseal(body[:i] + bytes((v,)) + body[i + 1:]) for i in range(len(body))
             for v in (0, 1, 2, 3, 0x7F, 0x80, 0xFE, 0xFF) if v != body[i]]
    wires += [reseal(body) + b"\0", reseal(body)[:-1]]
    out = check_agrees(wires, TEMPLATE)
    accepted_by_decode = 0
    for w in wires:
        try:
            m = decode(w)
            to_columns(m.fields, TEMPLATE)
            accepted_by_decode += m.kind == "fedras/up"
        except (PayloadError, ValueError):
            pass
    assert out.index.size == accepted_by_decode  # and nothing valid was left to the slow path


def test_bitmap_with_a_bit_past_the_universe_is_left_to_decode():
    # Same number of set bits (so the count still matches), one of them past the universe.
    rng = np.random.default_rng(4)
    msg = valid_message(rng, 1, 120)
    assert UNIVERSE % 8 and UNIVERSE // 8 < 120         # a bitmap with padding bits in its last byte
    body = bytearray(encode(msg)[:-4])
    start = body.index(b"rows") + 4 + 1 + 4 + 4 + 1 + 4   # name, type, universe, count, encoding, length
    first_set = next(i for i in range(start, start + UNIVERSE // 8) if body[i])
    body[first_set] &= body[first_set] - 1               # clear its lowest set bit
    body[start + UNIVERSE // 8] |= 1 << (UNIVERSE % 8)    # set the first bit past the universe
    wire = reseal(bytes(body))
    with pytest.raises(PayloadError, match="beyond universe"):
        decode(wire)
    assert decode_batch([wire], "fedras/up", TEMPLATE).index.size == 0


def test_non_canonical_rowset_is_left_to_decode(monkeypatch):
    # A sparse set sent as a bitmap (its delta varints would be smaller): decode refuses it.
    from fedras.codec import rowset

    rng = np.random.default_rng(5)
    monkeypatch.setattr(rowset, "_varint_plan", lambda ids, universe: None)  # force the bitmap
    wire = encode(valid_message(rng, 1, 5))
    monkeypatch.undo()
    with pytest.raises(PayloadError, match="delta varints are smaller"):
        decode(wire)
    assert decode_batch([wire], "fedras/up", TEMPLATE).index.size == 0


def with_rows_body(msg, count, body, encoding=1):
    """``msg`` encoded with its rows field's count, encoding and body replaced (CRC re-sealed)."""
    wire = encode(msg)[:-4]
    at = wire.index(b"\x04rows\x07") + 6          # name length, name, type code
    old_len = int.from_bytes(wire[at + 9: at + 13], "little")
    head = wire[:at + 4] + count.to_bytes(4, "little") + bytes((encoding,)) + len(body).to_bytes(4, "little")
    return reseal(head + body + wire[at + 13 + old_len:])


@pytest.mark.parametrize("count, body, why", [
    (2, b"\x85\x00\x01", "shortest form"),            # 5 sent in two bytes
    (2, b"\x05\x00", "zero gap"),
    (2, b"\x05\xa8\x02", "not below universe"),       # 5 + 296 + ... : 5 then 296 -> id 301
    (1, b"\xac\x02", "not below universe"),           # a single id of 300
    (1, b"\x80" * 10 + b"\x00", "varint"),            # an 11-byte value
    (1, b"\xff" * 9 + b"\x02", "over 64 bits"),
    (1, b"\x80" * 9 + b"\x01", "not below universe"),   # 2**63: negative as an int64
    (1, b"\xff" * 9 + b"\x81\x01", "varint"),          # 11 bytes, high bits set
    (3, b"\x05\x05", "complete values"),              # fewer values than declared
    (1, b"\x05\x85", "ends inside"),
])
def test_bad_delta_varints_are_left_to_decode(count, body, why):
    msg = valid_message(np.random.default_rng(6), 1, count)
    wire = with_rows_body(msg, count, body)
    with pytest.raises(PayloadError):
        decode(wire)
    assert decode_batch([wire], "fedras/up", TEMPLATE).index.size == 0


def test_delta_varints_larger_than_the_bitmap_are_left_to_decode():
    # Ids 0..37 take 38 varint bytes; the bitmap of 300 rows takes 38: not smaller.
    msg = valid_message(np.random.default_rng(7), 1, 38)
    wire = with_rows_body(msg, 38, b"\x00" + b"\x01" * 37)
    with pytest.raises(PayloadError, match="bitmap is no larger"):
        decode(wire)
    assert decode_batch([wire], "fedras/up", TEMPLATE).index.size == 0

"""encode_batch against the reference: byte-identical to encode() of each message."""
import numpy as np
import pytest

from fedras.codec import F16, F32, I8, I64, Message, PayloadError, decode, encode, field_size
from fedras.codec.batch import ArrayColumn, PackedColumn, RowSetColumn, encode_batch


def csr(counts):
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def random_batch(rng, n_msgs, universe, bits, max_rows=300):
    """Columns of every field type, ragged and stacked, with empty messages mixed in."""
    counts = rng.integers(0, min(universe, max_rows) + 1, n_msgs)
    counts[rng.random(n_msgs) < 0.2] = 0
    ids = np.concatenate([np.sort(rng.choice(universe, c, replace=False)) for c in counts]).astype(np.int64)
    per_msg_bits = np.broadcast_to(bits, (n_msgs,))
    idx = np.concatenate([rng.integers(0, 1 << int(b), c) for b, c in zip(per_msg_bits, counts)]).astype(np.int32)
    k = rng.integers(0, 20, n_msgs)
    actions = rng.standard_normal((int(k.sum()), 7)).astype(np.float32)
    return {
        "rows": RowSetColumn(ids, csr(counts), universe),
        "actions": ArrayColumn(F32, actions, csr(k)),
        "assign": PackedColumn(idx, csr(counts), bits),
        "scale": ArrayColumn(F16, actions[:, 0].astype(np.float16), csr(k)),
        "codes": ArrayColumn(I8, rng.integers(-127, 128, (int(counts.sum()), 3)).astype(np.int8), csr(counts)),
        "n": ArrayColumn(I64, rng.integers(0, 1000, n_msgs)),
        "shared.w": ArrayColumn(F32, rng.standard_normal((n_msgs, 3, 2)).astype(np.float32)),
    }


def reference(kind, round_, senders, columns):
    msgs = [Message(kind, round_, int(c), {name: col.field(s) for name, col in columns.items()})
            for s, c in enumerate(senders)]
    return [encode(m) for m in msgs], msgs


@pytest.mark.parametrize("seed", range(40))
def test_batch_bytes_equal_encode(seed):
    rng = np.random.default_rng(seed)
    n_msgs = int(rng.integers(1, 12))
    universe = int(rng.choice([0, 1, 5, 8, 64, 1682, 100_000]))
    bits = rng.integers(1, 17, n_msgs) if seed % 2 else int(rng.integers(1, 17))
    columns = random_batch(rng, n_msgs, universe, bits)
    senders = rng.integers(0, 2**32, n_msgs).tolist()
    wires, sizes = encode_batch("fedras/up", 7, senders, columns)
    expected, msgs = reference("fedras/up", 7, senders, columns)
    assert wires == expected
    for s, msg in enumerate(msgs):
        assert decode(wires[s]) == msg
        for name, f in msg.fields.items():
            assert sizes[name][s] == field_size(name, f)


@pytest.mark.parametrize("bits", range(1, 17))
def test_packed_alignment_every_width(bits):
    # Odd counts leave padding bits in each message's last byte: they must stay zero and
    # the next message must start on a fresh byte.
    rng = np.random.default_rng(bits)
    counts = np.array([1, 7, 0, 9, 8, 3])
    idx = rng.integers(0, 1 << bits, counts.sum()).astype(np.int32)
    columns = {"assign": PackedColumn(idx, csr(counts), bits)}
    assert encode_batch("k", 1, list(range(6)), columns)[0] == reference("k", 1, range(6), columns)[0]


def test_rowset_picks_each_messages_encoding():
    # Sparse sets go as varints, dense ones as bitmaps, within one batch.
    universe = 1000
    sets = [np.array([3, 500]), np.arange(0, 1000, 2), np.array([], dtype=np.int64), np.arange(1000), np.array([999])]
    columns = {"rows": RowSetColumn(np.concatenate(sets), csr([len(x) for x in sets]), universe)}
    wires, _ = encode_batch("k", 1, list(range(5)), columns)
    assert wires == reference("k", 1, range(5), columns)[0]
    for w, ids in zip(wires, sets):
        assert np.array_equal(decode(w).fields["rows"].ids, ids)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: RowSetColumn(np.array([3, 2]), csr([2]), 10), "sorted"),
        (lambda: RowSetColumn(np.array([2, 2]), csr([2]), 10), "sorted"),
        (lambda: RowSetColumn(np.array([-1, 2]), csr([2]), 10), r"\[0, 10\)"),
        (lambda: RowSetColumn(np.array([1, 10]), csr([2]), 10), r"\[0, 10\)"),
        (lambda: RowSetColumn(np.array([1.0]), csr([1]), 10), "int64"),
        (lambda: RowSetColumn(np.array([1, 2]), np.array([0, 3]), 10), "offsets"),
        (lambda: RowSetColumn(np.array([1, 2]), np.array([0, 2, 1, 2]), 10), "offsets"),
        (lambda: PackedColumn(np.array([0, 4], dtype=np.int32), csr([2]), 2), r"2\*\*bits"),
        (lambda: PackedColumn(np.array([-1], dtype=np.int32), csr([1]), 2), r"2\*\*bits"),
        (lambda: PackedColumn(np.array([3, 3], dtype=np.int32), csr([1, 1]), np.array([2, 1])), r"2\*\*bits"),
        (lambda: PackedColumn(np.array([0], dtype=np.int32), csr([1]), 17), "1..16"),
        (lambda: PackedColumn(np.array([0], dtype=np.int32), csr([1]), 0), "1..16"),
        (lambda: PackedColumn(np.array([0]), csr([1]), 2), "int32"),
        (lambda: ArrayColumn(F32, np.zeros(3, dtype=np.float64)), "float32"),
        (lambda: ArrayColumn(F32, np.zeros((1, 1, 1, 1, 1, 1), dtype=np.float32)), "0..4 dims"),
    ],
)
def test_columns_refuse_what_encode_refuses(make, match):
    with pytest.raises(ValueError, match=match) as info:
        make()
    assert not isinstance(info.value, PayloadError)


def test_batch_refuses_bad_envelopes():
    col = {"n": ArrayColumn(I64, np.arange(3))}
    with pytest.raises(ValueError, match="3 messages, there are 2"):
        encode_batch("k", 1, [0, 1], col)
    with pytest.raises(ValueError, match="sender"):
        encode_batch("k", 1, [0, 1, 2**32], col)
    with pytest.raises(ValueError, match="round"):
        encode_batch("k", -1, [0, 1, 2], col)
    with pytest.raises(ValueError, match="kind"):
        encode_batch("bad kind", 1, [0, 1, 2], col)
    with pytest.raises(ValueError, match="1..65535 fields"):
        encode_batch("k", 1, [0, 1, 2], {})


@pytest.mark.parametrize("bits", [1, 5, 16])
def test_large_packed_batch_equals_encode(bits):
    # Enough index bits that pack_segments takes its native branch.
    rng = np.random.default_rng(bits)
    counts = rng.integers(0, 4000, 24)
    idx = rng.integers(0, 1 << bits, int(counts.sum())).astype(np.int32)
    columns = {"assign": PackedColumn(idx, csr(counts), bits)}
    wires, _ = encode_batch("k", 3, list(range(24)), columns)
    expected, msgs = reference("k", 3, range(24), columns)
    assert wires == expected
    assert all(decode(w) == m for w, m in zip(wires, msgs))


def test_many_rowsets_equal_encode():
    """Over 1,024 messages: the native RowSet ops take their threaded path."""
    rng = np.random.default_rng(11)
    sets = [np.sort(rng.choice(90, int(c), replace=False)) for c in rng.integers(0, 91, 1100)]
    columns = {"rows": RowSetColumn(np.concatenate(sets).astype(np.int64), csr([len(x) for x in sets]), 90)}
    wires, _ = encode_batch("k", 2, list(range(1100)), columns)
    expected, _ = reference("k", 2, range(1100), columns)
    assert wires == expected


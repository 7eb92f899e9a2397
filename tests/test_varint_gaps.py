"""Id sets (varint_gap_bytes, encode/decode_varint_gaps, decode_bitmap_ids) against their
byte-at-a-time references, on random, mutated and hand-made malformed bodies."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import fedras_ext as fx
import fedras_ext.reference as ref
from conftest import needs_cuda

UNIVERSE = 3_000_000


def random_sets(seed: int, n_sets: int = 60):
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 40, n_sets)
    counts[::9] = 0
    ids = np.concatenate([np.sort(rng.choice(UNIVERSE, c, replace=False)) for c in counts]).astype(np.int64)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return ids, start, counts.astype(np.int64)


def encoded(ids, start, count):
    nbytes = fx.varint_gap_bytes(ids, start, count)
    at = np.concatenate([[0], np.cumsum(nbytes)[:-1]]).astype(np.int64)
    out = np.zeros(int(nbytes.sum()), np.uint8)
    fx.encode_varint_gaps(ids, start, count, out, at)
    return out, at, nbytes


@pytest.mark.parametrize("seed", range(3))
def test_round_trip_matches_reference(seed):
    ids, start, count = random_sets(seed)
    out, at, nbytes = encoded(ids, start, count)
    np.testing.assert_array_equal(nbytes, ref.varint_gap_bytes(ids, start, count))
    want = np.zeros_like(out)
    ref.encode_varint_gaps(ids, start, count, want, at)
    np.testing.assert_array_equal(out, want)
    got, ok = fx.decode_varint_gaps(out, at, nbytes, count, UNIVERSE)
    assert ok.all() and ok.dtype == bool
    np.testing.assert_array_equal(got, ids)


def same_verdicts(native, reference, declared):
    """Both decoders' (ids, ok) agree on ok, and on the ids of every ok segment (the ids
    of the others are unspecified); returns ok."""
    (got, ok), (want, want_ok) = native, reference
    np.testing.assert_array_equal(ok, want_ok)
    ptr = np.concatenate([[0], np.cumsum(declared)])
    for s in np.flatnonzero(ok):
        np.testing.assert_array_equal(got[ptr[s]: ptr[s + 1]], want[ptr[s]: ptr[s + 1]])
    return ok


@pytest.mark.parametrize("seed", range(6))
def test_mutated_bodies_get_the_reference_verdict(seed):
    ids, start, count = random_sets(seed)
    out, at, nbytes = encoded(ids, start, count)
    rng = np.random.default_rng(100 + seed)
    flips = rng.integers(0, out.size, 25)
    out[flips] = rng.integers(0, 256, flips.size)
    declared = count + (rng.random(count.size) < 0.1)  # some declare one id too many
    args = (out, at, nbytes, declared, UNIVERSE)
    ok = same_verdicts(fx.decode_varint_gaps(*args), ref.decode_varint_gaps(*args), declared)
    assert not ok.all()


@pytest.mark.parametrize("body,count,universe,accepted", [
    (b"", 0, 10, True),
    (b"\x05", 1, 10, True),
    (b"\x05", 1, 5, False),                       # id at the universe
    (b"\x80\x01", 1, 1000, True),                 # 128
    (b"\x80\x00", 1, 1000, False),                # 0 in two bytes: not the shortest form
    (b"\x85", 1, 1000, False),                    # ends inside a value
    (b"\x03\x00", 2, 1000, False),                # a zero gap: a repeated id
    (b"\x03\x04", 2, 1000, True),                 # ids 3, 7
    (b"\x03\x04", 1, 1000, False),                # more values than declared
    (b"\x03", 2, 1000, False),                    # fewer
    (b"\xff" * 9 + b"\x01", 1, 2**62, False),     # 2**64 - 1: a valid varint, over the universe
    (b"\xff" * 9 + b"\x02", 1, 2**62, False),     # over 64 bits
    (b"\x80" * 10 + b"\x01", 1, 2**62, False),    # 11 bytes
    (b"\x02\x02\x02", 3, 6, False),               # running sum reaches the universe
])
def test_hand_made_bodies(body, count, universe, accepted):
    stream = np.frombuffer(body, dtype=np.uint8)
    args = (stream, [0], [len(body)], [count], universe)
    ok = same_verdicts(fx.decode_varint_gaps(*args), ref.decode_varint_gaps(*args), [count])
    assert bool(ok[0]) == accepted


@pytest.mark.parametrize("ids,match", [([3, 2], "sorted"), ([2, 2], "sorted"), ([-1, 4], "non-negative")])
def test_unsorted_or_negative_ids_are_rejected(ids, match):
    for op in (fx.varint_gap_bytes, ref.varint_gap_bytes):
        with pytest.raises(ValueError, match=match):
            op(np.array(ids, np.int64), [0], [2])


def test_out_of_bounds_is_rejected_and_nothing_is_written():
    ids = np.array([1, 300], np.int64)
    out = np.zeros(3, np.uint8)  # the stream needs 1 + 2 bytes
    with pytest.raises(IndexError, match="out_start"):
        fx.encode_varint_gaps(ids, [0], [2], out, [1])
    assert not out.any()
    with pytest.raises(IndexError, match="start"):
        fx.varint_gap_bytes(ids, [1], [2])
    with pytest.raises(IndexError, match="stream"):
        fx.decode_varint_gaps(out, [2], [2], [1], 10)
    with pytest.raises(ValueError, match="universe"):
        fx.decode_varint_gaps(out, [0], [1], [1], -1)


def test_wrong_dtypes_are_rejected():
    with pytest.raises(ValueError, match="int64"):
        fx.varint_gap_bytes(np.array([1, 2], np.int32), [0], [2])
    with pytest.raises(ValueError, match="uint8"):
        fx.decode_varint_gaps(np.zeros(4, np.float32), [0], [1], [1], 10)
    with pytest.raises(ValueError, match="writable"):
        fx.encode_varint_gaps(np.array([1], np.int64), [0], [1], np.frombuffer(bytes(4), np.uint8), [0])


@needs_cuda
@pytest.mark.cuda
def test_cuda_tensors_are_refused():
    ids = torch.zeros(2, dtype=torch.int64, device="cuda")
    with pytest.raises(ValueError, match="CPU only"):
        fx.varint_gap_bytes(ids, ids[:1], ids[:1])


# --------------------------------------------------------------------------- bitmaps
def bitmaps(seed: int, universe: int, n_sets: int = 40):
    """Random id sets as bitmap bodies end to end: (stream, start, count, ids)."""
    rng = np.random.default_rng(seed)
    width = (universe + 7) // 8
    bits = rng.random((n_sets, universe)) < rng.random((n_sets, 1))  # densities from 0 to 1
    bits[::7] = False                                                   # empty sets
    padded = np.zeros((n_sets, width * 8), bool)
    padded[:, :universe] = bits
    stream = np.packbits(padded, axis=1, bitorder="little").reshape(-1)
    start = np.arange(n_sets, dtype=np.int64) * width
    ids = np.concatenate([np.flatnonzero(row) for row in bits]).astype(np.int64)
    return stream, start, bits.sum(1).astype(np.int64), ids


@pytest.mark.parametrize("universe", [0, 1, 7, 8, 63, 64, 65, 3706])
def test_bitmaps_decode_like_the_reference(universe):
    stream, start, count, ids = bitmaps(universe, universe)
    got, ok = fx.decode_bitmap_ids(stream, start, count, universe)
    want, want_ok = ref.decode_bitmap_ids(stream, start, count, universe)
    assert ok.all() and want_ok.all() and ok.dtype == bool
    np.testing.assert_array_equal(got, ids)
    np.testing.assert_array_equal(want, ids)


@pytest.mark.parametrize("seed", range(4))
def test_mutated_bitmaps_get_the_reference_verdict(seed):
    universe = 61  # 8 bytes, 3 bits past the universe in the last
    stream, start, count, _ = bitmaps(seed, universe, 60)
    rng = np.random.default_rng(200 + seed)
    flips = rng.integers(0, stream.size, 20)
    stream[flips] ^= (1 << rng.integers(0, 8, flips.size)).astype(np.uint8)  # some land past the universe
    declared = count + rng.integers(-1, 2, count.size) * (rng.random(count.size) < 0.2)
    declared = np.maximum(declared, 0)
    args = (stream, start, declared, universe)
    ok = same_verdicts(fx.decode_bitmap_ids(*args), ref.decode_bitmap_ids(*args), declared)
    assert not ok.all() and ok.any()


@pytest.mark.parametrize("body,count,universe,accepted", [
    (b"", 0, 0, True),
    (b"\x00", 0, 5, True),
    (b"\x11", 2, 5, True),           # ids 0, 4
    (b"\x21", 2, 5, False),          # id 5 is at the universe
    (b"\x11", 1, 5, False),          # more bits than declared
    (b"\x11", 3, 5, False),          # fewer
    (b"\xff\xff\xff\xff\xff\xff\xff\xff\x01", 65, 65, True),  # a whole word, then the tail byte
    (b"\x00" * 8 + b"\x02", 1, 65, False),                    # bit 65 in the tail byte
])
def test_hand_made_bitmaps(body, count, universe, accepted):
    args = (np.frombuffer(body, dtype=np.uint8), [0], [count], universe)
    ok = same_verdicts(fx.decode_bitmap_ids(*args), ref.decode_bitmap_ids(*args), [count])
    assert bool(ok[0]) == accepted


def test_bad_bitmap_arguments_are_rejected():
    stream = np.zeros(8, np.uint8)
    for op in (fx.decode_bitmap_ids, ref.decode_bitmap_ids):
        with pytest.raises(IndexError):
            op(stream, [1], [0], 64)    # the 8-byte body would end past the stream
        with pytest.raises(IndexError):
            op(stream, [-1], [0], 8)
        with pytest.raises(ValueError, match="universe"):
            op(stream, [0], [0], -1)
    with pytest.raises(ValueError, match="uint8"):
        fx.decode_bitmap_ids(np.zeros(8, np.float32), [0], [0], 8)
    with pytest.raises(ValueError, match="int64"):
        fx.decode_bitmap_ids(stream, np.zeros(1, np.int32), [0], 8)
    with pytest.raises(ValueError, match="shape"):
        fx.decode_bitmap_ids(stream, [0, 1], [0], 8)


@needs_cuda
@pytest.mark.cuda
def test_cuda_bitmaps_are_refused():
    with pytest.raises(ValueError, match="CPU only"):
        fx.decode_bitmap_ids(torch.zeros(8, dtype=torch.uint8, device="cuda"), [0], [0], 8)


@pytest.mark.parametrize("universe", [0, 1, 7, 8, 63, 64, 65, 3706])
def test_bitmaps_encode_like_the_reference_and_decode_back(universe):
    stream, start, count, ids = bitmaps(universe + 1, universe)
    id_start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    got = np.full(stream.size + 3, 0xAB, np.uint8)  # stale bytes: every bitmap byte is written
    fx.encode_bitmap_ids(ids, id_start, count, universe, got, start + 3)
    want = np.zeros_like(got)
    ref.encode_bitmap_ids(ids, id_start, count, universe, want, start + 3)
    np.testing.assert_array_equal(got[3:], stream)
    np.testing.assert_array_equal(want[3:], stream)
    back, ok = fx.decode_bitmap_ids(got, start + 3, count, universe)
    assert ok.all()
    np.testing.assert_array_equal(back, ids)


def test_bad_bitmap_encodes_are_rejected():
    ids, out = np.array([3, 9], np.int64), np.zeros(4, np.uint8)
    for op in (fx.encode_bitmap_ids, ref.encode_bitmap_ids):
        with pytest.raises(IndexError, match="segment 1"):
            op(ids, [0, 1], [1, 1], 9, out, [0, 2])      # id 9 is at the universe
        with pytest.raises(IndexError, match="segment 0"):
            op(np.array([-1], np.int64), [0], [1], 9, out, [0])
        with pytest.raises(IndexError):
            op(ids, [0], [2], 9, out, [3])              # the 2-byte bitmap would end past out
        with pytest.raises(IndexError):
            op(ids, [1], [2], 9, out, [0])              # the segment ends past ids
        with pytest.raises(ValueError, match="universe"):
            op(ids, [0], [2], -1, out, [0])
    with pytest.raises(ValueError, match="writable"):
        fx.encode_bitmap_ids(ids, [0], [2], 10, np.frombuffer(bytes(4), np.uint8), [0])
    with pytest.raises(ValueError, match="int64"):
        fx.encode_bitmap_ids(ids.astype(np.int32), [0], [2], 10, out, [0])


def test_bitmaps_take_ids_in_any_order_across_many_segments():
    """More than 1,024 segments (the threaded path); ids shuffled and repeated."""
    rng = np.random.default_rng(7)
    universe, n = 77, 1500
    sets = [np.flatnonzero(rng.random(universe) < 0.3) for _ in range(n)]
    messy = [np.concatenate([s, s[: len(s) // 3]])[rng.permutation(len(s) + len(s) // 3)] for s in sets]
    ids = np.concatenate(messy).astype(np.int64)
    count = np.array([len(m) for m in messy], np.int64)
    start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    width = (universe + 7) // 8
    out = np.full(n * width, 0xFF, np.uint8)
    fx.encode_bitmap_ids(ids, start, count, universe, out, np.arange(n, dtype=np.int64) * width)
    want = np.zeros_like(out)
    ref.encode_bitmap_ids(ids, start, count, universe, want, np.arange(n, dtype=np.int64) * width)
    np.testing.assert_array_equal(out, want)
    back, ok = fx.decode_bitmap_ids(out, np.arange(n, dtype=np.int64) * width, [len(s) for s in sets], universe)
    assert ok.all()
    np.testing.assert_array_equal(back, np.concatenate(sets))


@pytest.mark.parametrize("count", [-1, 9, 2**40, 2**62])
def test_declared_counts_outside_the_universe_are_rejected_before_allocating(count):
    """No set of distinct ids below the universe (8) has a negative count or more than 8
    ids: both decoders, native and reference, refuse such a count with ValueError
    instead of allocating room for it (2**40 ids would be 8 TB) or calling it not ok."""
    stream = np.zeros(4, np.uint8)
    for op in (fx.decode_varint_gaps, ref.decode_varint_gaps):
        with pytest.raises(ValueError, match=r"count\[1\]"):
            op(stream, [0, 1], [1, 1], [0, count], 8)
    for op in (fx.decode_bitmap_ids, ref.decode_bitmap_ids):
        with pytest.raises(ValueError, match=r"count\[1\]"):
            op(stream, [0, 1], [0, count], 8)


def test_native_decoder_checks_counts_itself():
    """The compiled op checks the counts too, for callers of the raw binding."""
    import torch
    from torch.utils.dlpack import to_dlpack

    from fedras_ext._native import _C

    stream = torch.zeros(4, dtype=torch.uint8)
    t = lambda *v: to_dlpack(torch.tensor(v, dtype=torch.int64))  # noqa: E731
    with pytest.raises(ValueError, match=r"count\[0\]"):
        _C.decode_bitmap_ids(to_dlpack(stream), t(0), t(-1), 8, to_dlpack(torch.zeros(0, dtype=torch.int64)),
                             t(0), to_dlpack(torch.zeros(1, dtype=torch.uint8)), 1)


def test_overlapping_outputs_are_rejected():
    """Encoders write every segment in parallel: outputs that share a byte would race."""
    ids, start, count = np.array([1, 2, 3, 4], np.int64), np.array([0, 2], np.int64), np.array([2, 2], np.int64)
    for op in (fx.encode_varint_gaps, ref.encode_varint_gaps):  # 2 bytes each
        with pytest.raises(ValueError, match="segments 0 and 1 overlap in out"):
            op(ids, start, count, np.zeros(8, np.uint8), np.array([0, 1], np.int64))
    for op in (fx.encode_bitmap_ids, ref.encode_bitmap_ids):  # 2 bytes each at universe 16
        with pytest.raises(ValueError, match="segments 1 and 0 overlap in out"):
            op(ids, start, count, 16, np.zeros(8, np.uint8), np.array([3, 2], np.int64))
        out = np.zeros(4, np.uint8)
        op(ids, start, count, 16, out, np.array([2, 0], np.int64))  # touching is fine
        np.testing.assert_array_equal(out, [0x18, 0, 0x06, 0])

"""copy_segments and crc32_segments against their references (slices, zlib.crc32)."""
from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

import fedras_ext as fx
import fedras_ext.reference as ref
from conftest import needs_cuda


def random_segments(seed: int, n_bytes: int = 50_000, n: int = 300):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, n_bytes, dtype=np.uint8)
    start = rng.integers(0, n_bytes, n)
    length = np.minimum(rng.integers(0, 700, n), n_bytes - start)
    length[::17] = 0  # empty segments
    return data, start.astype(np.int64), length.astype(np.int64)


@pytest.mark.parametrize("seed", range(4))
def test_crc32_matches_zlib(seed):
    data, start, length = random_segments(seed)
    got = fx.crc32_segments(data, start, length)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, ref.crc32_segments(data, start, length))
    # Every length mod 8 (the 8-byte fast loop and its tail) and the empty string.
    one = np.arange(40, dtype=np.uint8)
    lens = np.arange(41, dtype=np.int64)
    np.testing.assert_array_equal(fx.crc32_segments(one, np.zeros(41, np.int64), lens),
                                  [zlib.crc32(one[:n].tobytes()) for n in range(41)])


def test_crc32_of_read_only_bytes_and_of_no_segments():
    buf = np.frombuffer(b"hello world" * 10, dtype=np.uint8)  # read-only
    assert fx.crc32_segments(buf, [0, 11], [11, 99]).tolist() == [zlib.crc32(b"hello world"),
                                                                   zlib.crc32((b"hello world" * 10)[11:110])]
    assert fx.crc32_segments(buf, np.zeros(0, np.int64), np.zeros(0, np.int64)).shape == (0,)


@pytest.mark.parametrize("seed", range(3))
def test_copy_matches_reference(seed):
    data, start, length = random_segments(seed)
    dst_start = np.concatenate([[0], np.cumsum(length)[:-1]]) + 3
    got = np.full(int(length.sum()) + 5, 7, dtype=np.uint8)
    want = got.copy()
    fx.copy_segments(np.frombuffer(data.tobytes(), np.uint8), start, length, got, dst_start)
    ref.copy_segments(data, start, length, want, dst_start)
    np.testing.assert_array_equal(got, want)
    assert (got[:3] == 7).all() and (got[-2:] == 7).all()  # nothing outside the segments is written


def test_copy_into_a_torch_tensor():
    dst = torch.zeros(6, dtype=torch.uint8)
    fx.copy_segments(np.array([1, 2, 3, 4], np.uint8), [2, 0], [2, 1], dst, [0, 5])
    assert dst.tolist() == [3, 4, 0, 0, 0, 1]


@pytest.mark.parametrize("start,length", [([-1], [2]), ([5], [6]), ([0], [-1]), ([2**62], [2**62]), ([11], [0])])
def test_segments_outside_the_buffer_are_rejected(start, length):
    data = np.zeros(10, np.uint8)
    for mod in (fx, ref):  # the native op, and its reference agreeing
        with pytest.raises(IndexError, match="segment 0"):
            mod.crc32_segments(data, start, length)
        with pytest.raises(IndexError, match="segment 0"):
            mod.copy_segments(data, start, length, np.zeros(100, np.uint8), [0])


def test_destination_outside_is_rejected_and_nothing_is_written():
    dst = np.zeros(4, np.uint8)
    with pytest.raises(IndexError, match="segment 1 .*dst"):
        fx.copy_segments(np.ones(8, np.uint8), [0, 2], [2, 3], dst, [0, 2])
    assert not dst.any()


@pytest.mark.parametrize("bad,match", [
    (lambda d, s, n: (d.astype(np.int32), s, n), "uint8"),
    (lambda d, s, n: (d.reshape(2, -1), s, n), "1-D"),
    (lambda d, s, n: (d, s.astype(np.int32), n), "int64"),
    (lambda d, s, n: (d, s, n[:-1]), "length"),
])
def test_wrong_dtype_or_shape(bad, match):
    data, start, length = np.zeros(8, np.uint8), np.array([0, 2], np.int64), np.array([1, 1], np.int64)
    with pytest.raises(ValueError, match=match):
        fx.crc32_segments(*bad(data, start, length))


def test_read_only_destination_is_rejected():
    src = np.ones(4, np.uint8)
    with pytest.raises(ValueError, match="writable"):  # not a silent write into a copy
        fx.copy_segments(src, [0], [2], np.frombuffer(bytes(4), np.uint8), [0])


@needs_cuda
@pytest.mark.cuda
def test_cuda_buffers_are_refused():
    data = torch.zeros(8, dtype=torch.uint8, device="cuda")
    idx = torch.zeros(1, dtype=torch.int64, device="cuda")
    with pytest.raises(ValueError, match="CPU only"):
        fx.crc32_segments(data, idx, idx)


@pytest.mark.parametrize("dst_start,length,pair", [
    ([0, 3], [4, 2], "0 and 1"),        # in order, the first runs into the second
    ([6, 0, 2], [2, 3, 1], "1 and 2"),  # out of order: found after sorting by start
    ([5, 1], [1, 6], "1 and 0"),        # one inside the other
])
def test_overlapping_destinations_are_rejected(dst_start, length, pair):
    """Segments are copied in parallel: two that share a byte of dst would race, so both
    the native op and the reference name the pair instead."""
    src = np.arange(16, dtype=np.uint8)
    src_start = np.zeros(len(length), np.int64)
    for op in (fx.copy_segments, ref.copy_segments):
        dst = np.zeros(10, np.uint8)
        with pytest.raises(ValueError, match=f"segments {pair} overlap in dst"):
            op(src, src_start, np.array(length, np.int64), dst, np.array(dst_start, np.int64))


def test_touching_and_empty_destinations_are_fine():
    src = np.arange(16, dtype=np.uint8)
    for op in (fx.copy_segments, ref.copy_segments):
        dst = np.zeros(8, np.uint8)
        op(src, np.array([0, 4, 9, 2], np.int64), np.array([4, 0, 4, 0], np.int64), dst,
           np.array([4, 5, 0, 4], np.int64))  # [4, 8) and [0, 4) touch; the empty ones sit anywhere
        np.testing.assert_array_equal(dst, [9, 10, 11, 12, 0, 1, 2, 3])

"""pack_indices / unpack_indices: layout, round trips, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fedras_ext as fx
import fedras_ext.reference as ref
from conftest import needs_cuda


def test_documented_layout():
    # 3-bit values 1, 2, 3 -> stream bits (LSB first) 100 010 110 -> byte0 = 0b11010001, byte1 = 0b0.
    packed = fx.pack_indices(torch.tensor([1, 2, 3], dtype=torch.int32), 3)
    assert packed.tolist() == [0b11010001, 0b0]
    assert fx.pack_indices(torch.tensor([0xABCD], dtype=torch.int32), 16).tolist() == [0xCD, 0xAB]


@settings(max_examples=200, deadline=None)
@given(bits=st.integers(1, 16), n=st.integers(0, 300), seed=st.integers(0, 2**31))
def test_round_trip_and_reference(bits, n, seed):
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, 2**bits, (n,), dtype=torch.int32, generator=g)
    packed = fx.pack_indices(idx, bits)
    assert packed.numel() == fx.packed_nbytes(n, bits) == (n * bits + 7) // 8
    assert torch.equal(packed, ref.pack_indices(idx, bits))
    assert torch.equal(fx.unpack_indices(packed, bits, n), idx)
    assert torch.equal(ref.unpack_indices(packed, bits, n), idx)


@pytest.mark.parametrize("bits", [1, 4, 7, 13, 16])
def test_devices_agree(device, bits):
    idx = torch.randint(0, 2**bits, (1001,), dtype=torch.int32)
    packed = fx.pack_indices(idx.to(device), bits)
    assert torch.equal(packed.cpu(), ref.pack_indices(idx, bits))
    assert torch.equal(fx.unpack_indices(packed, bits, 1001).cpu(), idx)


def test_bits_for():
    ks = [1, 2, 3, 4, 5, 16, 17, 65536, 65537, 2**40, 2**40 + 1]
    want = [1, 1, 2, 2, 3, 4, 5, 16, 17, 40, 41]
    assert [fx.bits_for(k) for k in ks] == want and all(type(fx.bits_for(k)) is int for k in ks)
    many = fx.bits_for(np.array(ks))
    assert many.dtype == np.int64 and many.tolist() == want
    assert fx.bits_for(np.zeros(0, np.int64)).shape == (0,)
    assert fx.bits_for(np.int32(17)) == 5 and fx.bits_for(np.array(17)) == 5
    assert fx.bits_for(np.array([2**60 + 1], np.uint64)).tolist() == [61]
    for bad in (1.5, np.array([2.0]), 2**63):
        with pytest.raises(ValueError):
            fx.bits_for(bad)
    with pytest.raises(ValueError):
        fx.bits_for(0)


@pytest.mark.parametrize("value", [-1, 8])
def test_out_of_range_values(device, value):
    idx = torch.tensor([0, 1, value], dtype=torch.int32)
    with pytest.raises(IndexError, match=r"idx\[2\]"):
        fx.pack_indices(idx.to(device), 3)


def test_argument_errors():
    with pytest.raises(ValueError, match="bits"):
        fx.pack_indices(torch.zeros(3, dtype=torch.int32), 0)
    with pytest.raises(ValueError, match="bits"):
        fx.pack_indices(torch.zeros(3, dtype=torch.int32), 17)
    with pytest.raises(ValueError, match="idx must be int32"):
        fx.pack_indices(torch.zeros(3, dtype=torch.int64), 4)
    with pytest.raises(ValueError, match="packed must hold"):
        fx.unpack_indices(torch.zeros(3, dtype=torch.uint8), 4, 10)
    with pytest.raises(ValueError, match="n must be"):
        fx.unpack_indices(torch.zeros(0, dtype=torch.uint8), 4, -1)


# ----------------------------------------------------------------- many streams at once (CPU)


@pytest.mark.parametrize("bits", [1, 3, 4, 5, 7, 8, 13, 16])
def test_segments_match_per_segment_reference(bits):
    rng = np.random.default_rng(bits)
    count = rng.integers(0, 60, 50)
    count[::7] = 0
    idx = rng.integers(0, 2**bits, int(count.sum()) + 9).astype(np.int32)  # 9 values outside every segment
    start = np.concatenate([[0], np.cumsum(count)[:-1]]) + 9
    packed = fx.pack_index_segments(idx, start, count, bits)
    np.testing.assert_array_equal(packed, ref.pack_index_segments(idx, start, count, bits))
    nbytes = (count * bits + 7) // 8
    at = np.concatenate([[0], np.cumsum(nbytes)[:-1]])
    np.testing.assert_array_equal(fx.unpack_index_segments(packed, at, count, bits), idx[9:])
    np.testing.assert_array_equal(ref.unpack_index_segments(packed, at, count, bits), idx[9:])


def test_segments_only_check_the_values_they_hold():
    idx = np.array([1, 2, 3, 255], np.int32)  # 255 needs 8 bits, but lies outside the segment
    assert fx.pack_index_segments(idx, [0], [3], 2).tolist() == [1 | 2 << 2 | 3 << 4]
    with pytest.raises(IndexError, match=r"idx\[3\] = 255 \(segment 1\)"):
        fx.pack_index_segments(idx, [0, 3], [3, 1], 2)
    with pytest.raises(IndexError, match="not representable"):
        fx.pack_index_segments(np.array([-1], np.int32), [0], [1], 4)


def test_the_first_unrepresentable_segment_is_named():
    """The parallel check names the first bad segment of many (not just any)."""
    idx = np.zeros(3000 * 5, np.int32)
    idx[[5 * 2000 + 1, 5 * 700 + 3, 5 * 2999]] = [16, -1, 99]
    start = np.arange(3000, dtype=np.int64) * 5
    with pytest.raises(IndexError, match=r"idx\[3503\] = -1 \(segment 700\)"):
        fx.pack_index_segments(idx, start, np.full(3000, 5, np.int64), 4)


def test_segments_outside_are_rejected():
    with pytest.raises(IndexError, match="segment 0"):
        fx.pack_index_segments(np.zeros(4, np.int32), [2], [3], 4)
    with pytest.raises(IndexError, match="packed"):
        fx.unpack_index_segments(np.zeros(2, np.uint8), [1], [4], 4)  # needs 2 bytes from offset 1
    with pytest.raises(ValueError, match="bits"):
        fx.pack_index_segments(np.zeros(4, np.int32), [0], [1], 17)
    with pytest.raises(ValueError, match="int32"):
        fx.pack_index_segments(np.zeros(4, np.int64), [0], [1], 4)


@needs_cuda
@pytest.mark.cuda
def test_segments_refuse_cuda():
    idx = torch.zeros(4, dtype=torch.int32, device="cuda")
    with pytest.raises(ValueError, match="CPU only"):
        fx.pack_index_segments(idx, [0], [1], 4)

"""pack_indices / unpack_indices: layout, round trips, errors."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fedras_ext as fx
import fedras_ext.reference as ref


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
    assert [fx.bits_for(k) for k in (1, 2, 3, 4, 5, 16, 17, 65536)] == [1, 1, 2, 2, 3, 4, 5, 16]
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

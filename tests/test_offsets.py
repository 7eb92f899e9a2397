"""Property tests: CSR offsets are accepted exactly when they are valid, in Python and in C++."""
from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.dlpack import to_dlpack

import fedras_ext as fx
from fedras_ext import _C

N = 12


def is_valid(off):
    return len(off) >= 1 and off[0] == 0 and off[-1] == N and all(b >= a for a, b in zip(off, off[1:]))


offsets_strategy = st.one_of(
    # valid ones: sorted cut points between 0 and N
    st.lists(st.integers(0, N), min_size=0, max_size=6).map(lambda c: [0] + sorted(c) + [N]),
    # anything
    st.lists(st.integers(-3, N + 3), min_size=1, max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(off=offsets_strategy)
def test_python_layer_accepts_exactly_valid_offsets(off):
    x = torch.randn(N, 2)
    offsets = torch.tensor(off, dtype=torch.int64)
    if is_valid(off):
        res = fx.segmented_kmeans(x, offsets, 2)
        assert res.inertia.numel() == len(off) - 1
    else:
        with pytest.raises(ValueError, match="offsets"):
            fx.segmented_kmeans(x, offsets, 2)


@settings(max_examples=300, deadline=None)
@given(off=offsets_strategy, check=st.booleans())
def test_native_layer_accepts_exactly_valid_offsets(off, check):
    x = torch.randn(N, 2)
    offsets = torch.tensor(off, dtype=torch.int64)
    s = len(off) - 1
    # Per-segment k = 1 where the segment (as declared) has rows: consistent only for valid offsets.
    sizes = [max(b - a, 0) for a, b in zip(off, off[1:])]
    koff = torch.tensor([0, *itertools.accumulate(1 if n > 0 else 0 for n in sizes)], dtype=torch.int64)
    cent = torch.empty(int(koff[-1]), 2)
    call = lambda: _C.segmented_kmeans(  # noqa: E731
        to_dlpack(x), to_dlpack(offsets), to_dlpack(koff), None, to_dlpack(cent), to_dlpack(torch.empty(N, dtype=torch.int32)),
        to_dlpack(torch.empty(s, dtype=torch.float64)), to_dlpack(torch.empty(s, dtype=torch.int32)),
        None, 5, 0.0, 0, "kmeans++", "l2", check, 1, 0,
    )
    if is_valid(off):
        call()
    else:
        with pytest.raises(ValueError, match="offsets"):
            call()

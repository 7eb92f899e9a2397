"""Fuzzing the native ops through their Python entry points and through _C directly:
whatever the arguments, the result is a value or a ValueError/IndexError/TypeError,
never a crash (a segfault would take this test process down with it)."""
from __future__ import annotations

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.dlpack import to_dlpack

import fedras_ext as fx
from fedras_ext import _C

EXPECTED = (ValueError, IndexError, TypeError)
DTYPES = [torch.float32, torch.float64, torch.int32, torch.int64, torch.uint8]


@st.composite
def tensors(draw, max_dim=3, max_len=12):
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(st.lists(st.integers(0, max_len), min_size=0, max_size=max_dim))
    n = 1
    for s in shape:
        n *= s
    if dtype.is_floating_point:
        vals = draw(st.lists(st.one_of(st.floats(-1e3, 1e3, width=32), st.sampled_from([float("nan"), float("inf"), 0.0])),
                             min_size=n, max_size=n))
    else:
        lo, hi = (0, 255) if dtype == torch.uint8 else (-5, 40)
        vals = draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n))
    t = torch.tensor(vals, dtype=dtype).reshape(shape)
    if draw(st.booleans()) and t.dim() == 2 and t.shape[0] > 1 and t.shape[1] > 1:
        t = t.t()  # non-contiguous
    return t


@st.composite
def offsets(draw, total=None):
    if draw(st.booleans()) and total is not None:
        cuts = sorted(draw(st.lists(st.integers(0, total), max_size=5)))
        return torch.tensor([0, *cuts, total], dtype=torch.int64)
    return draw(tensors(max_dim=1))


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


def call(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except EXPECTED:
        pass


@FUZZ
@given(x=tensors(), k=st.one_of(st.integers(-2, 20), st.lists(st.integers(-1, 9), max_size=5)), data=st.data())
def test_segmented_kmeans(x, k, data):
    off = data.draw(offsets(x.shape[0] if x.dim() else None))
    call(fx.segmented_kmeans, x, off, k, iters=3, init=data.draw(st.sampled_from(["kmeans++", "random"])),
         metric=data.draw(st.sampled_from(["l2", "cosine"])))


@FUZZ
@given(x=tensors(), d=tensors(), data=st.data())
def test_project_directions(x, d, data):
    call(fx.project_directions, x, data.draw(offsets(x.shape[0] if x.dim() else None)), d,
         data.draw(offsets(d.shape[0] if d.dim() else None)))


@FUZZ
@given(table=tensors(), rows=tensors(max_dim=1), idx=tensors(max_dim=1), actions=tensors(), seg=tensors(max_dim=1),
       data=st.data())
def test_apply_actions(table, rows, idx, actions, seg, data):
    aoff = data.draw(offsets(actions.shape[0] if actions.dim() else None))
    call(fx.apply_actions, table, rows, idx, actions, aoff, seg, reduce=data.draw(st.sampled_from(["mean", "sum"])))


@FUZZ
@given(idx=tensors(max_dim=2), bits=st.integers(-1, 18), n=st.integers(-2, 40), packed=tensors(max_dim=1))
def test_pack_unpack(idx, bits, n, packed):
    call(fx.pack_indices, idx, bits)
    call(fx.unpack_indices, packed, bits, n)


@FUZZ
@given(x=tensors(), off=tensors(max_dim=1), koff=tensors(max_dim=1), cent=tensors(), assign=tensors(max_dim=1),
       inertia=tensors(max_dim=1), n_iter=tensors(max_dim=1), check=st.booleans())
def test_direct_kmeans_calls(x, off, koff, cent, assign, inertia, n_iter, check):
    # Direct calls skip every Python check: the C++ layer alone must hold the line.
    call(_C.segmented_kmeans, *(to_dlpack(t.contiguous()) for t in (x, off, koff)), None,
         *(to_dlpack(t.contiguous()) for t in (cent, assign, inertia, n_iter)), None, 3, 0.0, 0, "kmeans++", "l2",
         check, 1, 0)


@FUZZ
@given(table=tensors(), rows=tensors(max_dim=1), idx=tensors(max_dim=1), actions=tensors(), aoff=tensors(max_dim=1),
       seg=tensors(max_dim=1), check=st.booleans())
def test_direct_apply_calls(table, rows, idx, actions, aoff, seg, check):
    call(_C.apply_actions, *(to_dlpack(t.contiguous()) for t in (table, rows, idx, actions, aoff, seg)), None, None,
         1.0, "sum", True, check, 1, 0)

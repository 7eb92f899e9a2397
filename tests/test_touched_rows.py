"""touched_rows (a round's touched item rows per client) against its torch reference."""
from __future__ import annotations

import pytest
import torch

import fedras_ext as fx
import fedras_ext.reference as ref
from conftest import needs_cuda
from helpers import csr


def random_case(seed: int, *, clients: int = 9, n_items: int = 40, epochs: int = 2, n_neg: int = 3):
    """pos_ptr, pos_items, neg_items: some clients without positives, repeated items
    within a client, items shared across clients."""
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(0, 12, (clients,), generator=g)
    counts[::4] = 0
    pos_items = torch.randint(0, n_items, (int(counts.sum()),), generator=g)
    neg_items = torch.randint(0, n_items, (epochs, pos_items.numel(), n_neg), generator=g)
    return csr(counts.tolist()), pos_items, neg_items


@pytest.mark.parametrize("seed", range(8))
def test_matches_the_reference(seed):
    shape = [dict(), dict(n_neg=0), dict(epochs=0), dict(n_items=1), dict(clients=1), dict(clients=3000, n_items=7),
             dict(n_items=5000), dict(epochs=1, n_neg=9)][seed]
    n_items = shape.get("n_items", 40)
    case = random_case(seed, **shape)
    got = fx.touched_rows(*case, n_items)
    want = ref.touched_rows(*case, n_items)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype == torch.int64 and torch.equal(g, w)
    row_ptr, rows, pos_row, neg_row = got
    pos_ptr, pos_items, neg_items = case
    assert torch.equal(rows[pos_row], pos_items) and torch.equal(rows[neg_row], neg_items)
    for c in range(pos_ptr.numel() - 1):  # each client's rows: its items, distinct and sorted
        mine = rows[row_ptr[c]: row_ptr[c + 1]]
        items = torch.cat([pos_items[pos_ptr[c]: pos_ptr[c + 1]], neg_items[:, pos_ptr[c]: pos_ptr[c + 1]].reshape(-1)])
        assert torch.equal(mine, torch.unique(items))


def test_no_clients():
    got = fx.touched_rows(csr([]), torch.zeros(0, dtype=torch.int64), torch.zeros(2, 0, 4, dtype=torch.int64), 10)
    assert [tuple(t.shape) for t in got] == [(1,), (0,), (0,), (2, 0, 4)]


def test_items_outside_the_universe_are_rejected():
    pos_ptr, pos_items, neg_items = random_case(1)
    for fn in (fx.touched_rows, ref.touched_rows):
        bad = pos_items.clone()
        bad[3] = 40
        with pytest.raises(IndexError, match=r"pos_items\[3\] = 40"):
            fn(pos_ptr, bad, neg_items, 40)
        bad = neg_items.clone()
        bad[1, 2, 0] = -1
        with pytest.raises(IndexError, match=r"neg_items\[1, 2, 0\] = -1"):
            fn(pos_ptr, pos_items, bad, 40)


def test_bad_arguments_are_rejected():
    pos_ptr, pos_items, neg_items = random_case(2)
    with pytest.raises(ValueError, match="pos_ptr"):
        fx.touched_rows(pos_ptr + 1, pos_items, neg_items, 40)       # does not start at 0
    with pytest.raises(ValueError, match="shape"):
        fx.touched_rows(pos_ptr, pos_items, neg_items[:, 1:].contiguous(), 40)  # a row of negatives short
    with pytest.raises(ValueError, match="int64"):
        fx.touched_rows(pos_ptr, pos_items.int(), neg_items, 40)
    with pytest.raises(ValueError, match="n_items"):
        fx.touched_rows(pos_ptr, pos_items, neg_items, -1)


def test_direct_calls_refuse_a_row_ptr_that_does_not_fit():
    """The kernel writes each client's rows inside its row_ptr range, or not at all."""
    from fedras_ext._native import _C, capsule

    pos_ptr, pos_items, neg_items = random_case(3)
    row_ptr, rows, pos_row, neg_row = fx.touched_rows(pos_ptr, pos_items, neg_items, 40)
    short = row_ptr.clone()
    short[1:] -= 1
    short[0] = 0
    short = torch.maximum(short, torch.zeros_like(short)).cummax(0).values
    args = [capsule(t) for t in (pos_ptr, pos_items, neg_items)]
    with pytest.raises(ValueError, match="different number of rows"):
        _C.touched_rows(*args, 40, capsule(short), capsule(torch.empty(int(short[-1]), dtype=torch.int64)),
                        capsule(pos_row.clone()), capsule(neg_row.clone()), 1)


@needs_cuda
@pytest.mark.cuda
def test_cuda_tensors_are_refused():
    pos_ptr, pos_items, neg_items = (t.cuda() for t in random_case(4))
    with pytest.raises(ValueError, match="CPU only"):
        fx.touched_rows(pos_ptr, pos_items, neg_items, 40)

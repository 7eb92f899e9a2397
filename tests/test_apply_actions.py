"""apply_actions against the index_add_ reference: exact on integer data, close on random."""
from __future__ import annotations

import pytest
import torch

import fedras_ext as fx
import fedras_ext.reference as ref
from helpers import csr


def make_round(seed: int, *, n_rows=50, d=8, segments=6, max_touch=30, k_max=5, integer=False):
    """Entries of a synthetic round: each segment touches distinct rows once."""
    g = torch.Generator().manual_seed(seed)
    ks = torch.randint(1, k_max + 1, (segments,), generator=g)
    touch = torch.randint(0, max_touch + 1, (segments,), generator=g).clamp(max=n_rows)
    rows = torch.cat([torch.randperm(n_rows, generator=g)[: int(t)] for t in touch])
    seg = torch.arange(segments, dtype=torch.int32).repeat_interleave(touch)
    idx = torch.cat([torch.randint(0, int(k), (int(t),), generator=g) for k, t in zip(ks, touch)]).int()
    draw = (lambda *s: torch.randint(-8, 9, s, generator=g).float()) if integer else (lambda *s: torch.randn(*s, generator=g))
    actions = draw(int(ks.sum()), d)
    table = draw(n_rows, d)
    return table, rows, idx, actions, csr(ks.tolist()), seg


@pytest.mark.parametrize("reduce", ["mean", "sum"])
@pytest.mark.parametrize("deterministic", [True, False])
@pytest.mark.parametrize("scale", [1.0, 0.5, -3.0])
def test_exact_on_integer_data(device, reduce, deterministic, scale):
    for seed in range(10):
        table, *args = make_round(seed, integer=True)
        want = ref.apply_actions(table.clone(), *args, reduce=reduce, scale=scale)
        got = table.clone().to(device)
        fx.apply_actions(got, *(a.to(device) for a in args), reduce=reduce, scale=scale, deterministic=deterministic)
        if deterministic or device == "cpu":
            assert torch.equal(got.cpu(), want)
        else:  # float atomics add entry by entry: exact only up to division rounding
            torch.testing.assert_close(got.cpu(), want, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("reduce", ["mean", "sum"])
def test_close_on_random_data_with_row_scale(device, reduce):
    for seed in range(10):
        table, rows, idx, actions, aoff, seg = make_round(seed, n_rows=200, d=32, segments=40, max_touch=150)
        row_scale = torch.randn(rows.numel(), generator=torch.Generator().manual_seed(seed))
        want = ref.apply_actions(table.clone(), rows, idx, actions, aoff, seg, reduce=reduce, row_scale=row_scale)
        got = table.clone().to(device)
        fx.apply_actions(got, *(t.to(device) for t in (rows, idx, actions, aoff, seg)), reduce=reduce,
                         row_scale=row_scale.to(device))
        torch.testing.assert_close(got.cpu(), want, rtol=1e-5, atol=1e-5)


def test_untouched_rows_keep_their_bits(device):
    table, rows, idx, actions, aoff, seg = make_round(1)
    table[:] = -0.0
    touched = torch.zeros(table.shape[0], dtype=torch.bool)
    touched[rows] = True
    got = table.clone().to(device)
    fx.apply_actions(got, *(t.to(device) for t in (rows, idx, actions, aoff, seg)))
    got = got.cpu()
    assert torch.equal(torch.signbit(got[~touched]), torch.ones_like(got[~touched], dtype=torch.bool))


def test_deterministic_mode_is_bit_identical_and_matches_cpu(device):
    table, rows, idx, actions, aoff, seg = make_round(7, n_rows=300, d=32, segments=200, max_touch=250)
    outs = []
    for _ in range(3):
        t = table.clone().to(device)
        fx.apply_actions(t, *(a.to(device) for a in (rows, idx, actions, aoff, seg)), deterministic=True)
        outs.append(t.cpu())
    assert all(torch.equal(outs[0], o) for o in outs[1:])
    cpu = table.clone()
    fx.apply_actions(cpu, rows, idx, actions, aoff, seg)
    assert torch.equal(outs[0], cpu)


def test_follows_torch_deterministic_flag(device):
    table, rows, idx, actions, aoff, seg = make_round(8, n_rows=300, d=32, segments=100, max_touch=250)
    cpu = table.clone()
    fx.apply_actions(cpu, rows, idx, actions, aoff, seg)
    was = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        got = table.clone().to(device)
        fx.apply_actions(got, *(a.to(device) for a in (rows, idx, actions, aoff, seg)), deterministic=False)
    finally:
        torch.use_deterministic_algorithms(was)
    assert torch.equal(got.cpu(), cpu)


def test_no_entries_is_a_no_op(device):
    table = torch.randn(5, 3)
    got = table.clone().to(device)
    empty_i64, empty_i32 = torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int32)
    fx.apply_actions(got, empty_i64.to(device), empty_i32.to(device), torch.zeros(0, 3, device=device),
                     csr([]).to(device), empty_i32.to(device))
    assert torch.equal(got.cpu(), table)
    # An empty tensor may come with any strides (here 0, as numpy gives for empty concatenations).
    odd = torch.zeros(0, 3, device=device).as_strided((0, 3), (0, 0))
    fx.apply_actions(got, empty_i64.to(device), empty_i32.to(device), odd, csr([]).to(device), empty_i32.to(device))
    assert torch.equal(got.cpu(), table)


@pytest.mark.parametrize(
    "field, value, exc, match",
    [
        ("rows", 50, IndexError, r"rows\[\d+\] = 50 is out of range"),
        ("rows", -1, IndexError, "out of range"),
        ("seg", 6, IndexError, "segment_of_row"),
        ("idx", 99, IndexError, "action_idx"),
        ("idx", -1, IndexError, "action_idx"),
        ("actions", float("nan"), ValueError, "actions must be finite"),
        ("actions", float("inf"), ValueError, "actions must be finite"),
    ],
)
def test_bad_values_raise_and_leave_the_table_alone(device, field, value, exc, match):
    table, rows, idx, actions, aoff, seg = make_round(2)
    args = dict(rows=rows, idx=idx, actions=actions, seg=seg)
    args[field] = args[field].clone()
    args[field].view(-1)[3] = value
    got = table.clone().to(device)
    with pytest.raises(exc, match=match):
        fx.apply_actions(got, args["rows"].to(device), args["idx"].to(device), args["actions"].to(device),
                         aoff.to(device), args["seg"].to(device))
    assert torch.equal(got.cpu(), table)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda a: a.update(table=a["table"].double()), "table must be float32"),
        (lambda a: a.update(rows=a["rows"].int()), "rows must be int64"),
        (lambda a: a.update(idx=a["idx"].long()), "action_idx must be int32"),
        (lambda a: a.update(seg=a["seg"][:-1]), "segment_of_row must have one entry"),
        (lambda a: a.update(actions=a["actions"][:, :3].contiguous()), "actions.shape"),
        (lambda a: a.update(aoff=a["aoff"][:-1]), "action_offsets"),
        (lambda a: a.update(reduce="max"), "reduce"),
    ],
)
def test_bad_metadata_is_rejected(mutate, match):
    table, rows, idx, actions, aoff, seg = make_round(3)
    a = dict(table=table, rows=rows, idx=idx, actions=actions, aoff=aoff, seg=seg, reduce="mean")
    mutate(a)
    with pytest.raises(ValueError, match=match):
        fx.apply_actions(a["table"], a["rows"], a["idx"], a["actions"], a["aoff"], a["seg"], reduce=a["reduce"])

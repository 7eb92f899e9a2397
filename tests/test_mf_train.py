"""mf_train (fused MF local training of a round) against its reference and against
train_mf_flat's torch path."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch.utils.dlpack import to_dlpack

import fedras_ext as fx
import fedras_ext.reference as ref
from fedras.training import train_mf_flat
from helpers import csr


def random_case(seed: int, *, clients: int = 7, d: int = 13, epochs: int = 2, n_neg: int = 3, max_rows: int = 30):
    """w [M, d], u [C, d], row_ptr, pos_ptr, pos_row [P], neg_row [E, P, n_neg]; some clients
    have no rows, one has rows but no positives."""
    g = torch.Generator().manual_seed(seed)
    rows = torch.randint(0, max_rows + 1, (clients,), generator=g)
    rows[torch.randint(0, clients, (2,), generator=g)] = 0
    pos = torch.where(rows > 0, torch.randint(0, 25, (clients,), generator=g), 0)
    with_rows = torch.nonzero(rows > 0)[:, 0]
    if with_rows.numel() > 1:
        pos[with_rows[0]] = 0
    row_ptr, pos_ptr = csr(rows.tolist()), csr(pos.tolist())
    owner = torch.repeat_interleave(torch.arange(clients), pos)
    lo, size = row_ptr[owner], rows[owner]

    def draw(*extra: int) -> torch.Tensor:  # a random row of each positive's client
        r = torch.rand(owner.numel(), *extra, generator=g)
        return lo.view(-1, *[1] * len(extra)) + (r * size.view(-1, *[1] * len(extra))).long()

    pos_row = draw()
    neg_row = torch.stack([draw(n_neg) for _ in range(epochs)]) if epochs else pos_row.new_zeros(0, pos_row.numel(), n_neg)
    w = torch.randn(int(row_ptr[-1]), d, generator=g) * 0.5
    u = torch.randn(clients, d, generator=g) * 0.5
    return w, u, row_ptr, pos_ptr, pos_row, neg_row


def run(fn, case, **kw):
    """Apply fn to copies of (w, u); returns (w, u, loss)."""
    w, u, *rest = case
    w, u = w.clone(), u.clone()
    loss = fn(w, u, *rest, **{"lr": 0.3, "user_lr": 0.7, **kw})
    return w, u, loss


def torch_path(w, u, row_ptr, pos_ptr, pos_row, neg_row, *, lr, user_lr, loss="bce"):
    """train_mf_flat's torch path on the same data (rows = the flat rows themselves)."""
    plan = SimpleNamespace(n_clients=u.shape[0], clients=torch.arange(u.shape[0]), rows=torch.arange(w.shape[0]),
                           row_ptr=row_ptr, pos_ptr=pos_ptr, pos_row=pos_row, neg_row=neg_row)
    new_u, delta, _, last = train_mf_flat(plan, w.clone(), u.clone(), lr=lr, user_lr=user_lr, loss=loss, ops=None)
    w += delta
    u.copy_(new_u)
    return last


def assert_same(a, b, atol=1e-5):
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=atol, equal_nan=True)


@pytest.mark.parametrize("loss", ["bce", "bpr"])
@pytest.mark.parametrize("n_neg", [0, 1, 4])
def test_matches_reference_and_torch_path(loss, n_neg):
    for seed in range(6):
        case = random_case(seed, d=[1, 5, 13, 32, 33, 8][seed], epochs=1 + seed % 3, n_neg=n_neg)
        native = run(fx.mf_train, case, loss=loss)
        assert_same(native, run(ref.mf_train, case, loss=loss))
        assert_same(native, run(torch_path, case, loss=loss))
        assert native[2].dtype == torch.float32 and native[2].shape == (case[1].shape[0],)


def test_train_mf_flat_uses_the_kernel_only_with_native_ops(monkeypatch):
    w, u, row_ptr, pos_ptr, pos_row, neg_row = random_case(3, d=32)
    table, users = torch.randn(50, 32), torch.randn(9, 32)
    rows = torch.cat([torch.randperm(50)[: int(n)].sort().values for n in row_ptr.diff()])
    plan = SimpleNamespace(n_clients=u.shape[0], clients=torch.randperm(9)[: u.shape[0]], rows=rows, row_ptr=row_ptr,
                           pos_ptr=pos_ptr, pos_row=pos_row, neg_row=neg_row)
    calls = []
    kernel = fx.mf_train
    monkeypatch.setattr(fx, "mf_train", lambda *a, **k: calls.append(1) or kernel(*a, **k))
    for loss in ("bce", "bpr"):
        a = [t.clone() for t in train_mf_flat(plan, table, users, lr=0.1, user_lr=0.5, loss=loss, ops=fx)]
        assert len(calls) == 1
        b = train_mf_flat(plan, table, users, lr=0.1, user_lr=0.5, loss=loss, ops=ref)
        train_mf_flat(plan, table, users, lr=0.1, user_lr=0.5, loss=loss, ops=fx, basis=torch.randn(2, 32))  # CoLR
        assert len(calls) == 1
        for x, y in zip(a, b):
            torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-5)
        calls.clear()


def test_no_epochs_and_no_clients():
    w, u, row_ptr, pos_ptr, pos_row, neg_row = case = random_case(1, epochs=0)
    nw, nu, loss = run(fx.mf_train, case)
    assert torch.equal(nw, w) and torch.equal(nu, u) and torch.equal(loss, torch.zeros(u.shape[0]))
    empty = (torch.zeros(0, 4), torch.zeros(0, 4), csr([]), csr([]), torch.zeros(0, dtype=torch.int64),
             torch.zeros(2, 0, 3, dtype=torch.int64))
    assert run(fx.mf_train, empty)[2].shape == (0,)


@pytest.mark.parametrize("loss", ["bce", "bpr"])
def test_same_bits_for_one_and_two_threads(loss):
    case = random_case(5, clients=300, d=32, epochs=2, n_neg=4, max_rows=60)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        a = run(fx.mf_train, case, loss=loss)
        torch.set_num_threads(2)
        b = run(fx.mf_train, case, loss=loss)
    finally:
        torch.set_num_threads(old)
    for x, y in zip(a, b):
        assert torch.equal(x, y)


@pytest.mark.parametrize("loss", ["bce", "bpr"])
def test_non_finite_values_propagate_like_the_reference(loss):
    w, u, *rest = random_case(2, d=8)
    w[3, 1] = float("nan")
    w[-1, 0] = float("inf")
    u[-2, 2] = float("-inf")
    case = (w, u, *rest)
    native = run(fx.mf_train, case, loss=loss)
    assert not bool(torch.isfinite(native[0]).all())
    assert_same(native, run(ref.mf_train, case, loss=loss))
    assert_same(native, run(torch_path, case, loss=loss))


def test_opcheck():
    w, u, row_ptr, pos_ptr, pos_row, neg_row = random_case(4, clients=4, d=5)
    table, rows = torch.randn(40, 5), torch.randint(0, 40, (w.shape[0],))
    for loss in ("bce", "bpr"):
        for start in ((None, None), (table, rows)):
            torch.library.opcheck(torch.ops.fedras.mf_train.default,
                                  (w.clone(), u.clone(), row_ptr, pos_ptr, pos_row, neg_row, *start, 0.1, 0.2, loss, True))


def table_case(seed: int, **kw):
    """A random case whose rows start from a table: (case, table [N, d], rows [M])."""
    case = random_case(seed, **kw)
    g = torch.Generator().manual_seed(100 + seed)
    table = torch.randn(23, case[0].shape[1], generator=g)
    table[5, 0] = float("nan")  # rows that start from it must carry it through
    rows = torch.randint(0, 23, (case[0].shape[0],), generator=g)
    return case, table, rows


def test_table_start_without_epochs_returns_no_change():
    (w, u, *rest), table, rows = table_case(2, epochs=0)
    got_w, got_u, _ = run(fx.mf_train, (torch.full_like(w, 7.0), u, *rest), table=table, rows=rows)
    start = table[rows]
    assert torch.equal(got_w.nan_to_num(9.0), (start - start).nan_to_num(9.0)) and torch.equal(got_u, u)


@pytest.mark.parametrize("loss", ["bce", "bpr"])
def test_table_start_returns_the_change_bit_for_bit(loss):
    """table/rows: the same bits as gather, train, subtract (the torch path's delta)."""
    for seed in range(4):
        (w, u, *rest), table, rows = table_case(seed, d=[1, 13, 32, 33][seed])
        start = table[rows]
        want_w, want_u, want_loss = run(fx.mf_train, (start, u, *rest), loss=loss)
        got = run(fx.mf_train, (torch.full_like(w, 7.0), u, *rest), loss=loss, table=table, rows=rows)
        for x, y in zip(got, (want_w - start, want_u, want_loss)):
            assert torch.equal(x.nan_to_num(123.0), y.nan_to_num(123.0))
        assert_same(got, run(ref.mf_train, (w, u, *rest), loss=loss, table=table, rows=rows))


def test_table_and_rows_are_checked():
    (w, u, *rest), table, rows = table_case(1)
    for fn in (fx.mf_train, ref.mf_train):
        with pytest.raises(ValueError, match="together"):
            run(fn, (w, u, *rest), table=table)
        for value in (table.shape[0], -1):
            bad = rows.clone()
            bad[-1] = value
            with pytest.raises(IndexError, match="rows"):
                run(fn, (w, u, *rest), table=table, rows=bad)
        with pytest.raises(ValueError, match="rows"):
            run(fn, (w, u, *rest), table=table, rows=rows[:-1])
        with pytest.raises(ValueError, match="table"):
            run(fn, (w, u, *rest), table=table[:, :-1], rows=rows)


def test_native_refuses_overlapping_tensors():
    """w, u and table are written and read by parallel clients: memory they share would
    race, so the native op names the pair instead of computing something."""
    (w, u, *rest), table, rows = table_case(1)
    d = w.shape[1]
    pool = torch.randn(w.shape[0] + u.shape[0] + table.shape[0], d)
    w2, u2, t2 = pool[: w.shape[0]], pool[w.shape[0]: w.shape[0] + u.shape[0]], pool[-table.shape[0]:]
    kw = dict(lr=0.3, user_lr=0.7)
    fx.mf_train(w2, u2, *rest, table=t2, rows=rows, **kw)  # neighbours in one buffer are fine
    with pytest.raises(ValueError, match="w and table overlap"):
        fx.mf_train(pool[: w.shape[0]], u.clone(), *rest, table=pool[1: table.shape[0] + 1], rows=rows, **kw)
    with pytest.raises(ValueError, match="u and table overlap"):
        fx.mf_train(w.clone(), pool[: u.shape[0]], *rest, table=pool[: table.shape[0]], rows=rows, **kw)
    with pytest.raises(ValueError, match="w and u overlap"):
        fx.mf_train(pool[: w.shape[0]], pool[w.shape[0] - 1: w.shape[0] - 1 + u.shape[0]], *rest, **kw)


# --------------------------------------------------------------------------- bad input


def call(case, **kw):
    return run(fx.mf_train, case, **kw)


def test_metadata_errors():
    w, u, row_ptr, pos_ptr, pos_row, neg_row = case = random_case(0)
    bad = lambda i, v: tuple(v if j == i else a for j, a in enumerate(case))  # noqa: E731
    cases = [
        (bad(0, w.double()), "w must be float32"),
        (bad(1, u[:, :-1].contiguous()), r"u.shape\[1\] must equal"),
        (bad(0, w.t().contiguous().t()), "w must be contiguous"),
        (bad(4, pos_row.int()), "pos_row must be int64"),
        (bad(5, neg_row[:, :-1].contiguous()), r"neg_row.shape\[1\] must equal"),
        (bad(5, neg_row[0]), "neg_row must be 3-D"),
        (bad(5, neg_row.transpose(1, 2).contiguous().transpose(1, 2)), "neg_row must be contiguous"),
        (bad(2, row_ptr[:-1]), r"row_ptr\[-1\] must equal|row_ptr must hold"),
        (bad(3, torch.cat([pos_ptr[:1], pos_ptr])), "pos_ptr must hold"),
        (bad(2, row_ptr.flip(0)), r"row_ptr\[0\] must be 0"),
    ]
    for args, match in cases:
        with pytest.raises(ValueError, match=match):
            call(args)
    with pytest.raises(ValueError, match="loss must be"):
        call(case, loss="mse")
    with pytest.raises(ValueError, match="lr must be finite"):
        call(case, lr=float("nan"))


def _foreign_cases(case):
    """(name, mutated case, expected message) with one row index outside its client's rows."""
    w, u, row_ptr, pos_ptr, pos_row, neg_row = case
    owner = torch.repeat_interleave(torch.arange(u.shape[0]), pos_ptr.diff())
    i = int(pos_ptr[-1]) // 2
    other = int(row_ptr[owner[i] + 1]) % w.shape[0]  # first row after the client's rows: another client's
    out = []
    for name, value in (("negative", -1), ("past the end", w.shape[0]), ("huge", 1 << 62), ("other client", other)):
        p, n = pos_row.clone(), neg_row.clone()
        p[i] = value
        out.append((name, (w, u, row_ptr, pos_ptr, p, neg_row),
                    rf"pos_row\[{i}\] = {value} is not a row of its client {int(owner[i])}"))
        n[1, i, 2] = value
        out.append((name, (w, u, row_ptr, pos_ptr, pos_row, n), rf"neg_row\[1, {i}, 2\] = {value} is not a row"))
    return out


@pytest.mark.parametrize("loss", ["bce", "bpr"])
def test_foreign_rows_raise_without_touching_anything(loss):
    case = random_case(0, epochs=2, n_neg=3)
    for name, bad, match in _foreign_cases(case):
        w, u = bad[0].clone(), bad[1].clone()
        for fn in (fx.mf_train, ref.mf_train):
            with pytest.raises(IndexError, match=match):
                fn(w, u, *bad[2:], lr=0.1, user_lr=0.1, loss=loss)
            assert torch.equal(w, bad[0]) and torch.equal(u, bad[1]), name
        # Direct calls into _C check too.
        out = torch.empty(u.shape[0])
        with pytest.raises(IndexError, match="is not a row of its client"):
            fx._C.mf_train(*(to_dlpack(t) for t in (w, u, *bad[2:])), None, None, to_dlpack(out), 0.1, 0.1, loss,
                           True, 1)


@pytest.mark.parametrize("loss", ["bce", "bpr"])
def test_without_validation_foreign_samples_are_skipped(loss):
    case = random_case(0, epochs=2, n_neg=3)
    for name, bad, _ in _foreign_cases(case):
        a = run(fx.mf_train, bad, loss=loss, validate=False)
        b = run(ref.mf_train, bad, loss=loss, validate=False)
        assert_same(a, b)
        assert all(bool(torch.isfinite(t).all()) for t in a), name


def test_direct_calls_check_offsets_and_shapes():
    w, u, row_ptr, pos_ptr, pos_row, neg_row = random_case(0)
    out = torch.empty(u.shape[0])
    named = dict(w=w, u=u, row_ptr=row_ptr, pos_ptr=pos_ptr, pos_row=pos_row, neg_row=neg_row, table=None, rows=None,
                 out=out)
    args = lambda **kw: [None if kw.get(k, v) is None else to_dlpack(kw.get(k, v))  # noqa: E731
                         for k, v in named.items()]
    bumpy = row_ptr.clone()
    bumpy[2] = bumpy[3] + 1
    with pytest.raises(ValueError, match="row_ptr must be non-decreasing"):
        fx._C.mf_train(*args(row_ptr=bumpy), 0.1, 0.1, "bce", False, 1)
    with pytest.raises(ValueError, match=r"pos_ptr\[-1\] must equal"):
        fx._C.mf_train(*args(pos_ptr=pos_ptr * 2), 0.1, 0.1, "bce", False, 1)
    with pytest.raises(ValueError, match=r"loss.shape\[0\]|loss must"):
        fx._C.mf_train(*args(out=torch.empty(u.shape[0] + 1)), 0.1, 0.1, "bce", False, 1)
    with pytest.raises(ValueError, match="user_lr must be finite"):
        fx._C.mf_train(*args(), 0.1, float("inf"), "bce", False, 1)
    # The kernel reads table[rows]: the range check runs even without validation.
    table, rows = torch.randn(4, w.shape[1]), torch.zeros(w.shape[0], dtype=torch.int64)
    rows[-1] = 4
    with pytest.raises(IndexError, match=r"table.shape\[0\]"):
        fx._C.mf_train(*args(table=table, rows=rows), 0.1, 0.1, "bce", False, 1)
    with pytest.raises(ValueError, match="together"):
        fx._C.mf_train(*args(table=table), 0.1, 0.1, "bce", False, 1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_are_a_clear_error():
    case = [t.cuda() for t in random_case(0)]
    with pytest.raises(ValueError, match="only a CPU kernel"):
        fx.mf_train(*case, lr=0.1, user_lr=0.1)


def test_runs_under_torch_compile():
    w, u, row_ptr, pos_ptr, pos_row, neg_row = random_case(0)

    table, rows = torch.randn(30, w.shape[1]), torch.randint(0, 30, (w.shape[0],))
    for start in ((None, None), (table, rows)):
        def step(w, u):
            return torch.ops.fedras.mf_train(w, u, row_ptr, pos_ptr, pos_row, neg_row, *start, 0.1, 0.2, "bce",
                                             True).sum()

        eager = (w.clone(), u.clone())
        want = step(*eager)
        compiled = (w.clone(), u.clone())
        got = torch.compile(step, backend="aot_eager", fullgraph=True)(*compiled)
        assert torch.equal(got, want) and torch.equal(compiled[0], eager[0]) and torch.equal(compiled[1], eager[1])

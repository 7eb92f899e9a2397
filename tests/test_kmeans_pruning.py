"""The CPU k-means prunes rows whose label provably stays (Elkan bounds) and k-means++
distances a new centre cannot improve (triangle inequality). Pruning must change no bit:
every case runs with FEDRAS_KMEANS_PRUNE=0 and =1, and FEDRAS_KMEANS_STATS=1 shows that
pruning did skip rows where it should, and none where it must not."""
from __future__ import annotations

import re

import pytest
import torch

import fedras_ext as fx
from helpers import csr


def gradient_like(g, sizes, d=32):
    """Rows like MF item deltas: each segment's rows are multiples of a few directions
    (its user vector, with either sign) plus small noise, so many rows sit near a
    boundary between clusters."""
    parts = []
    for n in sizes:
        dirs = torch.randn(3, d, generator=g)
        pick = torch.randint(0, 3, (n,), generator=g)
        scale = torch.randn(n, 1, generator=g) * 1e-3
        parts.append(dirs[pick] * scale + torch.randn(n, d, generator=g) * 1e-5)
    return torch.cat(parts)


def near_ties(g, n, d=8):
    """Points on (or one ulp off) the bisectors of two well-separated groups."""
    a, b = torch.zeros(d), torch.zeros(d)
    a[0], b[0] = -1.0, 1.0
    core = torch.cat([a + 0.01 * torch.randn(n // 3, d, generator=g), b + 0.01 * torch.randn(n // 3, d, generator=g)])
    mid = 0.01 * torch.randn(n - 2 * (n // 3), d, generator=g)
    mid[:, 0] = torch.where(torch.rand(len(mid), generator=g) < 0.5, 0.0, torch.finfo(torch.float32).tiny)
    return torch.cat([core, mid])


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal bit for bit (NaN included, which torch.equal calls unequal)."""
    if a.is_floating_point():
        ints = {torch.float32: torch.int32, torch.float64: torch.int64}[a.dtype]
        a, b = a.view(ints), b.view(ints)
    return torch.equal(a, b)


def run(monkeypatch, capfd, flag, x, off, k, **kw):
    monkeypatch.setenv("FEDRAS_KMEANS_PRUNE", flag)
    monkeypatch.setenv("FEDRAS_KMEANS_STATS", "1")
    capfd.readouterr()
    res = fx.segmented_kmeans(x, off, k, **kw)
    m = re.search(r"(\d+) of (\d+) row passes scored in full", capfd.readouterr().err)
    assert m, "FEDRAS_KMEANS_STATS printed nothing"
    return res, int(m.group(1)), int(m.group(2))


def case(name):
    g = torch.Generator().manual_seed(sum(map(ord, name)))
    if name == "gradient-like":
        sizes = [300, 0, 1, 17, 500, 64]
        return gradient_like(g, sizes), csr(sizes), 16
    if name == "big-segment":  # > 8,192 rows: the multi-threaded block path
        sizes = [9000, 40]
        return gradient_like(g, sizes, d=16), csr(sizes), 12
    if name == "near-ties":
        return near_ties(g, 400), csr([400]), 5
    if name == "duplicates-and-zeros":
        x = torch.randn(600, 8, generator=g).round()
        x[:100] = 0
        return x, csr([200, 200, 200]), 16
    if name == "wide-k-odd-d":  # k = 20: the bound stride (24) differs from the score tile (32)
        return torch.randn(500, 5, generator=g), csr([500]), 20
    if name == "far-from-origin":  # a big common offset: float scores cancel badly
        return 100.0 + 1e-3 * torch.randn(400, 8, generator=g), csr([400]), 6
    if name == "tiny-values":  # products underflow into subnormals
        return torch.randn(300, 8, generator=g) * 1e-21, csr([300]), 8
    if name == "large-values":  # norms just under the pruning limit
        return gradient_like(g, [300], d=8) * 1e16, csr([300]), 8
    raise KeyError(name)


PRUNED = ["gradient-like", "big-segment", "near-ties", "duplicates-and-zeros", "wide-k-odd-d", "large-values"]


@pytest.mark.parametrize("name", PRUNED + ["tiny-values", "far-from-origin"])
@pytest.mark.parametrize("init", ["kmeans++", "random"])
def test_pruning_changes_no_bit(monkeypatch, capfd, name, init):
    x, off, k = case(name)
    for seed in range(3):
        kw = dict(iters=30, tol=0.0, seed=seed, init=init)
        full, scored_off, passes_off = run(monkeypatch, capfd, "0", x, off, k, **kw)
        pruned, scored_on, passes_on = run(monkeypatch, capfd, "1", x, off, k, **kw)
        for field in full._fields:
            assert same_bits(getattr(full, field), getattr(pruned, field)), (name, seed, field)
        assert scored_off == passes_off == passes_on
        if name in PRUNED:
            assert scored_on < passes_on, "pruning skipped nothing"
        else:  # distances below the underflow slack, or score errors above the gaps: no skip is provable
            assert scored_on == passes_on


@pytest.mark.parametrize("bad", ["nan", "inf", "huge"])
def test_segments_that_could_overflow_are_not_pruned(monkeypatch, capfd, bad):
    g = torch.Generator().manual_seed(1)
    x = gradient_like(g, [200, 200])
    # Only the second segment is spoiled; the first is still pruned.
    x[250, 3] = {"nan": float("nan"), "inf": float("inf"), "huge": 1e20}[bad]
    off = csr([200, 200])
    # validate=False: the engine's setting, where non-finite rows reach the kernel.
    kw = dict(iters=30, tol=0.0, seed=0, validate=False)
    full, _, _ = run(monkeypatch, capfd, "0", x, off, 8, **kw)
    pruned, scored, passes = run(monkeypatch, capfd, "1", x, off, 8, **kw)
    for field in full._fields:
        assert same_bits(getattr(full, field), getattr(pruned, field)), field
    alone, scored2, passes2 = run(monkeypatch, capfd, "1", x[200:], csr([200]), 8, **kw)
    assert scored2 == passes2, "a segment with non-finite or huge values was pruned"
    assert scored < passes


def test_cosine_is_not_pruned(monkeypatch, capfd):
    x, off, k = case("gradient-like")
    _, scored, passes = run(monkeypatch, capfd, "1", x, off, k, iters=10, metric="cosine")
    assert scored == passes


@pytest.mark.parametrize("flag", ["off", "FALSE", "no", ""])
def test_other_off_spellings_turn_pruning_off(monkeypatch, capfd, flag):
    x, off, k = case("gradient-like")
    _, scored, passes = run(monkeypatch, capfd, flag, x, off, k, iters=10)
    assert scored == passes


def test_k_equal_to_rows_is_not_pruned(monkeypatch, capfd):
    # Every row is its own centroid: bounds would cost memory and time for nothing.
    x = torch.randn(300, 4, generator=torch.Generator().manual_seed(0))
    _, scored, passes = run(monkeypatch, capfd, "1", x, csr([300]), 300, iters=5)
    assert scored == passes

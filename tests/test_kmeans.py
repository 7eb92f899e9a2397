"""segmented_kmeans against its PyTorch reference, on objectives rather than labels."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import fedras_ext as fx
import fedras_ext.reference as ref
from conftest import needs_cuda
from helpers import csr


def random_case(seed: int, *, max_segments=7, max_rows=60, dims=(1, 3, 8, 32), rounded=False):
    g = torch.Generator().manual_seed(seed)
    segments = int(torch.randint(1, max_segments + 1, (1,), generator=g))
    sizes = torch.randint(0, max_rows, (segments,), generator=g).tolist()
    d = dims[seed % len(dims)]
    x = torch.randn(sum(sizes), d, generator=g)
    if rounded:  # many exact duplicates and zero rows
        x = x.round()
    k = torch.randint(1, 20, (segments,), generator=g)
    return x, csr(sizes), k


def brute_force(x, offsets, res, metric):
    """Per-segment inertia recomputed from the returned centroids and labels, and
    whether every label is an argmin (up to ties)."""
    inertia, optimal = [], True
    rows = normalize(x) if metric == "cosine" else x
    for s in range(offsets.numel() - 1):
        r0, r1 = int(offsets[s]), int(offsets[s + 1])
        k0, k1 = int(res.centroid_offsets[s]), int(res.centroid_offsets[s + 1])
        if r1 == r0:
            inertia.append(0.0)
            continue
        xs, c = rows[r0:r1].double(), res.centroids[k0:k1].double()
        lab = res.assignment[r0:r1].long()
        if metric == "cosine":
            cost = 1.0 - xs @ c.T
        else:
            cost = torch.cdist(xs, c).pow(2)
        inertia.append(float(cost.gather(1, lab[:, None]).sum()))
        optimal &= bool((cost.gather(1, lab[:, None])[:, 0] <= cost.min(1).values + 1e-4 * (1 + cost.abs().max())).all())
    return torch.tensor(inertia, dtype=torch.float64), optimal


def normalize(x):
    return ref.normalize_rows(x)


@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("init", ["kmeans++", "random"])
def test_matches_reference_on_random_cases(device, metric, init):
    close, total = 0, 0
    for case in range(40):
        x, off, k = random_case(case, rounded=(case % 5 == 0))
        got = fx.segmented_kmeans(x.to(device), off.to(device), k, seed=case, metric=metric, init=init)
        want = ref.segmented_kmeans(x, off, k, seed=case, metric=metric, init=init)
        assert torch.equal(got.centroid_offsets.cpu(), want.centroid_offsets)
        gi, wi = got.inertia.cpu(), want.inertia
        rel = (gi - wi).abs() / wi.abs().clamp(min=1e-6)
        close += int((rel <= 1e-5).sum())
        total += rel.numel()
        # Whatever path rounding takes, the objective must be as good as the reference's.
        assert float(gi.sum()) <= float(wi.sum()) * 1.05 + 1e-4
        bf, optimal = brute_force(x, off, _cpu(got), metric)
        assert torch.allclose(gi, bf, rtol=1e-5, atol=1e-4), (gi, bf)
        assert optimal
        assert torch.isfinite(got.centroids).all()
    # Same draws, same algorithm: only float rounding on exact ties may diverge.
    assert close >= 0.97 * total, (close, total)


def _cpu(res):
    return fx.KMeansResult(*(t.cpu() for t in res))


# Segment layouts that reach both CUDA launch paths: one block per segment, and the
# grid-wide kernels for a segment of more than one 2048-row chunk when there are few
# segments (or the segment is over 65,536 rows).
PATH_LAYOUTS = {
    "few-with-a-3-chunk-segment": [30, 0, 5000, 7],
    "one-segment-just-over-a-chunk": [2049],
    "many-small-and-one-huge": [40] * 70 + [70000],
}


@needs_cuda
@pytest.mark.cuda
@pytest.mark.parametrize("layout", list(PATH_LAYOUTS))
@pytest.mark.parametrize("metric,init", [("l2", "kmeans++"), ("cosine", "kmeans++"), ("l2", "random")])
def test_cuda_matches_cpu_bit_for_bit(layout, metric, init):
    """Both CUDA paths keep the CPU's arithmetic and summation order, so every output
    is the CPU's to the bit, on data with duplicate and zero rows (empty clusters)."""
    sizes = PATH_LAYOUTS[layout]
    g = torch.Generator().manual_seed(len(sizes))
    x = torch.randn(sum(sizes), 8, generator=g)
    x[::7] = x[1::7][: x[::7].shape[0]]  # duplicates
    x[::11] = 0.0
    off = csr(sizes)
    k = torch.randint(1, 24, (len(sizes),), generator=g)
    ids = torch.randint(0, 2**40, (len(sizes),), generator=g)
    kw = dict(seed=3, metric=metric, init=init, iters=12, tol=1e-6)
    want = fx.segmented_kmeans(x, off, k, segment_ids=ids, **kw)
    got = _cpu(fx.segmented_kmeans(x.cuda(), off.cuda(), k, segment_ids=ids.cuda(), **kw))
    for name in fx.KMeansResult._fields:
        assert torch.equal(getattr(got, name), getattr(want, name)), name
    assert int(want.n_iter.max()) > 1  # the Lloyd loop ran, not only the init


# The block path's own cases: a multi-chunk segment among enough segments to stay on
# it, with a round's d and k; the shared row tile at its widest (d = 127), at an odd
# d (the stride is d itself) and at d = 1 (partial last tiles); k == n; no tile and no
# shared centroid cache (d = 130, k = 70: over 8,192 floats).
BLOCK_LAYOUTS = {
    "3-chunk-segment-among-64": ([40] * 63 + [5000], 32, 16),
    "widest-tile": ([300, 7, 129], 127, 5),
    "odd-d": ([200, 77], 31, 9),
    "d-1-partial-tile": ([129, 3, 260], 1, 4),
    "k-equals-n": ([5, 16, 40], 32, 16),
    "no-tile-no-cache": ([600, 450, 300], 130, 70),
}


@needs_cuda
@pytest.mark.cuda
@pytest.mark.parametrize("layout", list(BLOCK_LAYOUTS))
@pytest.mark.parametrize("metric,init", [("l2", "kmeans++"), ("cosine", "kmeans++"), ("l2", "random")])
def test_cuda_block_path_matches_cpu_bit_for_bit(layout, metric, init):
    sizes, d, k = BLOCK_LAYOUTS[layout]
    g = torch.Generator().manual_seed(d)
    x = torch.randn(sum(sizes), d, generator=g)
    x[::7] = x[1::7][: x[::7].shape[0]]  # duplicates
    x[::11] = 0.0
    off = csr(sizes)
    ids = torch.randint(0, 2**40, (len(sizes),), generator=g)
    kw = dict(seed=5, metric=metric, init=init, iters=15, tol=0.0)
    want = fx.segmented_kmeans(x, off, k, segment_ids=ids, **kw)
    got = _cpu(fx.segmented_kmeans(x.cuda(), off.cuda(), k, segment_ids=ids.cuda(), **kw))
    for name in fx.KMeansResult._fields:
        assert torch.equal(getattr(got, name), getattr(want, name)), name
    if not (metric == "cosine" and d == 1):  # then every row is -1, 0 or +1: no update moves
        assert int(want.n_iter.max()) >= 1  # an update (the label sort, the member sums) ran


# The layouts above all run into the iteration cap on the grid path. These stop early
# there (CPU n_iter of the 5000-row segment in brackets): no label change [44..58], the
# tol rule [5..6: iterations up to the host's every-4 check are queued and must be
# no-ops], and k == n with duplicate rows (l2: the first update moves nothing [0]).
@needs_cuda
@pytest.mark.cuda
@pytest.mark.parametrize("init", ["kmeans++", "random"])
@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize(
    "sizes,k,iters,tol",
    [([30, 0, 5000, 7], [5, 1, 4, 3], 200, 0.0), ([30, 0, 5000, 7], [5, 1, 4, 3], 200, 1e-3),
     ([2500, 3], [2500, 3], 5, 0.0)],
    ids=["no-change", "tol", "k-equals-n"],
)
def test_cuda_grid_path_stopping_rules_match_cpu(sizes, k, iters, tol, metric, init):
    g = torch.Generator().manual_seed(len(sizes))
    x = torch.randn(sum(sizes), 8, generator=g)
    x[::7] = x[1::7][: x[::7].shape[0]]  # duplicates
    x[::11] = 0.0
    off = csr(sizes)
    ids = torch.randint(0, 2**40, (len(sizes),), generator=g)
    kw = dict(seed=3, metric=metric, init=init, iters=iters, tol=tol)
    want = fx.segmented_kmeans(x, off, k, segment_ids=ids, **kw)
    got = _cpu(fx.segmented_kmeans(x.cuda(), off.cuda(), k, segment_ids=ids.cuda(), **kw))
    for name in fx.KMeansResult._fields:
        assert torch.equal(getattr(got, name), getattr(want, name)), name
    big = max(range(len(sizes)), key=sizes.__getitem__)  # the grid-path segment
    assert int(want.n_iter[big]) < iters  # stopped before the cap


def test_inertia_never_rises_across_iterations(device):
    x, off, k = random_case(3, max_rows=200, dims=(16,))
    previous = None
    for iters in range(0, 12):
        res = fx.segmented_kmeans(x.to(device), off.to(device), k, iters=iters, tol=0.0, seed=7)
        inertia = res.inertia.cpu()
        if previous is not None:
            assert (inertia <= previous * (1 + 1e-6) + 1e-6).all()
        previous = inertia
    assert (res.n_iter.cpu() <= 11).all()


def test_converged_centroids_are_cluster_means(device):
    x, off, k = random_case(11, max_rows=120, dims=(8,))
    res = _cpu(fx.segmented_kmeans(x.to(device), off.to(device), k, iters=100, tol=0.0, seed=1))
    for s in range(off.numel() - 1):
        r0, r1 = int(off[s]), int(off[s + 1])
        if r1 == r0 or int(res.n_iter[s]) >= 100:
            continue
        k0, k1 = int(res.centroid_offsets[s]), int(res.centroid_offsets[s + 1])
        lab = res.assignment[r0:r1].long()
        for c in range(k1 - k0):
            members = x[r0:r1][lab == c]
            if len(members):
                torch.testing.assert_close(res.centroids[k0 + c], members.mean(0), rtol=1e-5, atol=1e-5)


def test_k_above_rows_and_empty_segments(device):
    x = torch.randn(7, 4)
    off = csr([0, 3, 0, 1, 3])
    res = _cpu(fx.segmented_kmeans(x.to(device), off.to(device), [5, 2, 9, 1, 3], seed=0))
    assert res.centroid_offsets.tolist() == [0, 0, 2, 2, 3, 6]
    assert res.centroids.shape == (6, 4)
    # k == rows: every row is its own centroid, exactly.
    torch.testing.assert_close(res.centroids[3:6], x[4:7], rtol=0, atol=0)
    assert res.inertia[[0, 2, 3, 4]].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert res.n_iter[0] == 0 and res.n_iter[2] == 0


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_zero_and_duplicate_rows_never_give_nan(device, metric):
    zeros = torch.zeros(50, 8)
    dups = torch.ones(40, 8).repeat(1, 1) * torch.tensor([1.0, -2, 3, 0, 0, 1, 1, 1])
    mixed = torch.cat([torch.zeros(20, 8), torch.randn(3, 8).repeat(10, 1)])
    x = torch.cat([zeros, dups, mixed])
    off = csr([50, 40, 50])
    res = _cpu(fx.segmented_kmeans(x.to(device), off.to(device), 16, seed=3, metric=metric))
    assert torch.isfinite(res.centroids).all()
    assert torch.isfinite(res.inertia).all()
    assert (res.assignment >= 0).all() and (res.assignment < 16).all()
    if metric == "l2":
        assert res.inertia[0] == 0 and res.inertia[1] == 0
        # 4 distinct rows in the last segment: 16 clusters fit them exactly.
        assert float(res.inertia[2]) < 1e-8


def test_cosine_centroids_are_unit_directions(device):
    x, off, k = random_case(5, max_rows=80, dims=(32,))
    res = _cpu(fx.segmented_kmeans(x.to(device), off.to(device), k, metric="cosine", seed=2))
    norms = res.centroids.norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)


@pytest.mark.parametrize("threads", [1, 2])
def test_deterministic_for_seed_and_thread_count(device, threads):
    # One segment above the big-segment threshold takes the multi-threaded path.
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20000 + 900, 8, generator=g)
    off = csr([20000, 300, 0, 600])
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        a = _cpu(fx.segmented_kmeans(x.to(device), off.to(device), 12, seed=5))
        torch.set_num_threads(threads)
        b = _cpu(fx.segmented_kmeans(x.to(device), off.to(device), 12, seed=5))
    finally:
        torch.set_num_threads(old)
    for u, v in zip(a, b):
        assert torch.equal(u, v)
    c = _cpu(fx.segmented_kmeans(x.to(device), off.to(device), 12, seed=6))
    assert not torch.equal(a.centroids, c.centroids)


@pytest.mark.parametrize("init", ["kmeans++", "random"])
def test_segment_ids_make_results_independent_of_batch_position(device, init):
    g = torch.Generator().manual_seed(9)
    sizes = [40, 0, 25, 60]
    x = torch.randn(sum(sizes), 6, generator=g)
    off = csr(sizes)
    ids = torch.tensor([101, 7, 55, 3])
    whole = _cpu(fx.segmented_kmeans(x.to(device), off.to(device), 5, seed=1, init=init, segment_ids=ids.to(device)))
    # Segment 3 alone, at position 0, with its id: the same result as inside the batch.
    alone = _cpu(fx.segmented_kmeans(x[65:].to(device), csr([60]).to(device), 5, seed=1, init=init,
                                     segment_ids=ids[3:].to(device)))
    assert torch.equal(alone.centroids, whole.centroids[whole.centroid_offsets[3]:])
    assert torch.equal(alone.assignment, whole.assignment[65:])
    want = ref.segmented_kmeans(x, off, 5, seed=1, init=init, segment_ids=ids)
    assert torch.allclose(whole.inertia, want.inertia, rtol=1e-5)
    with pytest.raises(ValueError, match="segment_ids"):
        fx.segmented_kmeans(x.to(device), off.to(device), 5, segment_ids=ids[:2].to(device))


def test_batched_torch_version_follows_reference():
    x, off, _ = random_case(21, max_rows=50, dims=(8,))
    a = ref.segmented_kmeans_padded(x, off, 6, seed=4, tol=0.0)
    b = ref.segmented_kmeans(x, off, 6, seed=4, tol=0.0)
    assert torch.allclose(a.inertia, b.inertia, rtol=1e-4, atol=1e-5)


def test_numpy_in_numpy_out():
    x = np.random.default_rng(0).normal(size=(30, 3)).astype(np.float32)
    res = fx.segmented_kmeans(x, np.array([0, 10, 30]), 4)
    assert isinstance(res.centroids, np.ndarray) and res.centroids.dtype == np.float32
    assert isinstance(res.assignment, np.ndarray) and res.assignment.dtype == np.int32


@pytest.mark.parametrize(
    "mutate, exc, match",
    [
        (lambda x, o: (x.double(), o), ValueError, "x must be float32"),
        (lambda x, o: (x[:, 0], o), ValueError, "x must be 2-D"),
        (lambda x, o: (x.t().contiguous().t(), o), ValueError, "contiguous"),
        (lambda x, o: (x, o.int()), ValueError, "offsets must be int64"),
        (lambda x, o: (x, torch.tensor([0, 5, 3, 10])), ValueError, "non-decreasing"),
        (lambda x, o: (x, torch.tensor([1, 5, 10])), ValueError, r"offsets\[0\] must be 0"),
        (lambda x, o: (x, torch.tensor([0, 5, 11])), ValueError, "must equal x.shape"),
        (lambda x, o: (torch.where(torch.arange(10)[:, None] == 3, float("nan"), x), o), ValueError, "finite"),
        (lambda x, o: (torch.where(torch.arange(10)[:, None] == 3, float("inf"), x), o), ValueError, "finite"),
    ],
)
def test_bad_input_is_rejected(device, mutate, exc, match):
    x, off = torch.randn(10, 4), csr([5, 5])
    x, off = mutate(x, off)
    with pytest.raises(exc, match=match):
        fx.segmented_kmeans(x.to(device), off.to(device), 3)


def test_bad_k_and_options():
    x, off = torch.randn(10, 4), csr([5, 5])
    with pytest.raises(ValueError, match="k must be >= 1"):
        fx.segmented_kmeans(x, off, 0)
    with pytest.raises(ValueError, match="one entry per segment"):
        fx.segmented_kmeans(x, off, [3, 3, 3])
    with pytest.raises(ValueError, match="init"):
        fx.segmented_kmeans(x, off, 3, init="forgy")
    with pytest.raises(ValueError, match="metric"):
        fx.segmented_kmeans(x, off, 3, metric="l1")
    with pytest.raises(ValueError, match="iters"):
        fx.segmented_kmeans(x, off, 3, iters=-1)
    with pytest.raises(ValueError, match="seed"):
        fx.segmented_kmeans(x, off, 3, seed=-1)


def test_mixed_devices_rejected():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    with pytest.raises(ValueError, match="on"):
        fx.segmented_kmeans(torch.randn(10, 4, device="cuda"), csr([5, 5]), 3)

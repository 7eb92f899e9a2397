"""Pure-PyTorch reference implementations of every native op, same signatures.

They are written to be obviously correct, not fast: k-means and the projection loop
over segments in Python. The tests compare the native kernels against them, and the
simulation's ``loop`` engine can run on them.

The k-means reference reproduces the native algorithm step by step (same counter-based
random draws, same k-means++ sampling rule, same stopping rule), so with the same seed
the two usually agree to float rounding; where rounding flips a near-tie they may take
different paths, which is why tests compare objectives, not labels.
"""
from __future__ import annotations

import zlib
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from ._checks import require, require_offsets
from ._interop import as_tensor
from .bitpack import _check_bits, packed_nbytes
from .kmeans import KMeansResult, clamped_k_offsets
from .mf_train import check_mf_train_args

# --------------------------------------------------------------------------- random draws
# Mirror of csrc/common/rng.h: draw t of segment s is a pure function of (seed, s, t).

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = z + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        return z ^ (z >> np.uint64(31))


def uniform01(seed: int, seg: Union[int, np.ndarray], t: Union[int, np.ndarray]) -> np.ndarray:
    """Uniform float64 in [0, 1) for draw ``t`` of segment ``seg`` (broadcasts)."""
    s = np.asarray(seg, dtype=np.uint64)
    tt = np.asarray(t, dtype=np.uint64)
    h = _splitmix64(_splitmix64(_splitmix64(np.asarray(seed, dtype=np.uint64)) ^ s) ^ tt)
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def uniform_index(seed: int, seg: int, t: int, n: int) -> int:
    """Uniform int in [0, n) for draw ``t`` of segment ``seg``."""
    return min(int(float(uniform01(seed, seg, t)) * n), n - 1)


# --------------------------------------------------------------------------- k-means


def normalize_rows(x: torch.Tensor) -> torch.Tensor:
    """Rows divided by their norm (taken in float64); zero rows stay zero. float32 out."""
    xd = x.double()
    norm = xd.pow(2).sum(1, keepdim=True).sqrt()
    return torch.where(norm > 0, xd / torch.where(norm > 0, norm, 1.0), 0.0).float()


def _seed_distance(xs: torch.Tensor, c: torch.Tensor, cosine: bool) -> torch.Tensor:
    if cosine:
        return (1.0 - xs.double() @ c.double()).clamp(min=0.0)
    return (xs.double() - c.double()).pow(2).sum(1)


def _kmeanspp(xs: torch.Tensor, k: int, seed: int, seg: int, cosine: bool) -> torch.Tensor:
    n = xs.shape[0]
    centroids = torch.empty(k, xs.shape[1], dtype=xs.dtype)
    pick = uniform_index(seed, seg, 0, n)
    mind: Optional[torch.Tensor] = None
    for t in range(k):
        centroids[t] = xs[pick]
        if t + 1 == k:
            break
        dist = _seed_distance(xs, centroids[t], cosine)
        mind = dist if mind is None else torch.minimum(mind, dist)
        total = float(mind.sum())
        if total > 0.0:
            target = float(uniform01(seed, seg, t + 1)) * total
            above = torch.nonzero(torch.cumsum(mind, 0) > target)
            pick = int(above[0]) if above.numel() else n - 1
            while pick > 0 and float(mind[pick]) == 0.0:  # rounding landed on a zero weight
                pick -= 1
        else:  # every row coincides with a chosen centre
            pick = uniform_index(seed, seg, t + 1, n)
    return centroids


def _random_init(xs: torch.Tensor, k: int, seed: int, seg: int) -> torch.Tensor:
    n = xs.shape[0]
    perm = list(range(n))
    for t in range(k):
        j = t + uniform_index(seed, seg, t, n - t)
        perm[t], perm[j] = perm[j], perm[t]
    return xs[perm[:k]].clone()


def _lloyd_pass(xs: torch.Tensor, centroids: torch.Tensor, cosine: bool):
    """Assign rows (ties: lowest index); return labels, exact inertia, cluster sums and counts."""
    k = centroids.shape[0]
    cn = torch.zeros(k) if cosine else centroids.pow(2).sum(1)
    labels = (cn[None, :] - 2.0 * (xs @ centroids.T)).argmin(1)
    chosen = centroids[labels]
    if cosine:
        dist = 1.0 - (xs.double() * chosen.double()).sum(1)
    else:
        dist = (xs - chosen).pow(2).sum(1).double()
    sums = torch.zeros(k, xs.shape[1], dtype=torch.float64).index_add_(0, labels, xs.double())
    counts = torch.bincount(labels, minlength=k)
    return labels, float(dist.sum()), sums, counts


def _update(centroids: torch.Tensor, sums: torch.Tensor, counts: torch.Tensor, cosine: bool) -> torch.Tensor:
    """Cluster means (unit-normalised for cosine); empty clusters keep their centroid."""
    if cosine:
        denom = sums.pow(2).sum(1, keepdim=True).sqrt()
        keep = (counts[:, None] == 0) | (denom == 0)
    else:
        denom = counts[:, None].double()
        keep = counts[:, None] == 0
    return torch.where(keep, centroids, (sums / torch.where(keep, 1.0, denom)).float())


def _kmeans_segment(xs, k, iters, tol, seed, seg, kmeanspp, cosine):
    n = xs.shape[0]
    if cosine:
        xs = normalize_rows(xs)
    if k == n:
        centroids = xs.clone()
    elif kmeanspp:
        centroids = _kmeanspp(xs, k, seed, seg, cosine)
    else:
        centroids = _random_init(xs, k, seed, seg)
    labels, inertia, sums, counts = _lloyd_pass(xs, centroids, cosine)
    n_iter = 0
    for it in range(1, iters + 1):
        previous = inertia
        moved = _update(centroids, sums, counts, cosine)
        if torch.equal(moved, centroids):
            break
        centroids = moved
        new_labels, inertia, sums, counts = _lloyd_pass(xs, centroids, cosine)
        n_iter = it
        changed = bool((new_labels != labels).any())
        labels = new_labels
        if not changed:
            break
        if tol > 0 and previous - inertia <= tol * previous:
            break
    return centroids, labels, inertia, n_iter


def segmented_kmeans(
    x: Any,
    offsets: Any,
    k: Union[int, Sequence[int], Any],
    *,
    iters: int = 25,
    tol: float = 1e-4,
    seed: int = 0,
    init: str = "kmeans++",
    metric: str = "l2",
    segment_ids: Any = None,
    validate: bool = True,
) -> KMeansResult:
    """Reference of :func:`fedras_ext.segmented_kmeans` (CPU, a Python loop over segments)."""
    xt, _ = as_tensor(x, "x")
    ot, _ = as_tensor(offsets, "offsets")
    require(xt, "x", dtype=torch.float32, ndim=2)
    device = xt.device
    xt = xt.cpu()
    off = require_offsets(ot, "offsets", xt.shape[0], "x.shape[0]", device)
    if validate and not bool(torch.isfinite(xt).all()):
        raise ValueError("x must be finite")
    k_off = clamped_k_offsets(off, k)
    segments = off.numel() - 1
    streams = list(range(segments)) if segment_ids is None else [int(v) for v in as_tensor(segment_ids, "segment_ids")[0].tolist()]
    centroids = torch.empty(int(k_off[-1]), xt.shape[1])
    assignment = torch.zeros(xt.shape[0], dtype=torch.int32)
    inertia = torch.zeros(segments, dtype=torch.float64)
    n_iter = torch.zeros(segments, dtype=torch.int32)
    for s in range(segments):
        r0, r1, k0, k1 = int(off[s]), int(off[s + 1]), int(k_off[s]), int(k_off[s + 1])
        if r1 == r0:
            continue
        c, lab, inert, it = _kmeans_segment(
            xt[r0:r1], k1 - k0, iters, tol, seed, streams[s], init == "kmeans++", metric == "cosine"
        )
        centroids[k0:k1] = c
        assignment[r0:r1] = lab.int()
        inertia[s] = inert
        n_iter[s] = it
    return KMeansResult(*(t.to(device) for t in (centroids, assignment, inertia, n_iter, k_off)))


def segmented_kmeans_padded(
    x: torch.Tensor,
    offsets: torch.Tensor,
    k: int,
    *,
    iters: int = 25,
    tol: float = 1e-4,
    seed: int = 0,
) -> KMeansResult:
    """A batched pure-PyTorch k-means (l2, k-means++), the fast way to write it in torch.

    Segments are padded to the longest one and all run at once with ``bmm``; each
    segment stops when its assignment no longer changes (or ``tol``/``iters`` trip).
    It follows the native algorithm (same draws, same sampling rule) up to float
    rounding, and is the "batched PyTorch" bar in ``benchmarks/ops.py``.
    """
    require(x, "x", dtype=torch.float32, ndim=2)
    off = require_offsets(offsets, "offsets", x.shape[0], "x.shape[0]", x.device)
    dev, d = x.device, x.shape[1]
    k_off = clamped_k_offsets(off, k)
    sizes = off[1:] - off[:-1]
    ks = k_off[1:] - k_off[:-1]
    segments = sizes.numel()
    n_max = int(sizes.max()) if segments else 0
    k_max = int(ks.max()) if segments else 0
    # Dense [S, n_max, d] view of the ragged rows, with a validity mask.
    pos = torch.arange(n_max, device=dev)
    valid = pos[None, :] < sizes.to(dev)[:, None]
    flat = (off[:-1].to(dev)[:, None] + pos[None, :]).clamp(max=max(x.shape[0] - 1, 0))
    X = torch.where(valid[..., None], x[flat], 0.0) if x.shape[0] else x.new_zeros(segments, n_max, d)
    seg_ids = np.arange(segments)
    sizes_np = sizes.numpy()

    # k-means++ for all segments at once (segments with k == n take their rows).
    C = X[:, :k_max].clone() if k_max else X.new_zeros(segments, 0, d)
    exact = (ks == sizes).to(dev)
    first = np.minimum((uniform01(seed, seg_ids, 0) * sizes_np).astype(np.int64), np.maximum(sizes_np - 1, 0))
    pick = torch.as_tensor(first, device=dev)
    mind = None
    rows_all = torch.arange(segments, device=dev)
    for t in range(k_max):
        C[:, t] = torch.where(exact[:, None], C[:, t], X[rows_all, pick])
        if t + 1 == k_max:
            break
        dist = (X.double() - C[:, t : t + 1].double()).pow(2).sum(2)
        mind = dist if mind is None else torch.minimum(mind, dist)
        mind = torch.where(valid, mind, 0.0)
        total = mind.sum(1)
        target = torch.as_tensor(uniform01(seed, seg_ids, t + 1), device=dev) * total
        above = torch.cumsum(mind, 1) > target[:, None]
        pick_w = torch.where(above.any(1), above.int().argmax(1), (sizes.to(dev) - 1).clamp(min=0))
        fallback = torch.as_tensor(
            np.minimum((uniform01(seed, seg_ids, t + 1) * sizes_np).astype(np.int64), np.maximum(sizes_np - 1, 0)),
            device=dev,
        )
        pick = torch.where(total > 0, pick_w, fallback)
    # Padding centroids (beyond a segment's k) must never win an assignment.
    kpos = torch.arange(k_max, device=dev)
    kvalid = kpos[None, :] < ks.to(dev)[:, None]

    def assign(C):
        cn = torch.where(kvalid, C.pow(2).sum(2), float("inf"))
        labels = (cn[:, None, :] - 2.0 * torch.bmm(X, C.transpose(1, 2))).argmin(2)
        chosen = torch.gather(C, 1, labels[..., None].expand(-1, -1, d))
        dist = torch.where(valid, (X - chosen).pow(2).sum(2), 0.0).double().sum(1)
        return labels, dist

    labels, inertia = assign(C)
    active = sizes.to(dev) > 0
    n_iter = torch.zeros(segments, dtype=torch.int32, device=dev)
    one_hot_base = torch.arange(segments, device=dev)[:, None] * k_max
    for it in range(1, iters + 1):
        if not bool(active.any()):
            break
        idx = torch.where(valid, one_hot_base + labels, segments * k_max).reshape(-1)
        sums = torch.zeros(segments * k_max + 1, d, dtype=torch.float64, device=dev)
        sums.index_add_(0, idx, X.reshape(-1, d).double())
        counts = torch.bincount(idx, minlength=segments * k_max + 1)
        sums, counts = sums[:-1].view(segments, k_max, d), counts[:-1].view(segments, k_max)
        newC = torch.where(counts[..., None] > 0, (sums / counts[..., None].clamp(min=1)).float(), C)
        moved = (newC != C).flatten(1).any(1) & active
        C = torch.where(moved[:, None, None], newC, C)
        new_labels, new_inertia = assign(C)
        changed = ((new_labels != labels) & valid).any(1)
        improved_enough = ~((tol > 0) & (inertia - new_inertia <= tol * inertia))
        labels = torch.where(moved[:, None], new_labels, labels)
        n_iter = torch.where(moved, it, n_iter)
        inertia = torch.where(moved, new_inertia, inertia)
        active = moved & changed & improved_enough
    centroids = C[kvalid]
    assignment = labels[valid].int()
    return KMeansResult(centroids, assignment, inertia, n_iter, k_off.to(dev))


# --------------------------------------------------------------------------- projection


def project_directions(
    x: Any, offsets: Any, directions: Any, dir_offsets: Any, *, validate: bool = True
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Reference of :func:`fedras_ext.project_directions` (a loop over segments)."""
    xt, _ = as_tensor(x, "x")
    dt, _ = as_tensor(directions, "directions")
    ot, _ = as_tensor(offsets, "offsets")
    dot_, _ = as_tensor(dir_offsets, "dir_offsets")
    off = require_offsets(ot, "offsets", xt.shape[0], "x.shape[0]", xt.device)
    doff = require_offsets(dot_, "dir_offsets", dt.shape[0], "directions.shape[0]", xt.device)
    index = torch.zeros(xt.shape[0], dtype=torch.int32)
    scale = torch.zeros(xt.shape[0], dtype=torch.float32)
    xc, dc = xt.cpu(), dt.cpu()
    for s in range(off.numel() - 1):
        r0, r1, k0, k1 = int(off[s]), int(off[s + 1]), int(doff[s]), int(doff[s + 1])
        if r1 == r0:
            continue
        if k1 == k0:
            raise ValueError(f"dir_offsets gives segment {s} no directions but it has {r1 - r0} rows")
        dots = xc[r0:r1] @ normalize_rows(dc[k0:k1]).T
        best = dots.argmax(1)
        index[r0:r1] = best.int()
        scale[r0:r1] = dots.gather(1, best[:, None])[:, 0]
    return index.to(xt.device), scale.to(xt.device)


# --------------------------------------------------------------------------- scatter


def apply_actions(
    table: torch.Tensor,
    rows: torch.Tensor,
    action_idx: torch.Tensor,
    actions: torch.Tensor,
    action_offsets: torch.Tensor,
    segment_of_row: torch.Tensor,
    *,
    scale: float = 1.0,
    reduce: str = "mean",
    deterministic: Optional[bool] = None,
    row_scale: Optional[torch.Tensor] = None,
    validate: bool = True,
) -> torch.Tensor:
    """Reference of :func:`fedras_ext.apply_actions`: a gather plus ``index_add_``."""
    if reduce not in ("mean", "sum"):
        raise ValueError(f"reduce must be 'mean' or 'sum', got {reduce!r}")
    rows = rows.long()
    if validate and rows.numel() and (int(rows.min()) < 0 or int(rows.max()) >= table.shape[0]):
        raise IndexError("rows out of range")
    vals = actions[action_offsets[segment_of_row.long()] + action_idx.long()]
    if row_scale is not None:
        vals = vals * row_scale[:, None]
    acc = torch.zeros_like(table).index_add_(0, rows, vals)
    counts = torch.bincount(rows, minlength=table.shape[0])
    touched = counts > 0
    if reduce == "mean":
        acc = acc / counts.clamp(min=1)[:, None].to(acc.dtype)
    table[touched] += scale * acc[touched]
    return table


# --------------------------------------------------------------------------- bit packing


def pack_indices(idx: torch.Tensor, bits: int, *, validate: bool = True) -> torch.Tensor:
    """Reference of :func:`fedras_ext.pack_indices` (explicit bit matrix)."""
    _check_bits(bits)
    require(idx, "idx", dtype=torch.int32, ndim=1)
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= (1 << bits)):
        raise IndexError(f"idx holds values outside [0, {1 << bits})")
    stream = ((idx.long()[:, None] >> torch.arange(bits, device=idx.device)) & 1).reshape(-1)
    stream = torch.cat([stream, stream.new_zeros((-stream.numel()) % 8)])
    weights = 1 << torch.arange(8, device=idx.device)
    return (stream.view(-1, 8) * weights).sum(1).to(torch.uint8)


def unpack_indices(packed: torch.Tensor, bits: int, n: int) -> torch.Tensor:
    """Reference of :func:`fedras_ext.unpack_indices`."""
    _check_bits(bits)
    if packed.numel() != packed_nbytes(n, bits):
        raise ValueError(f"packed must hold {packed_nbytes(n, bits)} bytes, got {packed.numel()}")
    stream = ((packed.long()[:, None] >> torch.arange(8, device=packed.device)) & 1).reshape(-1)[: n * bits]
    weights = 1 << torch.arange(bits, device=packed.device)
    return (stream.view(n, bits) * weights).sum(1).int()


# --------------------------------------------------------------------------- MF training


def _first_foreign(idx: torch.Tensor, name: str, epoch: Optional[int], pos_ptr: torch.Tensor,
                   row_ptr: torch.Tensor) -> None:
    """IndexError for the first entry of ``idx`` ``[P, per]`` outside its client's rows."""
    owner = torch.repeat_interleave(torch.arange(pos_ptr.numel() - 1, device=pos_ptr.device), pos_ptr.diff())[:, None]
    bad = (idx < row_ptr[owner]) | (idx >= row_ptr[owner + 1])
    if not bool(bad.any()):
        return
    i, j = (int(v) for v in torch.nonzero(bad)[0])
    c = int(owner[i])
    where = f"[{i}]" if epoch is None else f"[{epoch}, {i}, {j}]"
    raise IndexError(f"{name}{where} = {int(idx[i, j])} is not a row of its client {c} "
                     f"(rows [{int(row_ptr[c])}, {int(row_ptr[c + 1])}) of row_ptr)")


# touched_rows finds the rows with a dense clients x items mask up to this many cells.
_DENSE_KEYS = 1 << 26


def _require_below(t: torch.Tensor, hi: int, name: str, what: str) -> None:
    """IndexError naming the first entry of ``t`` outside ``[0, hi)`` (its full index)."""
    bad = torch.nonzero((t < 0) | (t >= hi))
    if bad.numel():
        at = tuple(int(v) for v in bad[0])
        raise IndexError(f"{name}[{', '.join(map(str, at))}] = {int(t[at])} is not {what}")


def touched_rows(pos_ptr: torch.Tensor, pos_items: torch.Tensor, neg_items: torch.Tensor,
                 n_items: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Reference of :func:`fedras_ext.touched_rows`, in torch ops on any device (the CUDA
    rounds use it): the unique (client, item) keys, sorted, so each client's rows come
    out sorted and together; a dense clients x items mask when that is small."""
    dev = pos_items.device
    _require_below(pos_items, n_items, "pos_items", f"an item of [0, {n_items})")
    _require_below(neg_items, n_items, "neg_items", f"an item of [0, {n_items})")
    counts = pos_ptr.diff()
    n_clients, n_pos = counts.numel(), pos_items.numel()
    local = torch.repeat_interleave(torch.arange(n_clients, device=dev), counts)
    key_pos = local * n_items + pos_items
    key_neg = local[None, :, None] * n_items + neg_items
    if n_clients * n_items <= _DENSE_KEYS:
        # index_fill_/index_select/index_copy_ run 2-4x faster than indexing on CPU; int32
        # slots (< _DENSE_KEYS) halve the pass over the mask.
        mask = torch.zeros(n_clients * n_items, dtype=torch.bool, device=dev)
        mask.index_fill_(0, key_pos, True).index_fill_(0, key_neg.reshape(-1), True)
        slot = torch.cumsum(mask, 0, dtype=torch.int32).sub_(1)
        inv_pos, inv_neg = (slot.index_select(0, k.reshape(-1)).view(k.shape).long() for k in (key_pos, key_neg))
        row_ptr = torch.zeros(n_clients + 1, dtype=torch.int64, device=dev)
        if n_items:
            row_ptr[1:] = slot.view(n_clients, n_items)[:, -1] + 1  # rows up to each client's end
        # Each row is the item of the samples mapped to it (repeats write the same item):
        # cheaper than finding the keys (nonzero) and dividing them.
        rows = torch.empty(int(row_ptr[-1]), dtype=torch.int64, device=dev)
        rows.index_copy_(0, inv_pos, pos_items).index_copy_(0, inv_neg.reshape(-1), neg_items.reshape(-1))
    else:
        keys, inverse = torch.unique(torch.cat([key_pos, key_neg.reshape(-1)]), sorted=True, return_inverse=True)
        inv_pos, inv_neg = inverse[:n_pos], inverse[n_pos:].reshape(key_neg.shape)
        row_ptr = torch.zeros(n_clients + 1, dtype=torch.int64, device=dev)
        row_ptr[1:] = torch.cumsum(torch.bincount(keys // n_items, minlength=n_clients), 0)
        rows = keys % n_items
    return row_ptr, rows, inv_pos, inv_neg


def mf_train(
    w: torch.Tensor,
    u: torch.Tensor,
    row_ptr: torch.Tensor,
    pos_ptr: torch.Tensor,
    pos_row: torch.Tensor,
    neg_row: torch.Tensor,
    *,
    lr: float,
    user_lr: float,
    loss: str = "bce",
    validate: bool = True,
    table: Optional[torch.Tensor] = None,
    rows: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Reference of :func:`fedras_ext.mf_train`: a Python loop over clients, in place on
    ``w`` and ``u``; returns float32 ``[C]`` the mean loss of the last epoch. With
    ``table`` and ``rows``: gather, train, subtract, as the op's docstring says."""
    check_mf_train_args(w, u, row_ptr, pos_ptr, pos_row, neg_row, lr, user_lr, loss, table, rows)
    if table is not None:
        _require_below(rows, table.shape[0], "rows", f"a row of table (table.shape[0] = {table.shape[0]})")
        w.copy_(table[rows])
        out = mf_train(w, u, row_ptr, pos_ptr, pos_row, neg_row, lr=lr, user_lr=user_lr, loss=loss, validate=validate)
        w.sub_(table[rows])
        return out
    epochs, n_neg = neg_row.shape[0], neg_row.shape[2]
    bpr = loss == "bpr" and n_neg > 0
    if validate:
        _first_foreign(pos_row[:, None], "pos_row", None, pos_ptr, row_ptr)
        for e in range(epochs if n_neg else 0):
            _first_foreign(neg_row[e], "neg_row", e, pos_ptr, row_ptr)
    out = torch.zeros(u.shape[0], dtype=torch.float32, device=u.device)
    for c in range(u.shape[0]):
        r0, r1, p0, p1 = int(row_ptr[c]), int(row_ptr[c + 1]), int(pos_ptr[c]), int(pos_ptr[c + 1])
        w_c, u_c = w[r0:r1], u[c]                       # views: updated in place
        pos = pos_row[p0:p1] - r0                       # [Pc] client-local rows
        neg = neg_row[:, p0:p1] - r0                    # [E, Pc, n_neg]
        ok_pos = (pos >= 0) & (pos < r1 - r0)           # without validate, foreign samples are skipped
        ok_neg = (neg >= 0) & (neg < r1 - r0)
        terms = (p1 - p0) * (n_neg if bpr else 1 + n_neg)
        per_sample = 1.0 / max(terms, 1)
        for e in range(epochs):
            s = (w_c * u_c).sum(1)                      # [Lc] score of every row
            g = torch.zeros_like(s)
            if bpr:
                ok = ok_pos[:, None] & ok_neg[e]
                p_rows, n_rows = pos[:, None].expand_as(ok)[ok], neg[e][ok]
                diff = s[n_rows] - s[p_rows]
                pair = torch.sigmoid(diff)
                g.index_add_(0, n_rows, pair).index_add_(0, p_rows, -pair)
                total = F.softplus(diff).sum()
            else:
                p_rows, n_rows = pos[ok_pos], neg[e][ok_neg[e]]
                g.index_add_(0, p_rows, torch.sigmoid(s[p_rows]) - 1.0).index_add_(0, n_rows, torch.sigmoid(s[n_rows]))
                total = F.softplus(-s[p_rows]).sum() + F.softplus(s[n_rows]).sum()
            grad_u = (g[:, None] * w_c).sum(0)
            w_c -= lr * (g[:, None] * u_c)              # with u before its step
            u_c -= user_lr * per_sample * grad_u
            out[c] = total * per_sample
    return out


# --------------------------------------------------------------------------- byte segments


def _segments(n_bytes: int, start: Any, length: Any, what: str):
    start, length = np.asarray(start, dtype=np.int64), np.asarray(length, dtype=np.int64)
    if start.ndim != 1 or start.shape != length.shape:
        raise ValueError(f"start and length must be 1-D of one length, got {start.shape} and {length.shape}")
    for s, (a, n) in enumerate(zip(start.tolist(), length.tolist())):
        if a < 0 or n < 0 or a + n > n_bytes:
            raise IndexError(f"segment {s} ({a}, length {n}) is not inside {what} of {n_bytes} bytes")
    return zip(start.tolist(), length.tolist())


def _output_segments(n_bytes: int, start: Any, length: Any, what: str) -> list:
    """_segments of an output the native ops write in parallel: also ValueError if two
    non-empty segments share a byte of it."""
    segments = list(_segments(n_bytes, start, length, what))
    start, length = np.asarray(start, dtype=np.int64), np.asarray(length, dtype=np.int64)
    live = np.flatnonzero(length > 0)
    order = live[np.argsort(start[live], kind="stable")]
    for a, b in zip(order[:-1].tolist(), order[1:].tolist()):
        if start[b] - start[a] < length[a]:
            raise ValueError(f"segments {a} and {b} overlap in {what}")
    return segments


def copy_segments(src: Any, src_start: Any, length: Any, dst: Any, dst_start: Any) -> None:
    """Reference of :func:`fedras_ext.copy_segments` (one slice assignment per segment)."""
    src, dst = np.asarray(src), np.asarray(dst)
    if src.dtype != np.uint8 or dst.dtype != np.uint8 or src.ndim != 1 or dst.ndim != 1:
        raise ValueError("src and dst must be 1-D uint8")
    pieces = list(_segments(src.size, src_start, length, "src"))
    _output_segments(dst.size, dst_start, length, "dst")
    for (a, n), b in zip(pieces, np.asarray(dst_start, dtype=np.int64).tolist()):
        dst[b: b + n] = src[a: a + n]


def crc32_segments(data: Any, start: Any, length: Any) -> np.ndarray:
    """Reference of :func:`fedras_ext.crc32_segments` (``zlib.crc32`` per segment)."""
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 1:
        raise ValueError("data must be 1-D uint8")
    view = memoryview(data)
    return np.array([zlib.crc32(view[a: a + n]) for a, n in _segments(data.size, start, length, "data")], dtype=np.int64)


# --------------------------------------------------------------------------- id sets (RowSet bodies)


def _varint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _gap_streams(ids: Any, start: Any, count: Any):
    ids = np.asarray(ids, dtype=np.int64)
    for s, (a, n) in enumerate(_segments(ids.size, start, count, "ids")):
        seg = ids[a: a + n].tolist()
        if any(v < 0 for v in seg[:1]) or any(b <= p for p, b in zip(seg, seg[1:])):
            raise ValueError(f"the ids of segment {s} must be sorted, unique and non-negative")
        yield b"".join(_varint(v - (seg[j - 1] if j else 0)) for j, v in enumerate(seg))


def varint_gap_bytes(ids: Any, start: Any, count: Any) -> np.ndarray:
    """Reference of :func:`fedras_ext.varint_gap_bytes` (one Python varint at a time)."""
    return np.array([len(b) for b in _gap_streams(ids, start, count)], dtype=np.int64)


def encode_varint_gaps(ids: Any, start: Any, count: Any, out: Any, out_start: Any) -> None:
    """Reference of :func:`fedras_ext.encode_varint_gaps`."""
    streams = list(_gap_streams(ids, start, count))
    lengths = np.array([len(b) for b in streams], dtype=np.int64)
    _output_segments(len(out), out_start, lengths, "out")
    for b, at in zip(streams, np.asarray(out_start, dtype=np.int64).tolist()):
        out[at: at + len(b)] = np.frombuffer(b, dtype=np.uint8)


def _decode_one(body: bytes, count: int, universe: int) -> Optional[list]:
    ids, at, previous = [], 0, None
    while at < len(body):
        value, shift, length = 0, 0, 0
        while True:
            if at == len(body) or length == 10:
                return None  # ends inside a value, or longer than 10 bytes
            b = body[at]
            at += 1
            value |= (b & 0x7F) << shift
            shift += 7
            length += 1
            if b < 0x80:
                break
        if (length > 1 and b == 0) or value >= 2**64:  # not the shortest form, or over 64 bits
            return None
        if value >= universe or (previous is not None and value == 0):
            return None
        previous = value if previous is None else previous + value
        if previous >= universe:
            return None
        ids.append(previous)
    return ids if len(ids) == count else None


def _declared_counts(count: Any, universe: int) -> np.ndarray:
    """The decoders' declared counts (int64), each in [0, universe]."""
    if universe < 0:
        raise ValueError("universe must be >= 0")
    count = np.asarray(count, dtype=np.int64)
    bad = np.flatnonzero((count < 0) | (count > universe))
    if bad.size:
        raise ValueError(f"count[{bad[0]}] = {count[bad[0]]} is outside [0, universe = {universe}]")
    return count


def decode_varint_gaps(stream: Any, start: Any, nbytes: Any, count: Any, universe: int) -> Tuple[np.ndarray, np.ndarray]:
    """Reference of :func:`fedras_ext.decode_varint_gaps` (a byte at a time); the ids of
    a segment that is not ok are zeros."""
    stream = np.asarray(stream, dtype=np.uint8).tobytes()
    count = _declared_counts(count, universe)
    ids, ok = [], []
    for (a, n), c in zip(_segments(len(stream), start, nbytes, "stream"), count.tolist()):
        got = _decode_one(stream[a: a + n], c, universe)
        ok.append(got is not None)
        ids += got if got is not None else [0] * c
    return np.array(ids, dtype=np.int64), np.array(ok, dtype=bool)


def encode_bitmap_ids(ids: Any, start: Any, count: Any, universe: int, out: Any, out_start: Any) -> None:
    """Reference of :func:`fedras_ext.encode_bitmap_ids` (numpy's packbits per segment)."""
    if universe < 0:
        raise ValueError("universe must be >= 0")
    ids = np.asarray(ids, dtype=np.int64)
    width = (universe + 7) // 8
    segments = list(_segments(ids.size, start, count, "ids"))
    at = _output_segments(len(out), out_start, np.full(len(segments), width), "out")
    for s, ((a, n), (o, _)) in enumerate(zip(segments, at)):
        seg = ids[a: a + n]
        bits = np.zeros(width * 8, dtype=bool)
        bits[seg[(seg >= 0) & (seg < universe)]] = True
        out[o: o + width] = np.packbits(bits, bitorder="little")
        if ((seg < 0) | (seg >= universe)).any():
            raise IndexError(f"segment {s} holds an id outside [0, {universe})")


def decode_bitmap_ids(stream: Any, start: Any, count: Any, universe: int) -> Tuple[np.ndarray, np.ndarray]:
    """Reference of :func:`fedras_ext.decode_bitmap_ids` (a bit at a time); the ids of a
    segment that is not ok are zeros."""
    stream = np.asarray(stream, dtype=np.uint8).tobytes()
    count = _declared_counts(count, universe)
    width = (universe + 7) // 8
    ids, ok = [], []
    for (a, _), c in zip(_segments(len(stream), start, np.full(count.size, width), "stream"), count.tolist()):
        got = [8 * b + i for b in range(width) for i in range(8) if stream[a + b] >> i & 1]
        good = len(got) == c and all(v < universe for v in got)
        ok.append(good)
        ids += got if good else [0] * c
    return np.array(ids, dtype=np.int64), np.array(ok, dtype=bool)


def pack_index_segments(idx: Any, start: Any, count: Any, bits: int) -> np.ndarray:
    """Reference of :func:`fedras_ext.pack_index_segments` (pack_indices per segment)."""
    idx = torch.as_tensor(np.asarray(idx, dtype=np.int32))
    parts = [pack_indices(idx[a: a + n], bits).numpy() for a, n in _segments(idx.numel(), start, count, "idx")]
    return np.concatenate(parts) if parts else np.zeros(0, np.uint8)


def unpack_index_segments(packed: Any, start: Any, count: Any, bits: int) -> np.ndarray:
    """Reference of :func:`fedras_ext.unpack_index_segments`."""
    packed = torch.as_tensor(np.asarray(packed, dtype=np.uint8))
    count = np.asarray(count, dtype=np.int64)
    nbytes = (count * bits + 7) // 8
    parts = [unpack_indices(packed[a: a + m], bits, int(n)).numpy()
             for (a, m), n in zip(_segments(packed.numel(), start, nbytes, "packed"), count.tolist())]
    return np.concatenate(parts) if parts else np.zeros(0, np.int32)

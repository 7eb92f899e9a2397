"""segmented_kmeans: one k-means per CSR segment (client), all in one native call."""
from __future__ import annotations

from typing import Any, NamedTuple, Optional, Sequence, Union

import torch

from . import _native
from ._checks import require, require_offsets
from ._interop import as_tensor, result_kind, to_kind
from ._native import _C, capsule, stream_of


class KMeansResult(NamedTuple):
    """Result of :func:`segmented_kmeans`.

    - ``centroids``: float32 ``[sum(k), d]``, segment by segment.
    - ``assignment``: int32 ``[N]``, each row's centroid index local to its segment.
    - ``inertia``: float64 ``[S]``, per-segment sum of distances to the assigned centroid
      (squared Euclidean for ``l2``; ``1 - cos`` of the normalised row for ``cosine``).
    - ``n_iter``: int32 ``[S]``, Lloyd iterations used per segment.
    - ``centroid_offsets``: int64 ``[S + 1]``, CSR offsets of ``centroids`` (the k actually used).
    """

    centroids: Any
    assignment: Any
    inertia: Any
    n_iter: Any
    centroid_offsets: Any


@_native.custom_op("fedras::segmented_kmeans", mutates_args=())
def _segmented_kmeans_op(
    x: torch.Tensor,
    offsets: torch.Tensor,
    k_offsets: torch.Tensor,
    segment_ids: Optional[torch.Tensor],
    total_k: int,
    iters: int,
    tol: float,
    seed: int,
    init: str,
    metric: str,
    validate: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    n, d = x.shape
    segments = offsets.numel() - 1
    centroids = x.new_empty((total_k, d))
    assignment = torch.empty(n, dtype=torch.int32, device=x.device)
    inertia = torch.empty(segments, dtype=torch.float64, device=x.device)
    n_iter = torch.empty(segments, dtype=torch.int32, device=x.device)
    ws = _native.workspace(x, _C.segmented_kmeans_workspace_bytes, n, segments, total_k, d)
    _C.segmented_kmeans(
        capsule(x), capsule(offsets), capsule(k_offsets), _native.optional_capsule(segment_ids), capsule(centroids),
        capsule(assignment),
        capsule(inertia), capsule(n_iter), _native.optional_capsule(ws), iters, tol, seed, init, metric,
        validate, _native.num_threads(), stream_of(x),
    )
    return centroids, assignment, inertia, n_iter


@_segmented_kmeans_op.register_fake
def _(x, offsets, k_offsets, segment_ids, total_k, iters, tol, seed, init, metric, validate):
    segments = offsets.shape[0] - 1
    return (
        x.new_empty((total_k, x.shape[1])),
        x.new_empty((x.shape[0],), dtype=torch.int32),
        x.new_empty((segments,), dtype=torch.float64),
        x.new_empty((segments,), dtype=torch.int32),
    )


def clamped_k_offsets(offsets_host: torch.Tensor, k: Union[int, Sequence[int], torch.Tensor, Any]) -> torch.Tensor:
    """CSR offsets of the centroids: per segment ``min(k, rows)`` (0 for empty segments).

    ``offsets_host``: int64 ``[S + 1]`` on the CPU. ``k``: an int or ``S`` per-segment ints.
    Returns int64 ``[S + 1]`` on the CPU. Raises ``ValueError`` for k < 1 or a wrong length.
    """
    sizes = offsets_host[1:] - offsets_host[:-1]
    if isinstance(k, int) and not isinstance(k, bool):
        k_t = torch.full_like(sizes, k)
    else:
        k_t = torch.as_tensor(k) if isinstance(k, (list, tuple)) else as_tensor(k, "k")[0]
        k_t = k_t.detach().cpu()
        if k_t.dtype.is_floating_point or k_t.dtype == torch.bool:
            raise ValueError(f"k must hold integers, got {k_t.dtype}")
        k_t = k_t.to(torch.int64).reshape(-1)
        if k_t.numel() != sizes.numel():
            raise ValueError(f"k must be an int or hold one entry per segment ({sizes.numel()}), got {k_t.numel()}")
    if k_t.numel() and int(k_t.min()) < 1:
        raise ValueError(f"k must be >= 1 for every segment, got {int(k_t.min())}")
    out = torch.zeros(sizes.numel() + 1, dtype=torch.int64)
    torch.cumsum(torch.minimum(k_t, sizes), 0, out=out[1:])
    return out


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
    """k-means on every CSR segment of ``x`` at once.

    Args:
        x: float32 ``[N, d]`` rows (torch, numpy or cupy; CPU or CUDA).
        offsets: int64 ``[S + 1]`` CSR offsets, one segment per client; ``offsets[0] == 0``,
            ``offsets[-1] == N``.
        k: clusters per segment, an int or ``S`` ints (int32 in spirit); each is clamped to
            its segment's row count, so a segment of 0 rows gets 0 centroids.
        iters: at most this many Lloyd iterations per segment.
        tol: also stop once the relative inertia improvement falls to ``tol`` or below
            (0 disables); a segment always stops when no assignment changes.
        seed: non-negative int; the same seed gives the same result on the same device.
        init: ``"kmeans++"`` (D^2 sampling) or ``"random"`` (k distinct rows).
        metric: ``"l2"`` or ``"cosine"`` (spherical k-means on normalised rows; centroids are
            unit vectors).
        segment_ids: optional int64 ``[S]``, the random stream of each segment (default: its
            index). Give segments stable ids (e.g. client ids) and a segment's result no
            longer depends on which batch, or which position, it was computed in.
        validate: check values (finite ``x``, offsets) before running. On CUDA this costs
            one synchronisation; the kernels stay in bounds without it. (The CUDA op
            synchronises anyway: it reads the segment layout on the host to pick each
            segment's launch path, and a large segment's convergence flag every 4
            iterations.)

    Empty clusters keep their previous centroid, so the result never holds a NaN. A
    segment with k equal to its row count gets its rows as centroids (inertia 0 for l2).

    On CPU with ``metric="l2"``, rows whose label provably cannot change skip the
    scoring (Elkan-style bounds), and so do k-means++ distances a new centre provably
    cannot improve. The margins cover float rounding, so the result is bit for bit the
    one scoring every row gives (and the CUDA op's). Environment switches, read on each
    call: ``FEDRAS_KMEANS_PRUNE=0`` (or ``false``/``off``/``no``) turns this off,
    ``FEDRAS_KMEANS_STATS=1`` prints to stderr how many row passes were scored in full.

    Returns:
        :class:`KMeansResult`, in the array type of ``x``.
    """
    xt, kind = as_tensor(x, "x")
    ot, okind = as_tensor(offsets, "offsets")
    require(xt, "x", dtype=torch.float32, ndim=2)
    if xt.shape[1] < 1:
        raise ValueError("x must have at least one column")
    offsets_host = require_offsets(ot, "offsets", xt.shape[0], "x.shape[0]", xt.device)
    if not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an int in [0, 2**63), got {seed!r}")
    if init not in ("kmeans++", "random"):
        raise ValueError(f"init must be 'kmeans++' or 'random', got {init!r}")
    if metric not in ("l2", "cosine"):
        raise ValueError(f"metric must be 'l2' or 'cosine', got {metric!r}")
    if not isinstance(iters, int) or iters < 0:
        raise ValueError(f"iters must be an int >= 0, got {iters!r}")
    k_host = clamped_k_offsets(offsets_host, k)
    k_offsets = k_host.to(xt.device, non_blocking=True)
    ids = None
    if segment_ids is not None:
        ids = require(as_tensor(segment_ids, "segment_ids")[0], "segment_ids", dtype=torch.int64, ndim=1, device=xt.device)
        if ids.numel() != offsets_host.numel() - 1:
            raise ValueError(f"segment_ids must hold one id per segment ({offsets_host.numel() - 1}), got {ids.numel()}")
    centroids, assignment, inertia, n_iter = _segmented_kmeans_op(
        xt, ot, k_offsets, ids, int(k_host[-1]), iters, float(tol), seed, init, metric, validate
    )
    out_kind = result_kind(kind, okind)
    return KMeansResult(*(to_kind(t, out_kind) for t in (centroids, assignment, inertia, n_iter, k_offsets)))

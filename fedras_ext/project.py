"""project_directions: each row's best direction within its segment, and its scale."""
from __future__ import annotations

from typing import Any, Tuple

import torch

from . import _native
from ._checks import require, require_offsets
from ._interop import as_tensor, result_kind, to_kind
from ._native import _C, capsule, stream_of


@_native.custom_op("fedras::project_directions", mutates_args=())
def _project_directions_op(
    x: torch.Tensor, offsets: torch.Tensor, directions: torch.Tensor, dir_offsets: torch.Tensor, validate: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    n, d = x.shape
    index = torch.empty(n, dtype=torch.int32, device=x.device)
    scale = torch.empty(n, dtype=torch.float32, device=x.device)
    ws = _native.workspace(x, _C.project_directions_workspace_bytes, directions.shape[0], d)
    _C.project_directions(
        capsule(x), capsule(offsets), capsule(directions), capsule(dir_offsets), capsule(index), capsule(scale),
        _native.optional_capsule(ws), validate, _native.num_threads(), stream_of(x),
    )
    return index, scale


@_project_directions_op.register_fake
def _(x, offsets, directions, dir_offsets, validate):
    n = x.shape[0]
    return x.new_empty((n,), dtype=torch.int32), x.new_empty((n,), dtype=torch.float32)


def project_directions(x: Any, offsets: Any, directions: Any, dir_offsets: Any, *, validate: bool = True) -> Tuple[Any, Any]:
    """Assign each row to the direction of its segment with the largest cosine.

    Args:
        x: float32 ``[N, d]`` rows.
        offsets: int64 ``[S + 1]`` CSR offsets of ``x``.
        directions: float32 ``[D, d]``; they need not be unit length (zero directions score 0).
        dir_offsets: int64 ``[S + 1]`` CSR offsets of ``directions``; every segment with rows
            needs at least one direction.
        validate: check values (finite inputs, offsets) first; on CUDA this synchronises once.

    Returns:
        ``(index, scale)``: int32 ``[N]`` index of the chosen direction local to the segment
        (ties and zero rows take the lowest index), and float32 ``[N]`` projection scale
        ``x . a_hat`` with ``a_hat`` the unit direction, so ``scale * a_hat`` is the
        projection of the row onto its direction.
    """
    xt, kx = as_tensor(x, "x")
    ot, ko = as_tensor(offsets, "offsets")
    dt, kd = as_tensor(directions, "directions")
    dot, kdo = as_tensor(dir_offsets, "dir_offsets")
    require(xt, "x", dtype=torch.float32, ndim=2)
    if xt.shape[1] < 1:
        raise ValueError("x must have at least one column")
    require(dt, "directions", dtype=torch.float32, ndim=2, device=xt.device)
    if dt.shape[1] != xt.shape[1]:
        raise ValueError(f"directions.shape[1] must equal x.shape[1] ({xt.shape[1]}), got {dt.shape[1]}")
    require_offsets(ot, "offsets", xt.shape[0], "x.shape[0]", xt.device)
    require_offsets(dot, "dir_offsets", dt.shape[0], "directions.shape[0]", xt.device)
    if dot.numel() != ot.numel():
        raise ValueError(f"dir_offsets must have as many entries as offsets ({ot.numel()}), got {dot.numel()}")
    index, scale = _project_directions_op(xt, ot, dt, dot, validate)
    kind = result_kind(kx, ko, kd, kdo)
    return to_kind(index, kind), to_kind(scale, kind)

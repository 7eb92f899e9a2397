"""apply_actions: the server's scatter-based item update from per-client actions."""
from __future__ import annotations

from typing import Any, Optional

import torch

from . import _native
from ._checks import require, require_offsets
from ._interop import as_tensor
from ._native import _C, capsule, stream_of


@_native.custom_op("fedras::apply_actions", mutates_args=("table",))
def _apply_actions_op(
    table: torch.Tensor,
    rows: torch.Tensor,
    action_idx: torch.Tensor,
    actions: torch.Tensor,
    action_offsets: torch.Tensor,
    segment_of_row: torch.Tensor,
    row_scale: Optional[torch.Tensor],
    scale: float,
    reduce: str,
    deterministic: bool,
    validate: bool,
) -> None:
    ws = _native.workspace(table, _C.apply_actions_workspace_bytes, rows.numel(), table.shape[0], deterministic)
    _C.apply_actions(
        capsule(table), capsule(rows), capsule(action_idx), capsule(actions), capsule(action_offsets),
        capsule(segment_of_row), _native.optional_capsule(row_scale), _native.optional_capsule(ws), scale, reduce,
        deterministic, validate, _native.num_threads(), stream_of(table),
    )


@_apply_actions_op.register_fake
def _(table, rows, action_idx, actions, action_offsets, segment_of_row, row_scale, scale, reduce, deterministic, validate):
    return None


def apply_actions(
    table: Any,
    rows: Any,
    action_idx: Any,
    actions: Any,
    action_offsets: Any,
    segment_of_row: Any,
    *,
    scale: float = 1.0,
    reduce: str = "mean",
    deterministic: Optional[bool] = None,
    row_scale: Any = None,
    validate: bool = True,
) -> Any:
    """Add each entry's action to its table row, in place.

    Entry ``e`` names a table row ``rows[e]``, its segment (client) ``segment_of_row[e]`` and
    an action ``action_idx[e]`` local to that segment. For every touched row ``r``::

        table[r] += scale * reduce_{e : rows[e] == r} (row_scale[e] * actions[action_offsets[seg[e]] + action_idx[e]])

    with ``reduce`` the sum, or the mean over the entries that hit the row. Each
    (segment, row) pair should appear once, as in the FedRAS protocol; the mean is then
    over the segments that touched the row. Untouched rows are not written.

    Args:
        table: float32 ``[R, d]``, updated in place (also returned).
        rows: int64 ``[M]`` in ``[0, R)``.
        action_idx: int32 ``[M]``, ``0 <= action_idx[e] < K`` of the entry's segment.
        actions: float32 ``[A, d]``, segment by segment.
        action_offsets: int64 ``[S + 1]`` CSR offsets of ``actions``.
        segment_of_row: int32 ``[M]`` in ``[0, S)``.
        scale: finite float multiplier (e.g. the server learning rate).
        reduce: ``"mean"`` or ``"sum"``.
        deterministic: bit-identical results run to run. ``True`` forces it;
            ``False``/``None`` give it whenever
            ``torch.are_deterministic_algorithms_enabled()`` is on. CPU is always deterministic;
            on CUDA the deterministic path sorts entries by row and reduces each run,
            the other path uses float atomics.
        row_scale: optional float32 ``[M]`` per-entry multiplier (direction projection).
        validate: check values first (indices in range, finite actions); on CUDA this
            synchronises once, and without it out-of-range entries are skipped, never written.
    """
    tt, _ = as_tensor(table, "table")
    rt, _ = as_tensor(rows, "rows")
    it, _ = as_tensor(action_idx, "action_idx")
    at, _ = as_tensor(actions, "actions")
    aot, _ = as_tensor(action_offsets, "action_offsets")
    st, _ = as_tensor(segment_of_row, "segment_of_row")
    dev = tt.device
    require(tt, "table", dtype=torch.float32, ndim=2)
    require(rt, "rows", dtype=torch.int64, ndim=1, device=dev)
    m = rt.numel()
    for t, name, dtype in ((it, "action_idx", torch.int32), (st, "segment_of_row", torch.int32)):
        require(t, name, dtype=dtype, ndim=1, device=dev)
        if t.numel() != m:
            raise ValueError(f"{name} must have one entry per entry of rows ({m}), got {t.numel()}")
    require(at, "actions", dtype=torch.float32, ndim=2, device=dev)
    if at.shape[1] != tt.shape[1]:
        raise ValueError(f"actions.shape[1] must equal table.shape[1] ({tt.shape[1]}), got {at.shape[1]}")
    require_offsets(aot, "action_offsets", at.shape[0], "actions.shape[0]", dev)
    rst = None
    if row_scale is not None:
        rst, _ = as_tensor(row_scale, "row_scale")
        require(rst, "row_scale", dtype=torch.float32, ndim=1, device=dev)
        if rst.numel() != m:
            raise ValueError(f"row_scale must have one entry per entry of rows ({m}), got {rst.numel()}")
    if reduce not in ("mean", "sum"):
        raise ValueError(f"reduce must be 'mean' or 'sum', got {reduce!r}")
    _apply_actions_op(
        tt, rt, it, at, aot, st, rst, float(scale), reduce, _native.deterministic_requested(deterministic), validate
    )
    return table

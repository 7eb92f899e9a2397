"""mf_train: the MF local training of a whole round, fused per client (CPU only)."""
from __future__ import annotations

import math
from typing import Any, Optional

import torch

from . import _native
from ._checks import require, require_offsets
from ._interop import as_tensor, result_kind, to_kind
from ._native import _C, capsule


@_native.custom_op("fedras::mf_train", mutates_args=("w", "u"))
def _mf_train_op(
    w: torch.Tensor,
    u: torch.Tensor,
    row_ptr: torch.Tensor,
    pos_ptr: torch.Tensor,
    pos_row: torch.Tensor,
    neg_row: torch.Tensor,
    table: Optional[torch.Tensor],
    rows: Optional[torch.Tensor],
    lr: float,
    user_lr: float,
    loss: str,
    validate: bool,
) -> torch.Tensor:
    out = torch.empty(u.shape[0], dtype=torch.float32, device=u.device)
    _C.mf_train(
        capsule(w), capsule(u), capsule(row_ptr), capsule(pos_ptr), capsule(pos_row), capsule(neg_row),
        None if table is None else capsule(table), None if rows is None else capsule(rows), capsule(out),
        lr, user_lr, loss, validate, _native.num_threads(),
    )
    return out


@_mf_train_op.register_fake
def _(w, u, row_ptr, pos_ptr, pos_row, neg_row, table, rows, lr, user_lr, loss, validate):
    return u.new_empty((u.shape[0],), dtype=torch.float32)


def check_mf_train_args(w: torch.Tensor, u: torch.Tensor, row_ptr: torch.Tensor, pos_ptr: torch.Tensor,
                        pos_row: torch.Tensor, neg_row: torch.Tensor, lr: float, user_lr: float, loss: str,
                        table: Optional[torch.Tensor] = None, rows: Optional[torch.Tensor] = None) -> None:
    """The metadata checks of :func:`mf_train` (shared with the reference); the values of
    ``rows`` are checked by the op itself (and by the reference)."""
    require(w, "w", dtype=torch.float32, ndim=2)
    if w.shape[1] < 1:
        raise ValueError("w must have at least one column")
    dev = w.device
    require(u, "u", dtype=torch.float32, ndim=2, device=dev)
    if u.shape[1] != w.shape[1]:
        raise ValueError(f"u.shape[1] must equal w.shape[1] ({w.shape[1]}), got {u.shape[1]}")
    require(pos_row, "pos_row", dtype=torch.int64, ndim=1, device=dev)
    require(neg_row, "neg_row", dtype=torch.int64, ndim=3, device=dev)
    if neg_row.shape[1] != pos_row.shape[0]:
        raise ValueError(f"neg_row.shape[1] must equal pos_row.shape[0] ({pos_row.shape[0]}), got {neg_row.shape[1]}")
    for t, name, total, what in ((row_ptr, "row_ptr", w.shape[0], "w.shape[0]"),
                                 (pos_ptr, "pos_ptr", pos_row.shape[0], "pos_row.shape[0]")):
        require_offsets(t, name, total, what, dev)
        if t.numel() != u.shape[0] + 1:
            raise ValueError(f"{name} must hold u.shape[0] + 1 ({u.shape[0] + 1}) entries, got {t.numel()}")
    if loss not in ("bce", "bpr"):
        raise ValueError(f"loss must be 'bce' or 'bpr', got {loss!r}")
    for name, v in (("lr", lr), ("user_lr", user_lr)):
        if not math.isfinite(v):
            raise ValueError(f"{name} must be finite, got {v}")
    if (table is None) != (rows is None):
        raise ValueError("table and rows go together: give both or neither")
    if table is not None:
        require(table, "table", dtype=torch.float32, ndim=2, device=dev)
        if table.shape[1] != w.shape[1]:
            raise ValueError(f"table.shape[1] must equal w.shape[1] ({w.shape[1]}), got {table.shape[1]}")
        require(rows, "rows", dtype=torch.int64, ndim=1, device=dev)
        if rows.shape[0] != w.shape[0]:
            raise ValueError(f"rows must hold w.shape[0] ({w.shape[0]}) entries, got {rows.shape[0]}")


def mf_train(w: Any, u: Any, row_ptr: Any, pos_ptr: Any, pos_row: Any, neg_row: Any, *, lr: float, user_lr: float,
             loss: str = "bce", validate: bool = True, table: Any = None, rows: Any = None) -> Any:
    """MF local training of a round's clients (E full-batch SGD steps each), in place.

    Client ``c`` owns the rows ``row_ptr[c]:row_ptr[c+1]`` of ``w`` and the positives
    ``pos_ptr[c]:pos_ptr[c+1]``. Per epoch ``e``, with ``s[m] = <u[c], w[m]>`` for its rows:

    - BCE: every positive (label 1) and every negative of ``neg_row[e]`` (label 0) is a
      sample with gradient ``sigmoid(s) - y``; BPR (``n_neg > 0``): every (positive,
      negative) pair is a term ``softplus(s_neg - s_pos)``. BPR without negatives is BCE.
    - ``g[m]`` = the summed gradient of the samples on row ``m``; then, with ``u`` before
      its step, ``w[m] -= lr * g[m] * u[c]`` and
      ``u[c] -= user_lr / terms[c] * sum_m g[m] * w_old[m]`` (``terms[c]`` = the client's
      samples or pairs per epoch, at least 1).

    This is :func:`fedras.training.train_mf_flat`'s step rule; each client runs on one
    thread in a fixed order, so results do not depend on the thread count.

    Args:
        w: float32 ``[M, d]`` every client's copy of its touched rows, updated in place.
        u: float32 ``[C, d]`` the clients' user embeddings, updated in place.
        row_ptr: int64 ``[C + 1]`` CSR offsets of ``w`` over the clients.
        pos_ptr: int64 ``[C + 1]`` CSR offsets of ``pos_row`` over the clients.
        pos_row: int64 ``[P]`` the row of ``w`` of each positive.
        neg_row: int64 ``[E, P, n_neg]`` the rows of each epoch's negatives, per positive.
        lr, user_lr: finite step sizes of the item rows and the user embeddings.
        loss: ``"bce"`` or ``"bpr"``.
        validate: raise ``IndexError`` for a row index outside its client's rows; without
            it such samples are skipped (never read or written). NaN/Inf in ``w``/``u``
            are not checked: they propagate as in the torch version.
        table, rows: optional, together: float32 ``[N, d]`` and int64 ``[M]`` in ``[0, N)``
            (always checked: ``IndexError``). Each client then starts from ``table[rows]``
            (``w``'s input is ignored) and ``w`` returns the change, trained minus start,
            as ``torch.sub`` gives it: the round's update without gathering the rows
            twice. ``table``, ``w`` and ``u`` must be separate memory (ValueError otherwise).

    Returns:
        float32 ``[C]``: each client's mean loss of the last epoch, before its step
        (0 for E = 0).
    """
    wt, kw = as_tensor(w, "w")
    ut, _ = as_tensor(u, "u")
    rp, _ = as_tensor(row_ptr, "row_ptr")
    pp, _ = as_tensor(pos_ptr, "pos_ptr")
    pr, _ = as_tensor(pos_row, "pos_row")
    nr, _ = as_tensor(neg_row, "neg_row")
    tt = as_tensor(table, "table")[0] if table is not None else None
    rt = as_tensor(rows, "rows")[0] if rows is not None else None
    check_mf_train_args(wt, ut, rp, pp, pr, nr, lr, user_lr, loss, tt, rt)
    if wt.device.type != "cpu":
        raise ValueError(f"w is on {wt.device}, but mf_train has only a CPU kernel "
                         "(fedras.training.train_mf_flat uses its torch path on other devices)")
    out = _mf_train_op(wt, ut, rp, pp, pr, nr, tt, rt, float(lr), float(user_lr), loss, validate)
    return to_kind(out, result_kind(kw))

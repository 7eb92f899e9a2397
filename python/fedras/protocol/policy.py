"""What the server does with payloads it cannot trust (after the codec has checked
their structure).

- ``max_rows``: a payload that touches more rows than this is rejected.
- ``nonfinite``: a payload holding NaN or Inf is rejected (``"reject"``), or those values
  are replaced by zero (``"zero"``).
- ``clip_norm``: each entry's update (an action times its scale) whose norm exceeds
  ``clip_norm`` times the round's median entry norm is scaled down to it, and so is a
  client's shared-weight delta and its claimed sample count. 0 turns clipping off.
- Whatever was accepted, rows of the aggregated update that are not finite (a sum that
  overflowed) are zeroed, so the global table stays finite.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch

from ..codec import Column
from ..codec.batch_decode import float_columns
from ..compression import Actions
from ..compression.base import Verdicts


@dataclass(frozen=True)
class Policy:
    clip_norm: float = 0.0
    nonfinite: str = "reject"
    max_rows: int = 0

    def __post_init__(self) -> None:
        if self.nonfinite not in ("reject", "zero"):
            raise ValueError(f"nonfinite must be 'reject' or 'zero', got {self.nonfinite!r}")
        if self.clip_norm < 0 or self.max_rows < 0:
            raise ValueError("clip_norm and max_rows must be >= 0")


def screen(columns: Mapping[str, Column], n_rows: np.ndarray, policy: Policy, verdicts: Verdicts) -> None:
    """Reject, through ``verdicts``, the payloads (columns over S of them) that touch
    more than ``max_rows`` rows (``n_rows`` int64 ``[S]``) or hold NaN/Inf; in
    ``nonfinite="zero"`` mode those values are zeroed in place instead."""
    if policy.max_rows:
        verdicts.reject(n_rows > policy.max_rows, lambda j: f"touches {n_rows[j]} rows, the cap is {policy.max_rows}")
    for name, col in float_columns(columns):
        bad = ~np.isfinite(col.data)
        if not bad.any():
            continue
        if policy.nonfinite == "zero":
            col.data[bad] = 0.0
            continue
        per_item = bad.reshape(bad.shape[0], -1).sum(1)
        if col.ptr is not None:  # ragged: sum each payload's items
            cum = np.concatenate([[0], np.cumsum(per_item)])
            per_item = cum[col.ptr[1:]] - cum[col.ptr[:-1]]
        verdicts.reject(per_item > 0, lambda j: f"field {name!r} holds {per_item[j]} non-finite values")


def clip(acts: Actions, seg: torch.Tensor, clip_norm: float) -> Actions:
    """``acts`` with entry norms above ``clip_norm`` x the median entry norm scaled down
    (through ``row_scale``, so the scatter applies it for free). ``seg``: int ``[M]``, the
    client of each entry."""
    if clip_norm <= 0 or acts.action_idx.numel() == 0:
        return acts
    entry = acts.actions.norm(dim=1)[acts.entry_action(seg)]
    scale = acts.row_scale if acts.row_scale is not None else torch.ones_like(entry)
    return Actions(acts.actions, acts.action_offsets, acts.action_idx, scale * clip_vectors(entry * scale.abs(), clip_norm))


def clip_vectors(norms: torch.Tensor, clip_norm: float) -> torch.Tensor:
    """Per-item factors that bring ``norms`` down to ``clip_norm`` x their median."""
    if clip_norm <= 0 or norms.numel() == 0:
        return torch.ones_like(norms)
    limit = clip_norm * float(norms.median())
    return torch.where(norms > limit, limit / norms.clamp(min=1e-30), torch.ones_like(norms))


def zero_nonfinite_rows(update: torch.Tensor, rows: torch.Tensor) -> int:
    """Zero the touched rows of ``update`` that are not finite; returns how many."""
    bad = rows[~torch.isfinite(update[rows]).all(1)]
    update[bad] = 0.0
    return int(bad.numel())

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
from typing import Dict, Optional

import numpy as np
import torch

from ..codec import F16, F32, Field
from ..compression import Actions


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


def _float_fields(fields: Dict[str, Field]):
    return [(k, f) for k, f in fields.items() if isinstance(f, (F32, F16))]


def screen(rows: torch.Tensor, fields: Dict[str, Field], shared: Dict[str, np.ndarray], policy: Policy) -> Optional[str]:
    """The reason to reject one decoded uplink, or None. In ``nonfinite="zero"`` mode it
    zeroes non-finite values in place instead."""
    if policy.max_rows and rows.numel() > policy.max_rows:
        return f"touches {rows.numel()} rows, the cap is {policy.max_rows}"
    arrays = [(k, f.array) for k, f in _float_fields(fields)] + list(shared.items())
    for name, arr in arrays:
        bad = ~np.isfinite(arr)
        if bad.any():
            if policy.nonfinite == "reject":
                return f"field {name!r} holds {int(bad.sum())} non-finite values"
            arr[bad] = 0.0
    return None


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

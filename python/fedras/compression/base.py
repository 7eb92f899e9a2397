"""What every compressor shares: the batch it compresses, the context it may use, and
the one form every compressed batch can be read back in (actions).

Compressors work on a CSR batch of clients (``S`` segments): the batched engine passes
a whole round, the loop engine one client, the server its aggregated update as one
segment. So the math of each method exists once.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch

from .. import csr
from ..codec import Column, Field, RowSetColumn
from ..codec.batch_decode import Expect


class InvalidPayload(ValueError):
    """A decoded payload whose fields are inconsistent (shapes, index ranges)."""


@dataclass
class Updates:
    """Item-row updates of S segments (clients), CSR.

    - ``ids``: int64 ``[S]`` stable ids of the segments (client ids); they key the
      random streams, so results do not depend on batch order.
    - ``ptr``: int64 ``[S + 1]``; ``rows``: int64 ``[M]`` sorted item ids per segment.
    - ``values``: float32 ``[M, d]`` the updates of those rows.
    """

    ids: torch.Tensor
    ptr: torch.Tensor
    rows: torch.Tensor
    values: torch.Tensor

    @property
    def n_segments(self) -> int:
        return int(self.ids.numel())

    def segment_of_row(self) -> torch.Tensor:
        """int64 ``[M]``: segment index of every row."""
        return csr.segment_of(self.ptr)


@dataclass
class Actions:
    """Any compressed batch, read as actions: row ``e`` of segment ``s`` is
    ``row_scale[e] * actions[action_offsets[s] + action_idx[e]]``.

    Dense updates are the special case of one action per row (``action_idx`` counting
    0, 1, 2, ... within each segment), so one scatter serves every method.
    """

    actions: torch.Tensor          # float32 [A, d]
    action_offsets: torch.Tensor   # int64 [S + 1]
    action_idx: torch.Tensor       # int32 [M]
    row_scale: Optional[torch.Tensor] = None  # float32 [M]

    @staticmethod
    def dense(values: torch.Tensor, ptr: torch.Tensor) -> "Actions":
        """Every row its own action."""
        return Actions(values, ptr, csr.local_index(ptr).to(torch.int32))

    def entry_action(self, seg: torch.Tensor) -> torch.Tensor:
        """int64 ``[M]``: each entry's row in ``actions``; ``seg`` int ``[M]`` is the
        segment (client) of each entry."""
        return self.action_offsets[seg] + self.action_idx.long()

    def reconstruct(self, ptr: torch.Tensor) -> torch.Tensor:
        """float32 ``[M, d]``: the update each row receives."""
        out = self.actions[self.entry_action(csr.segment_of(ptr))]
        return out * self.row_scale[:, None] if self.row_scale is not None else out


@dataclass
class Context:
    """What a compressor may use besides the updates.

    - ``seed``: 63-bit seed of this compression (k-means draws).
    - ``k``: int64 ``[S]`` actions per segment (fedras; adaptive or fixed).
    - ``ops``: ``fedras_ext`` or ``fedras_ext.reference`` (same signatures).
    - ``basis``: float32 ``[r, d]`` the round's CoLR basis (lowrank).
    """

    seed: int
    ops: Any
    k: Optional[torch.Tensor] = None
    basis: Optional[torch.Tensor] = None


class Compressor:
    """Interface of a compression method (see the modules of this package)."""

    name = "base"

    def compress(self, upd: Updates, ctx: Context) -> Any:
        """Compress every segment; returns the method's batch object."""
        raise NotImplementedError

    def actions(self, batch: Any) -> Actions:
        """The batch as actions (what the receiver applies)."""
        raise NotImplementedError

    def columns(self, batch: Any) -> Dict[str, Column]:
        """The codec fields of every segment's payload (the touched rows excluded), one
        column per field over the segments: what ``encode_batch`` writes."""
        raise NotImplementedError

    def fields(self, batch: Any) -> List[Dict[str, Field]]:
        """Per segment, the codec fields of its payload (the touched rows excluded)."""
        columns = self.columns(batch)
        n = next(iter(columns.values())).n
        return [{name: col.field(s) for name, col in columns.items()} for s in range(n)]

    def template(self, dim: int) -> Dict[str, Expect]:
        """The method's fields in a payload (type and fixed dims), in wire order."""
        raise NotImplementedError

    def check(self, columns: Dict[str, Column], n_rows: np.ndarray, dim: int, verdicts: "Verdicts") -> None:
        """Reject, through ``verdicts``, every payload whose fields (already of the
        template's types and dims) disagree with its ``n_rows`` (int64 ``[S]``) touched
        rows or with each other, e.g. an index past the end."""
        raise NotImplementedError

    def assemble(self, rows: RowSetColumn, columns: Dict[str, Column], dim: int, ctx: Context) -> Any:
        """The method's batch of checked payloads (CPU tensors)."""
        raise NotImplementedError


class Verdicts:
    """Why each of S payloads is rejected: the first reason found, or None."""

    def __init__(self, n: int) -> None:
        self.reasons: List[Optional[str]] = [None] * n

    def reject(self, bad: np.ndarray, why: Callable[[int], str]) -> None:
        """Reject the payloads where ``bad`` (bool ``[S]``) holds; ``why(j)`` words it."""
        for j in np.flatnonzero(bad).tolist():
            if self.reasons[j] is None:
                self.reasons[j] = why(j)

    @property
    def accepted(self) -> np.ndarray:
        """bool ``[S]``."""
        return np.array([r is None for r in self.reasons], dtype=bool)


def one_per_row(verdicts: Verdicts, columns: Dict[str, Column], n_rows: np.ndarray, *names: str) -> None:
    """Reject the payloads whose fields ``names`` do not hold one entry (leading item)
    per touched row (``n_rows`` int64 ``[S]``)."""
    for name in names:
        got = columns[name].counts
        verdicts.reject(got != n_rows,
                        lambda j: f"field {name!r} must hold one entry per touched row ({n_rows[j]}), got {got[j]}")


def segment_max(values: np.ndarray, ptr: np.ndarray) -> np.ndarray:
    """int64 ``[S]``: the largest value of each CSR segment, -1 for an empty one."""
    counts = np.diff(ptr)
    out = np.full(counts.size, -1, dtype=np.int64)
    nonempty = counts > 0
    if values.size:
        out[nonempty] = np.maximum.reduceat(values, ptr[:-1][nonempty])
    return out


def tensor(a: np.ndarray, dtype=None) -> torch.Tensor:
    """A CPU tensor of a decoded array (``dtype``: a numpy dtype to convert to first)."""
    return torch.from_numpy(np.ascontiguousarray(a if dtype is None else a.astype(dtype, copy=False)))


def batch_to(batch: Any, device) -> Any:
    """A copy of a method's batch (a dataclass of tensors) with every tensor on ``device``."""
    moved = {f.name: getattr(batch, f.name).to(device) for f in dataclasses.fields(batch)
             if isinstance(getattr(batch, f.name), torch.Tensor)}
    return dataclasses.replace(batch, **moved)

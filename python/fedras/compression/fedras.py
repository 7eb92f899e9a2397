"""FedRAS: each segment's update rows clustered into K actions plus one index per row.

``assign="l2"``: k-means on the rows; a row is replaced by its centroid.
``assign="cosine"`` (direction projection): spherical k-means gives unit directions,
and each row is replaced by its projection ``(d . a) a`` onto its direction, which costs
one float16 scale per row on top of the index.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np
import torch

from fedras_ext import bits_for

from ..codec import F16, F32, ArrayColumn, Column, Packed, PackedColumn, RowSetColumn
from ..codec.batch_decode import Expect
from .base import Actions, Compressor, Context, Updates, Verdicts, one_per_row, segment_max, tensor


@dataclass
class FedRASBatch:
    ptr: torch.Tensor                 # int64 [S + 1] over rows
    rows: torch.Tensor                # int64 [M]
    actions: torch.Tensor             # float32 [A, d]
    action_offsets: torch.Tensor      # int64 [S + 1]
    assignment: torch.Tensor          # int32 [M]
    scale: Optional[torch.Tensor]     # float32 [M] (cosine) or None


class FedRAS(Compressor):
    name = "fedras"

    def __init__(self, *, assign: str = "l2", half: bool = False, iters: int = 25, tol: float = 1e-4) -> None:
        self.cosine = assign == "cosine"
        self.half = half
        self.iters = iters
        self.tol = tol

    def compress(self, upd: Updates, ctx: Context) -> FedRASBatch:
        if ctx.k is None:
            raise ValueError("fedras needs the number of actions per segment (Context.k)")
        res = ctx.ops.segmented_kmeans(
            upd.values, upd.ptr, ctx.k, iters=self.iters, tol=self.tol, seed=ctx.seed,
            metric="cosine" if self.cosine else "l2", segment_ids=upd.ids, validate=False,
        )
        actions = res.centroids
        if self.half:
            actions = actions.half().float()
        scale = None
        if self.cosine:
            assignment, scale = ctx.ops.project_directions(upd.values, upd.ptr, actions, res.centroid_offsets, validate=False)
            scale = scale.half().float()  # what the wire carries
        else:
            assignment = res.assignment
        return FedRASBatch(upd.ptr, upd.rows, actions, res.centroid_offsets, assignment, scale)

    def actions(self, batch: FedRASBatch) -> Actions:
        return Actions(batch.actions, batch.action_offsets, batch.assignment, batch.scale)

    def columns(self, batch: FedRASBatch) -> Dict[str, Column]:
        ptr, aoff = batch.ptr.cpu().numpy(), batch.action_offsets.cpu().numpy()
        actions = batch.actions.cpu().numpy()
        out: Dict[str, Column] = {
            "actions": ArrayColumn(F16, actions.astype(np.float16), aoff) if self.half else ArrayColumn(F32, actions, aoff),
            "assign": PackedColumn(batch.assignment.cpu().numpy(), ptr, bits_for(np.maximum(np.diff(aoff), 1))),
        }
        if batch.scale is not None:
            out["scale"] = ArrayColumn(F16, batch.scale.cpu().numpy().astype(np.float16), ptr)
        return out

    def template(self, dim: int) -> Dict[str, Expect]:
        out = {"actions": Expect(F16 if self.half else F32, (None, dim)), "assign": Expect(Packed)}
        if self.cosine:
            out["scale"] = Expect(F16, (None,))
        return out

    def check(self, columns: Dict[str, Column], n_rows: np.ndarray, dim: int, verdicts: Verdicts) -> None:
        k, assign = columns["actions"].counts, columns["assign"]
        verdicts.reject(np.where(n_rows > 0, (k < 1) | (k > n_rows), k != 0),
                        lambda j: f"actions must be [K, {dim}] with 1 <= K <= {n_rows[j]} rows, got ({k[j]}, {dim})")
        one_per_row(verdicts, columns, n_rows, "assign", *(("scale",) if self.cosine else ()))
        top = segment_max(assign.idx, assign.ptr)
        verdicts.reject(top >= k, lambda j: f"assign holds index {top[j]} but there are {k[j]} actions")

    def assemble(self, rows: RowSetColumn, columns: Dict[str, Column], dim: int, ctx: Context) -> FedRASBatch:
        actions = columns["actions"]
        return FedRASBatch(
            ptr=tensor(rows.ptr),
            rows=tensor(rows.ids),
            actions=tensor(actions.data, np.float32),
            action_offsets=tensor(actions.ptr),
            assignment=tensor(columns["assign"].idx),
            scale=tensor(columns["scale"].data, np.float32) if self.cosine else None,
        )

"""FedRAS: each segment's update rows clustered into K actions plus one index per row.

``assign="l2"``: k-means on the rows; a row is replaced by its centroid.
``assign="cosine"`` (direction projection): spherical k-means gives unit directions,
and each row is replaced by its projection ``(d . a) a`` onto its direction, which costs
one float16 scale per row on top of the index.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np
import torch

from fedras_ext import bits_for

from ..codec import F16, F32, ArrayColumn, Column, Field, Packed, PackedColumn
from .. import csr
from .base import Actions, Compressor, Context, InvalidPayload, Updates, cat_arrays, join_rows, require_field


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
            "assign": PackedColumn(batch.assignment.cpu().numpy(), ptr, np.array([bits_for(max(k, 1)) for k in np.diff(aoff).tolist()])),
        }
        if batch.scale is not None:
            out["scale"] = ArrayColumn(F16, batch.scale.cpu().numpy().astype(np.float16), ptr)
        return out

    def parse(self, rows: torch.Tensor, fields: Dict[str, Field], dim: int) -> Tuple[np.ndarray, ...]:
        wire = F16 if self.half else F32
        n = rows.numel()
        actions = require_field(fields, "actions", wire).array.astype(np.float32)
        if actions.ndim != 2 or actions.shape[1] != dim or not (1 <= actions.shape[0] <= n if n else actions.shape[0] == 0):
            raise InvalidPayload(f"actions must be [K, {dim}] with 1 <= K <= {n} rows, got {actions.shape}")
        assign = require_field(fields, "assign", Packed).idx
        if assign.shape != (n,):
            raise InvalidPayload(f"assign must hold one index per row ({n}), got {assign.shape[0]}")
        if n and int(assign.max()) >= actions.shape[0]:
            raise InvalidPayload(f"assign holds index {int(assign.max())} but there are {actions.shape[0]} actions")
        if not self.cosine:
            return actions, assign
        scale = require_field(fields, "scale", F16).array
        if scale.shape != (n,):
            raise InvalidPayload(f"scale must be [{n}], got {scale.shape}")
        return actions, assign, scale.astype(np.float32)

    def assemble(self, rows, parsed, dim: int, ctx: Context) -> FedRASBatch:
        ptr, flat_rows = join_rows(rows)
        return FedRASBatch(
            ptr=ptr,
            rows=flat_rows,
            actions=cat_arrays([p[0] for p in parsed], (dim,), np.float32),
            action_offsets=csr.from_lengths(torch.tensor([p[0].shape[0] for p in parsed], dtype=torch.int64)),
            assignment=cat_arrays([p[1] for p in parsed], (), np.int32),
            scale=cat_arrays([p[2] for p in parsed], (), np.float32) if self.cosine else None,
        )

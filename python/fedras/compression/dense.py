"""fedavg's uplink: the touched rows' updates in float32, uncompressed."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np
import torch

from ..codec import F32, ArrayColumn, Column, Field
from .base import Actions, Compressor, Context, InvalidPayload, Updates, cat_arrays, join_rows, require_field


@dataclass
class DenseBatch:
    ptr: torch.Tensor     # int64 [S + 1]
    rows: torch.Tensor    # int64 [M]
    values: torch.Tensor  # float32 [M, d]


class Dense(Compressor):
    name = "fedavg"

    def compress(self, upd: Updates, ctx: Context) -> DenseBatch:
        return DenseBatch(upd.ptr, upd.rows, upd.values)

    def actions(self, batch: DenseBatch) -> Actions:
        return Actions.dense(batch.values, batch.ptr)

    def columns(self, batch: DenseBatch) -> Dict[str, Column]:
        return {"delta": ArrayColumn(F32, batch.values.cpu().numpy(), batch.ptr.cpu().numpy())}

    def parse(self, rows: torch.Tensor, fields: Dict[str, Field], dim: int) -> Tuple[np.ndarray, ...]:
        arr = require_field(fields, "delta", F32).array
        if arr.shape != (rows.numel(), dim):
            raise InvalidPayload(f"delta must be [{rows.numel()}, {dim}], got {arr.shape}")
        return (arr,)

    def assemble(self, rows, parsed, dim: int, ctx: Context) -> DenseBatch:
        ptr, flat_rows = join_rows(rows)
        return DenseBatch(ptr, flat_rows, cat_arrays([p[0] for p in parsed], (dim,), np.float32))

"""fedavg's uplink: the touched rows' updates in float32, uncompressed."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import numpy as np
import torch

from ..codec import F32, ArrayColumn, Column, RowSetColumn
from ..codec.batch_decode import Expect
from .base import Actions, Compressor, Context, Updates, Verdicts, one_per_row, tensor


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

    def template(self, dim: int) -> Dict[str, Expect]:
        return {"delta": Expect(F32, (None, dim))}

    def check(self, columns: Dict[str, Column], n_rows: np.ndarray, dim: int, verdicts: Verdicts) -> None:
        one_per_row(verdicts, columns, n_rows, "delta")

    def assemble(self, rows: RowSetColumn, columns: Dict[str, Column], dim: int, ctx: Context) -> DenseBatch:
        return DenseBatch(tensor(rows.ptr), tensor(rows.ids), tensor(columns["delta"].data))

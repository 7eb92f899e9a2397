"""Per-row quantisation of ``D_c``: int8 with a float32 scale per row, or 1-bit signs
with the row's mean magnitude as scale (scaled sign)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import numpy as np
import torch

from ..codec import F32, I8, ArrayColumn, Column, Packed, PackedColumn, RowSetColumn
from ..codec.batch_decode import Expect
from .base import Actions, Compressor, Context, Updates, Verdicts, one_per_row, tensor


@dataclass
class QuantBatch:
    ptr: torch.Tensor    # int64 [S + 1]
    rows: torch.Tensor   # int64 [M]
    scale: torch.Tensor  # float32 [M]
    codes: torch.Tensor  # int8 [M, d] (8 bits) or int32 [M, d] signs in {0, 1} (1 bit)


class Quant(Compressor):
    name = "quant"

    def __init__(self, bits: int) -> None:
        if bits not in (1, 8):
            raise ValueError(f"quant bits must be 1 or 8, got {bits}")
        self.bits = bits

    def compress(self, upd: Updates, ctx: Context) -> QuantBatch:
        x = upd.values
        if self.bits == 8:
            scale = x.abs().amax(1) / 127.0 if x.numel() else x.new_zeros(x.shape[0])
            codes = torch.round(x / torch.where(scale > 0, scale, 1.0)[:, None]).clamp(-127, 127).to(torch.int8)
        else:
            scale = x.abs().mean(1) if x.shape[1] else x.new_zeros(x.shape[0])
            codes = (x >= 0).to(torch.int32)
        return QuantBatch(upd.ptr, upd.rows, scale, codes)

    def _dense(self, batch: QuantBatch) -> torch.Tensor:
        levels = batch.codes.float() if self.bits == 8 else batch.codes.float() * 2 - 1
        return levels * batch.scale[:, None]

    def actions(self, batch: QuantBatch) -> Actions:
        return Actions.dense(self._dense(batch), batch.ptr)

    def columns(self, batch: QuantBatch) -> Dict[str, Column]:
        ptr, codes = batch.ptr.cpu().numpy(), batch.codes.cpu().numpy()
        d = codes.shape[1]
        return {"scale": ArrayColumn(F32, batch.scale.cpu().numpy(), ptr),
                "codes": ArrayColumn(I8, codes, ptr) if self.bits == 8 else PackedColumn(codes.reshape(-1), ptr * d, 1)}

    def template(self, dim: int) -> Dict[str, Expect]:
        return {"scale": Expect(F32, (None,)), "codes": Expect(I8, (None, dim)) if self.bits == 8 else Expect(Packed)}

    def check(self, columns: Dict[str, Column], n_rows: np.ndarray, dim: int, verdicts: Verdicts) -> None:
        one_per_row(verdicts, columns, n_rows, "scale", *(("codes",) if self.bits == 8 else ()))
        if self.bits == 1:
            codes = columns["codes"]
            verdicts.reject((codes.bits != 1) | (codes.counts != n_rows * dim), lambda j: f"codes must be {n_rows[j] * dim} packed sign bits")

    def assemble(self, rows: RowSetColumn, columns: Dict[str, Column], dim: int, ctx: Context) -> QuantBatch:
        codes = columns["codes"]
        codes = tensor(codes.data) if self.bits == 8 else tensor(codes.idx).reshape(-1, dim)
        return QuantBatch(tensor(rows.ptr), tensor(rows.ids), tensor(columns["scale"].data), codes)

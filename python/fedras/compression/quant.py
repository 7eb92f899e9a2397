"""Per-row quantisation of ``D_c``: int8 with a float32 scale per row, or 1-bit signs
with the row's mean magnitude as scale (scaled sign)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np
import torch

from ..codec import F32, I8, ArrayColumn, Column, Field, Packed, PackedColumn
from .base import Actions, Compressor, Context, InvalidPayload, Updates, cat_arrays, join_rows, require_field


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

    def parse(self, rows: torch.Tensor, fields: Dict[str, Field], dim: int) -> Tuple[np.ndarray, ...]:
        n = rows.numel()
        scale = require_field(fields, "scale", F32).array
        if scale.shape != (n,):
            raise InvalidPayload(f"scale must be [{n}], got {scale.shape}")
        if self.bits == 8:
            codes = require_field(fields, "codes", I8).array
            if codes.shape != (n, dim):
                raise InvalidPayload(f"codes must be int8 [{n}, {dim}], got {codes.shape}")
            return scale, codes
        packed = require_field(fields, "codes", Packed)
        if packed.bits != 1 or packed.idx.shape != (n * dim,):
            raise InvalidPayload(f"codes must be {n * dim} packed sign bits")
        return scale, packed.idx.reshape(n, dim)

    def assemble(self, rows, parsed, dim: int, ctx: Context) -> QuantBatch:
        ptr, flat_rows = join_rows(rows)
        return QuantBatch(ptr, flat_rows, cat_arrays([p[0] for p in parsed], (), np.float32),
                          cat_arrays([p[1] for p in parsed], (dim,), np.int8 if self.bits == 8 else np.int32))

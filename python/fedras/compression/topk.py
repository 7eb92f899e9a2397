"""Top-k sparsification: each client sends its largest-magnitude entries of ``D_c``.

A client with ``|S_c|`` rows sends ``ceil(fraction * |S_c| * d)`` entries as float32
values plus, bit-packed, each entry's row (within ``S_c``) and column.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import numpy as np
import torch

from fedras_ext import bits_for

from .. import csr
from ..codec import F32, ArrayColumn, Column, Packed, PackedColumn, RowSetColumn
from ..codec.batch_decode import Expect
from .base import Actions, Compressor, Context, Updates, Verdicts, segment_max, tensor


@dataclass
class TopKBatch:
    ptr: torch.Tensor        # int64 [S + 1] over rows
    rows: torch.Tensor       # int64 [M]
    entry_ptr: torch.Tensor  # int64 [S + 1] over entries
    values: torch.Tensor     # float32 [T]
    row: torch.Tensor        # int64 [T] row within the segment
    col: torch.Tensor        # int64 [T]
    dim: int


class TopK(Compressor):
    name = "topk"

    def __init__(self, fraction: float) -> None:
        self.fraction = fraction

    def compress(self, upd: Updates, ctx: Context) -> TopKBatch:
        d = upd.values.shape[1]
        sizes = upd.ptr.diff() * d
        keep = torch.where(sizes > 0, torch.ceil(sizes.double() * self.fraction).long().clamp(min=1), 0)
        segs = torch.arange(upd.n_segments, device=upd.ptr.device)
        flat, mask = csr.padded(upd.ptr * d, upd.values.reshape(-1), segs)
        width = int(keep.max()) if keep.numel() else 0
        top = torch.topk(flat.abs().masked_fill(~mask, -1.0), width, dim=1).indices
        take = torch.arange(width, device=top.device)[None, :] < keep[:, None]
        # Sorted by position within the client (a deterministic order): the kept entries
        # then fill each row's first keep[s] slots, which is exactly the `take` prefix.
        pos = torch.sort(top.masked_fill(~take, torch.iinfo(torch.int64).max), dim=1).values[take]
        seg = csr.repeat(segs, keep)
        values = upd.values.reshape(-1)[upd.ptr[seg] * d + pos]
        return TopKBatch(upd.ptr, upd.rows, csr.from_lengths(keep), values, pos // d, pos % d, d)

    def _dense(self, batch: TopKBatch) -> torch.Tensor:
        out = torch.zeros(int(batch.ptr[-1]), batch.dim, device=batch.values.device)
        seg = csr.segment_of(batch.entry_ptr)
        out.index_put_((batch.ptr[seg] + batch.row, batch.col), batch.values, accumulate=True)
        return out

    def actions(self, batch: TopKBatch) -> Actions:
        return Actions.dense(self._dense(batch), batch.ptr)

    def columns(self, batch: TopKBatch) -> Dict[str, Column]:
        eptr = batch.entry_ptr.cpu().numpy()
        n_rows = batch.ptr.diff().clamp(min=1).cpu().numpy()
        return {
            "values": ArrayColumn(F32, batch.values.cpu().numpy(), eptr),
            "row": PackedColumn(batch.row.to(torch.int32).cpu().numpy(), eptr, bits_for(n_rows)),
            "col": PackedColumn(batch.col.to(torch.int32).cpu().numpy(), eptr, bits_for(batch.dim)),
        }

    def template(self, dim: int) -> Dict[str, Expect]:
        return {"values": Expect(F32, (None,)), "row": Expect(Packed), "col": Expect(Packed)}

    def check(self, columns: Dict[str, Column], n_rows: np.ndarray, dim: int, verdicts: Verdicts) -> None:
        values, row, col = columns["values"], columns["row"], columns["col"]
        verdicts.reject((values.counts != row.counts) | (values.counts != col.counts),
                        lambda j: "values, row and col must have one entry each")
        outside = (segment_max(row.idx, row.ptr) >= n_rows) | (segment_max(col.idx, col.ptr) >= dim)
        verdicts.reject(outside, lambda j: f"an entry points outside the [{n_rows[j]}, {dim}] update")

    def assemble(self, rows: RowSetColumn, columns: Dict[str, Column], dim: int, ctx: Context) -> TopKBatch:
        values = columns["values"]
        return TopKBatch(tensor(rows.ptr), tensor(rows.ids), tensor(values.ptr), tensor(values.data),
                         tensor(columns["row"].idx, np.int64), tensor(columns["col"].idx, np.int64), dim)

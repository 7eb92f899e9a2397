"""CoLR (Nguyen et al., WWW 2024): updates restricted to a random rank-r subspace.

Each round the server and clients draw the same basis ``B`` (``r x d``, orthonormal rows
scaled by ``sqrt(d / r)``, so ``B B^T = (d / r) I``) from the run seed; it is never
sent. Clients train the coefficients ``A`` of ``W + A B`` (see ``training.py``) and send
the rows of ``A``; the server merges ``W += mean(A) B``. Compressing any update ``D`` to
this form is the projection ``A = (r / d) D B^T``, exact for updates trained in the
subspace.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import numpy as np
import torch

from ..codec import F32, ArrayColumn, Column, RowSetColumn
from ..codec.batch_decode import Expect
from .base import Actions, Compressor, Context, Updates, Verdicts, one_per_row, tensor


def random_basis(rank: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    """float32 ``[rank, dim]`` with orthonormal rows scaled by ``sqrt(dim / rank)``."""
    q, _ = torch.linalg.qr(torch.randn(dim, rank, generator=generator, dtype=torch.float64))
    return (q.T * (dim / rank) ** 0.5).float().contiguous()


@dataclass
class LowRankBatch:
    ptr: torch.Tensor    # int64 [S + 1]
    rows: torch.Tensor   # int64 [M]
    coef: torch.Tensor   # float32 [M, r]
    basis: torch.Tensor  # float32 [r, d]


class LowRank(Compressor):
    name = "lowrank"

    def __init__(self, rank: int) -> None:
        self.rank = rank

    def compress(self, upd: Updates, ctx: Context) -> LowRankBatch:
        basis = self._basis(ctx)
        coef = (upd.values @ basis.T) * (basis.shape[0] / basis.shape[1])
        return LowRankBatch(upd.ptr, upd.rows, coef, basis)

    def actions(self, batch: LowRankBatch) -> Actions:
        return Actions.dense(batch.coef @ batch.basis, batch.ptr)

    def columns(self, batch: LowRankBatch) -> Dict[str, Column]:
        return {"coef": ArrayColumn(F32, batch.coef.cpu().numpy(), batch.ptr.cpu().numpy())}

    def template(self, dim: int) -> Dict[str, Expect]:
        return {"coef": Expect(F32, (None, self.rank))}

    def check(self, columns: Dict[str, Column], n_rows: np.ndarray, dim: int, verdicts: Verdicts) -> None:
        one_per_row(verdicts, columns, n_rows, "coef")

    def assemble(self, rows: RowSetColumn, columns: Dict[str, Column], dim: int, ctx: Context) -> LowRankBatch:
        return LowRankBatch(tensor(rows.ptr), tensor(rows.ids), tensor(columns["coef"].data), self._basis(ctx))

    @staticmethod
    def _basis(ctx: Context) -> torch.Tensor:
        if ctx.basis is None:
            raise ValueError("lowrank needs the round's basis (Context.basis)")
        return ctx.basis

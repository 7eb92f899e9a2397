"""Client-side error feedback: the part of each update that compression lost.

A client keeps ``e_c = D_c - decompress(compress(D_c))`` over the rows it touched and
adds it back the next time it touches those rows; residual rows it does not touch in
that round are dropped (this project's choice: most of them are random negatives, and
carrying them would make every later upload larger). All clients' residuals live in
one flat table sorted by ``client * n_items + row``, so a round reads and writes them
with a few vectorised operations.
"""
from __future__ import annotations

import torch

from .. import csr


class ResidualStore:
    def __init__(self, n_items: int, dim: int, device="cpu") -> None:
        self.n_items = n_items
        self.keys = torch.zeros(0, dtype=torch.int64, device=device)
        self.values = torch.zeros(0, dim, device=device)

    def _keys(self, ids: torch.Tensor, ptr: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return csr.repeat(ids, ptr.diff()) * self.n_items + rows

    def take(self, ids: torch.Tensor, ptr: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """float32 ``[M, d]``: the stored residual of each (client, row), 0 where none.

        ``ids`` int64 ``[S]`` client ids, ``ptr`` int64 ``[S + 1]``, ``rows`` int64 ``[M]``.
        """
        keys = self._keys(ids, ptr, rows)
        out = self.values.new_zeros(keys.numel(), self.values.shape[1])
        if self.keys.numel():
            pos = torch.searchsorted(self.keys, keys).clamp(max=self.keys.numel() - 1)
            hit = self.keys[pos] == keys
            out[hit] = self.values[pos[hit]]
        return out

    def put(self, ids: torch.Tensor, ptr: torch.Tensor, rows: torch.Tensor, residual: torch.Tensor) -> None:
        """Replace the residuals of clients ``ids`` by ``residual`` (float32 ``[M, d]``)."""
        keep = ~torch.isin(self.keys // self.n_items, ids)
        keys = torch.cat([self.keys[keep], self._keys(ids, ptr, rows)])
        values = torch.cat([self.values[keep], residual])
        order = torch.argsort(keys, stable=True)
        self.keys, self.values = keys[order], values[order]

    def state(self) -> dict:
        return {"keys": self.keys, "values": self.values}

    def load(self, state: dict) -> None:
        self.keys, self.values = state["keys"], state["values"]

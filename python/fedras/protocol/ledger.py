"""Downlink byte accounting (spec, "Byte accounting").

Bytes are counted per receiving client. A client selected for a round first catches up
on what it missed since it last synced: the missed broadcasts, or the whole table,
whichever is smaller (compressed downlinks); the rows changed since its last sync, or
the whole table, whichever is smaller (fedavg and ``downlink=full``). Then it receives
the round's broadcast. With every client in every round that is one broadcast per
client per round. Every size is the length of a really encoded message.

Clients start from the same initial table (drawn from the run seed), which is not
counted for any method.
"""
from __future__ import annotations

from typing import Callable, List

import numpy as np
import torch


class DownlinkLedger:
    """Tracks which broadcasts each client has applied.

    ``table_bytes``: encoded size of a full-table message. ``changed_rows_bytes(rows)``:
    encoded size of a message carrying those rows' current values (full mode).
    """

    def __init__(self, n_clients: int, table_bytes: int, compressed: bool,
                 changed_rows_bytes: Callable[[np.ndarray], int]) -> None:
        self.last_sync = np.zeros(n_clients, dtype=np.int64)  # round whose broadcast a client applied last
        self.table_bytes = table_bytes
        self.compressed = compressed
        self.changed_rows_bytes = changed_rows_bytes
        self.sizes: List[int] = [0]              # sizes[t]: broadcast of round t (t >= 1)
        self.changed: List[np.ndarray] = [np.zeros(0, dtype=np.int64)]

    def catch_up(self, clients: np.ndarray, round_: int) -> np.ndarray:
        """int64 ``[C]``: bytes each client downloads to be in sync before ``round_``."""
        out = np.zeros(len(clients), dtype=np.int64)
        last = self.last_sync[clients]
        behind = last < round_ - 1
        distinct, which = np.unique(last[behind], return_inverse=True)
        costs = np.array([min(self._missed_cost(int(t), round_), self.table_bytes) for t in distinct], dtype=np.int64)
        out[behind] = costs[which] if len(distinct) else 0
        return out

    def _missed_cost(self, last: int, round_: int) -> int:
        if self.compressed:
            return int(sum(self.sizes[last + 1: round_]))
        return self.changed_rows_bytes(np.unique(np.concatenate(self.changed[last + 1: round_])))

    def deliver(self, clients: np.ndarray, round_: int, size: int, changed_rows: torch.Tensor) -> np.ndarray:
        """Record round ``round_``'s broadcast (``size`` bytes) and its receipt by ``clients``."""
        self.sizes.append(int(size))
        self.changed.append(changed_rows.cpu().numpy())
        self.last_sync[clients] = round_
        return np.full(len(clients), int(size), dtype=np.int64)

    def state(self) -> dict:
        return {"last_sync": torch.from_numpy(self.last_sync.copy()), "sizes": list(self.sizes),
                "changed": [torch.from_numpy(c) for c in self.changed]}

    def load(self, state: dict) -> None:
        self.last_sync = state["last_sync"].numpy().copy()
        self.sizes = list(state["sizes"])
        self.changed = [c.numpy() for c in state["changed"]]

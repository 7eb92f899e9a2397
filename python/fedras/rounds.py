"""A round's training data for all its clients at once, in CSR form, and padded views.

``plan_round`` samples the negatives of every selected client in one vectorised step
and finds each client's touched rows ``S_c`` (positives plus every sampled negative,
sorted). ``padded_batch`` cuts a group of clients out of the plan as a
:class:`~fedras.training.LocalBatch`; ``buckets`` groups clients of similar size so the
padding stays small.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import List, Optional

import torch

import fedras_ext.reference

from . import csr
from .training import LocalBatch

@dataclass
class RoundPlan:
    """Training data of one round's clients, all CSR over the clients in batch order.

    - ``clients``: int64 ``[C]`` user ids.
    - ``pos_ptr``: int64 ``[C + 1]``; ``pos_items`` int64 ``[P]`` training positives.
    - ``neg_items``: int64 ``[E, P, n_neg]`` negatives, per epoch, per positive.
    - ``row_ptr``: int64 ``[C + 1]``; ``rows`` int64 ``[M]`` the touched item rows, sorted
      within each client.
    - ``pos_row`` int64 ``[P]`` / ``neg_row`` int64 ``[E, P, n_neg]``: each item's index
      in ``rows`` (its client's rows start at ``row_ptr[client]``).
    """

    clients: torch.Tensor
    pos_ptr: torch.Tensor
    pos_items: torch.Tensor
    neg_items: torch.Tensor
    row_ptr: torch.Tensor
    rows: torch.Tensor
    pos_row: torch.Tensor
    neg_row: torch.Tensor

    @property
    def n_clients(self) -> int:
        return int(self.clients.numel())


def plan_round(
    train_ptr: torch.Tensor,
    train_items: torch.Tensor,
    clients: torch.Tensor,
    sampler,
    *,
    epochs: int,
    n_neg: int,
    n_items: int,
    generator: torch.Generator,
    ops: Optional[ModuleType] = None,
) -> RoundPlan:
    """Sample the round's negatives and find every client's touched rows.

    ``train_ptr``/``train_items``: the users' training positives (CSR, int64).
    ``clients``: int64 ``[C]``. ``sampler``: a :class:`fedras.data.NegativeSampler`.
    ``ops``: the run's op set; with the native ``fedras_ext`` on the CPU the touched rows
    come from its ``touched_rows`` (one client per thread), else from the reference's
    torch ops. Both give the same tensors.
    """
    dev = train_items.device
    counts = train_ptr[clients + 1] - train_ptr[clients]
    pos_ptr = csr.from_lengths(counts)
    pos_items = train_items[csr.gather(train_ptr, clients)]
    n_pos = int(pos_ptr[-1])
    if n_neg > 0:
        neg = torch.stack([sampler.train_negatives(clients, counts * n_neg, generator) for _ in range(epochs)])
        neg_items = neg.reshape(epochs, n_pos, n_neg)
    else:
        neg_items = torch.zeros(epochs, n_pos, 0, dtype=torch.int64, device=dev)

    touched = (ops if ops is not None and dev.type == "cpu" else fedras_ext.reference).touched_rows
    row_ptr, rows, inv_pos, inv_neg = touched(pos_ptr, pos_items, neg_items, n_items)
    return RoundPlan(
        clients=clients,
        pos_ptr=pos_ptr,
        pos_items=pos_items,
        neg_items=neg_items,
        row_ptr=row_ptr,
        rows=rows,
        pos_row=inv_pos,
        neg_row=inv_neg,
    )


def padded_batch(
    plan: RoundPlan, members: torch.Tensor, table: torch.Tensor, users: torch.Tensor, shared, lowrank_basis=None
) -> LocalBatch:
    """The clients ``members`` (batch indices into the plan) as a padded LocalBatch.

    ``table``: float32 ``[n_items, d]`` the clients' copy of the item table; ``users``:
    float32 ``[n_users, d]``; ``shared``: global shared weights (copied per client).
    """
    rows, _ = csr.padded(plan.row_ptr, plan.rows, members)
    base = plan.row_ptr[members][:, None]          # flat row index -> index within the client
    pos, pos_mask = csr.padded(plan.pos_ptr, plan.pos_row, members)
    pos = (pos - base).masked_fill(~pos_mask, 0)
    neg = torch.stack([csr.padded(plan.pos_ptr, plan.neg_row[e], members)[0] for e in range(plan.neg_row.shape[0])])
    neg = (neg - base[None, :, :, None]).masked_fill(~pos_mask[None, :, :, None], 0)
    b = members.numel()
    return LocalBatch(
        u=users[plan.clients[members]],
        w=table[rows],
        pos=pos,
        pos_mask=pos_mask,
        neg=neg,
        shared={k: v.expand(b, *v.shape).clone() for k, v in shared.items()},
        lowrank_basis=lowrank_basis,
    )


def buckets(sizes: torch.Tensor, *, max_waste: float = 0.25, max_cells: int = 1 << 22) -> List[torch.Tensor]:
    """Group clients (by batch index) into size classes a factor ``1 + max_waste`` wide,
    so padding a group to its largest member wastes at most that share, and split
    classes so a group holds at most ``max_cells`` padded cells.

    ``sizes``: int64 ``[C]`` per-client work. Returns int64 index tensors.
    """
    cls = torch.floor(torch.log(sizes.clamp(min=1).double()) / torch.log1p(torch.tensor(max_waste, dtype=torch.float64)))
    groups: List[torch.Tensor] = []
    for c in torch.unique(cls).tolist():
        members = torch.nonzero(cls == c)[:, 0]
        per_group = max(1, max_cells // max(int(sizes[members].max()), 1))
        groups.extend(torch.split(members, per_group))
    return groups

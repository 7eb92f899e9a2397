"""The server role: validate uplinks, aggregate, build and apply the broadcast.

Everything the server reads from clients arrives as bytes. A round's uplinks are
decoded together into columns (``decode_uplinks``), then checked together: the
envelope (round, sender, sample count), the policy (row cap, NaN/Inf) and the method's
``check``. A payload that fails any step is dropped from the round and reported with
its reason; the round goes on with the others.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .. import csr
from ..codec import F32, Message, decode
from ..codec.batch_decode import Expect
from ..compression import Compressor, Context, InvalidPayload, Updates
from ..compression.base import Verdicts, batch_to, one_per_row
from .payloads import (SHARED_PREFIX, broadcast_message, decode_uplinks, parse_broadcast, payload_template,
                       uplink_template)
from .policy import Policy, clip, clip_vectors, screen, zero_nonfinite_rows

log = logging.getLogger("fedras.server")


@dataclass
class Inbox:
    """A round's uplinks after validation: the accepted ones (A) and the rejected."""

    clients: np.ndarray                      # int64 [A]
    n_samples: np.ndarray                    # int64 [A] claimed sample counts
    shared: Dict[str, np.ndarray]            # float32 [A, ...] shared-weight deltas
    rejected: List[Tuple[int, str]] = field(default_factory=list)  # (client, reason)


@dataclass
class Aggregate:
    """The round's aggregated update: ``update[rows]`` is the mean over the clients that
    touched each row (float32 ``[n_items, d]``, zero elsewhere)."""

    update: torch.Tensor
    rows: torch.Tensor                # int64 sorted touched rows
    shared: Dict[str, torch.Tensor]   # sample-weighted mean of the shared deltas
    n_clients: int


class Server:
    def __init__(self, *, method: str, compressor: Compressor, ops, table: torch.Tensor, shared: Dict[str, torch.Tensor],
                 server_lr: float, compressed_downlink: bool, error_feedback: bool, k_global: int,
                 policy: Optional[Policy] = None) -> None:
        self.method = method
        self.compressor = compressor
        self.ops = ops
        self.table = table
        self.shared = shared
        self.server_lr = server_lr
        self.compressed_downlink = compressed_downlink
        self.k_global = k_global
        self.policy = policy if policy is not None else Policy()
        self.residual: Optional[torch.Tensor] = torch.zeros_like(table) if compressed_downlink and error_feedback else None

    @property
    def n_items(self) -> int:
        return self.table.shape[0]

    @property
    def shared_shapes(self) -> Dict[str, Tuple[int, ...]]:
        return {k: tuple(v.shape) for k, v in self.shared.items()}

    # ------------------------------------------------------------------ uplink
    def receive(self, round_: int, wires: Sequence[Tuple[int, bytes]], ctx: Context):
        """Decode and check every uplink, all at once. Returns (Inbox, the method's batch
        of the accepted payloads)."""
        dim = self.table.shape[1]
        method_fields = self.compressor.template(dim)
        ups, errors = decode_uplinks([w for _, w in wires], self.method,
                                     uplink_template(method_fields, self.n_items, self.shared_shapes))
        cols, clients = ups.columns, np.array([c for c, _ in wires], dtype=np.int64)[ups.index]
        rows, n = cols["rows"], cols["n"].data
        verdicts = Verdicts(ups.index.size)
        verdicts.reject(ups.rounds != round_, lambda j: f"payload is for round {ups.rounds[j]}, this is round {round_}")
        verdicts.reject(n < 0, lambda j: f"field 'n' must be a non-negative sample count, got {n[j]}")
        verdicts.reject(ups.senders != clients,
                        lambda j: f"sender {ups.senders[j]} does not match the connection's client {clients[j]}")
        screen(cols, rows.counts, self.policy, verdicts)
        own = {k: cols[k] for k in method_fields}
        self.compressor.check(own, rows.counts, dim, verdicts)
        keep = np.flatnonzero(verdicts.accepted)
        if keep.size < ups.index.size:
            rows, own = rows.take(keep), {k: c.take(keep) for k, c in own.items()}
        batch = self.compressor.assemble(rows, own, dim, ctx)
        reasons = {**errors, **{int(ups.index[j]): f"InvalidPayload: {r}" for j, r in enumerate(verdicts.reasons) if r}}
        rejected = [(wires[i][0], reasons[i]) for i in sorted(reasons)]
        for client, why in rejected:
            log.warning("round %d: rejected the payload of client %d: %s", round_, client, why)
        inbox = Inbox(clients[keep], n[keep], {k: cols[SHARED_PREFIX + k].data[keep] for k in self.shared}, rejected)
        return inbox, batch_to(batch, self.table.device)

    def aggregate(self, inbox: Inbox, batch) -> Aggregate:
        """Mean of the clients' (decompressed) updates per touched row, one scatter."""
        seg = csr.segment_of(batch.ptr).to(torch.int32)
        acts = clip(self.compressor.actions(batch), seg, self.policy.clip_norm)
        update = torch.zeros_like(self.table)
        self.ops.apply_actions(update, batch.rows, acts.action_idx, acts.actions, acts.action_offsets, seg,
                               reduce="mean", row_scale=acts.row_scale, validate=False)
        # Touched rows, sorted: a histogram over the table is O(M + n_items), a sort is O(M log M).
        rows = torch.nonzero(torch.bincount(batch.rows, minlength=self.n_items))[:, 0]
        zeroed = zero_nonfinite_rows(update, rows)
        if zeroed:
            log.warning("zeroed %d aggregated rows that were not finite", zeroed)
        shared: Dict[str, torch.Tensor] = {}
        if self.shared and inbox.clients.size:
            counts = torch.from_numpy(inbox.n_samples).double()
            weights = counts * clip_vectors(counts, self.policy.clip_norm)
            weights = weights / weights.sum().clamp(min=1)
            deltas = {k: torch.from_numpy(inbox.shared[k]).double() for k in self.shared}
            norms = torch.sqrt(sum(v.reshape(v.shape[0], -1).pow(2).sum(1) for v in deltas.values()))
            weights = weights * clip_vectors(norms, self.policy.clip_norm)
            for k, stacked in deltas.items():
                shared[k] = torch.tensordot(weights, stacked, dims=1).float()
        return Aggregate(update, rows, shared, int(inbox.clients.size))

    # ------------------------------------------------------------------ downlink
    def broadcast(self, round_: int, agg: Aggregate, ctx: Context) -> Message:
        """The round's broadcast; the server applies it with :meth:`apply` like clients do."""
        new_shared = {k: (v + self.server_lr * agg.shared[k].to(v.device) if k in agg.shared else v).cpu().numpy()
                      for k, v in self.shared.items()}
        if not self.compressed_downlink:
            values = self.table[agg.rows] + self.server_lr * agg.update[agg.rows]
            return broadcast_message(self.method, round_, agg.rows.cpu().numpy(), {"new_rows": F32(values.cpu().numpy())},
                                     new_shared, self.n_items)
        update = agg.update
        rows = agg.rows
        if self.residual is not None:
            update = update + self.residual
            # Rows with a leftover residual join the update even if no client touched them.
            rows = torch.nonzero(update.abs().amax(1) > 0)[:, 0]
        dev = self.table.device
        upd = Updates(torch.zeros(1, dtype=torch.int64, device=dev), torch.tensor([0, rows.numel()], device=dev), rows,
                      update[rows])
        down_ctx = Context(seed=ctx.seed, ops=self.ops, k=torch.tensor([self.k_global]), basis=ctx.basis)
        batch = self.compressor.compress(upd, down_ctx)
        if self.residual is not None:
            self.residual.zero_()
            self.residual[rows] = upd.values - self.compressor.actions(batch).reconstruct(upd.ptr)
        return broadcast_message(self.method, round_, rows.cpu().numpy(), self.compressor.fields(batch)[0], new_shared,
                                 self.n_items)

    def apply(self, table: torch.Tensor, shared: Dict[str, torch.Tensor], wire: bytes, ctx: Context) -> torch.Tensor:
        """Apply an encoded broadcast to a table (the server's or a client's copy) and
        shared weights, in place. Returns the rows it changed."""
        return apply_broadcast(self.method, self.compressor, self.ops, table, shared, wire, self.server_lr, ctx)


def apply_broadcast(method: str, compressor: Compressor, ops, table: torch.Tensor, shared: Dict[str, torch.Tensor],
                    wire: bytes, server_lr: float, ctx: Context) -> torch.Tensor:
    """What every receiver of a broadcast does (server included, so all stay identical)."""
    msg = decode(wire)
    dim, dev = table.shape[1], table.device
    full = "new_rows" in msg.fields  # the full downlink sends the new rows, else the method's fields
    own = {"new_rows": Expect(F32, (None, dim))} if full else compressor.template(dim)
    columns = parse_broadcast(msg, method, payload_template(table.shape[0], own,
                                                            {k: tuple(v.shape) for k, v in shared.items()}))
    rows = columns["rows"]
    verdicts = Verdicts(1)
    if full:
        one_per_row(verdicts, columns, rows.counts, "new_rows")
    else:
        compressor.check({k: columns[k] for k in own}, rows.counts, dim, verdicts)
    if verdicts.reasons[0]:
        raise InvalidPayload(verdicts.reasons[0])
    row_ids = torch.from_numpy(rows.ids)
    if full:
        table[row_ids.to(dev)] = torch.from_numpy(columns["new_rows"].data).to(dev)
    else:
        batch = batch_to(compressor.assemble(rows, {k: columns[k] for k in own}, dim, ctx), dev)
        acts = compressor.actions(batch)
        ops.apply_actions(table, batch.rows, acts.action_idx, acts.actions, acts.action_offsets,
                          torch.zeros(row_ids.numel(), dtype=torch.int32, device=dev), reduce="sum", scale=server_lr,
                          row_scale=acts.row_scale, validate=False)
    for k, v in shared.items():
        v.copy_(torch.as_tensor(columns[SHARED_PREFIX + k].data[0]))
    return row_ids

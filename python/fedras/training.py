"""Local training of a batch of clients, each on its own copy of the parameters.

``local_train`` is the general form (any model, autograd): the loop engine calls it
one client at a time (C = 1, no padding), the batched engine on buckets of clients
padded to a common length (NCF). Clients never interact inside it: the summed loss
separates by client, so one backward pass gives every client its own gradients.

``train_mf_flat`` is the same step rule for MF written out by hand on the flat CSR
rows of a whole round, with no padding: the batched engine's fast path, checked
against ``local_train`` by the engine tests. With the native ops on the CPU its epochs
run in the fused kernel :func:`fedras_ext.mf_train`.

The step rule (this project's choice): each local epoch is one full-batch SGD step on
the client's samples (its positives plus freshly sampled negatives). Item rows step by
``lr`` times the gradient of the summed loss, so a row's update does not shrink with
the client's number of samples; the user embedding and shared weights, which every
sample touches, step by ``user_lr`` / ``lr`` times the mean gradient.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Dict, Optional

import torch
import torch.nn.functional as F

import fedras_ext

from . import csr
from .models import Shared
from .workspace import Workspace


@dataclass
class LocalBatch:
    """C clients, padded to common lengths.

    - ``u``: float32 ``[C, d]`` private user embeddings at the start of the round.
    - ``w``: float32 ``[C, Lw, d]`` the client's copies of its touched item rows.
    - ``pos``: int64 ``[C, P]`` index into ``Lw`` of each positive (0 on padding).
    - ``pos_mask``: bool ``[C, P]``.
    - ``neg``: int64 ``[E, C, P, n_neg]`` index into ``Lw`` of each epoch's negatives,
      ``n_neg`` per positive (valid where ``pos_mask`` is).
    - ``shared``: per-client copies (leading ``C``) of the shared weights, or ``{}``.
    - ``lowrank_basis``: float32 ``[r, d]`` for CoLR (item rows are ``w + A @ B`` and only
      ``A``, zero at the start, is trained), else None.
    """

    u: torch.Tensor
    w: torch.Tensor
    pos: torch.Tensor
    pos_mask: torch.Tensor
    neg: torch.Tensor
    shared: Shared
    lowrank_basis: Optional[torch.Tensor] = None


@dataclass
class LocalResult:
    """What local training produced for the batch (same padding as the input).

    - ``u``: float32 ``[C, d]`` new private user embeddings.
    - ``delta``: float32 ``[C, Lw, d]`` item-row updates ``w_local - w`` (0 on padding).
    - ``shared_delta``: per-client shared-weight updates (leading ``C``).
    - ``n_samples``: int64 ``[C]`` loss terms per epoch (FedAvg weight of the shared weights).
    - ``loss``: float32 ``[C]`` mean loss of the last epoch, before its step.
    """

    u: torch.Tensor
    delta: torch.Tensor
    shared_delta: Shared
    n_samples: torch.Tensor
    loss: torch.Tensor


def _gather_rows(w: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """w ``[C, Lw, d]``, idx ``[C, L]`` -> ``[C, L, d]``."""
    return torch.gather(w, 1, idx[..., None].expand(*idx.shape, w.shape[-1]))


def client_losses(model, u, w, shared, pos, pos_mask, neg, loss: str) -> torch.Tensor:
    """Per-client summed loss of one epoch: float32 ``[C]``.

    BCE: every positive (label 1) and negative (label 0) is a term. BPR: every
    (positive, one of its negatives) pair is a term.
    """
    c, p = pos.shape
    n_neg = neg.shape[-1]
    s_pos = model.score(u, _gather_rows(w, pos), shared)
    if n_neg == 0:
        return (F.softplus(-s_pos) * pos_mask).sum(1)
    s_neg = model.score(u, _gather_rows(w, neg.reshape(c, p * n_neg)), shared).reshape(c, p, n_neg)
    if loss == "bpr":
        return (F.softplus(s_neg - s_pos[..., None]) * pos_mask[..., None]).sum((1, 2))
    return (F.softplus(-s_pos) * pos_mask).sum(1) + (F.softplus(s_neg) * pos_mask[..., None]).sum((1, 2))


def local_train(model, batch: LocalBatch, *, lr: float, user_lr: float, loss: str = "bce") -> LocalResult:
    """E full-batch SGD steps per client (E = ``batch.neg.shape[0]``).

    Item rows (or CoLR coefficients) step by ``lr`` times the gradient of the summed
    loss: a row's update is the sum of its own samples' gradients, so it does not shrink
    with the client's number of samples. The user embedding and shared weights, which
    every sample touches, step by ``user_lr`` / ``lr`` times the mean gradient over the
    client's samples. Returns updates, not new global values: the protocol decides what
    leaves the client.
    """
    model_shared = {k: v.clone().requires_grad_(True) for k, v in batch.shared.items()}
    u = batch.u.clone().requires_grad_(True)
    basis = batch.lowrank_basis
    if basis is not None:
        coeff = batch.w.new_zeros(*batch.w.shape[:2], basis.shape[0]).requires_grad_(True)
        item_param = coeff
    else:
        coeff = None
        item_param = batch.w.clone().requires_grad_(True)
    n_neg = batch.neg.shape[-1]
    terms = loss_terms(batch.pos_mask.sum(1), n_neg, loss)
    per_sample = (1.0 / terms.clamp(min=1).to(batch.u.dtype))
    last = torch.zeros(batch.u.shape[0])
    for epoch in range(batch.neg.shape[0]):
        w = batch.w + coeff @ basis if basis is not None else item_param
        losses = client_losses(model, u, w, model_shared, batch.pos, batch.pos_mask, batch.neg[epoch], loss)
        params = [u, item_param, *model_shared.values()]
        grads = torch.autograd.grad(losses.sum(), params, allow_unused=True)
        with torch.no_grad():
            g_u, g_item, *g_shared = (torch.zeros_like(p) if g is None else g for p, g in zip(params, grads))
            u -= user_lr * per_sample[:, None] * g_u
            item_param -= lr * g_item
            for p, g in zip(model_shared.values(), g_shared):
                p -= lr * per_sample.view(-1, *([1] * (p.dim() - 1))) * g
        last = (losses.detach() * per_sample)
    with torch.no_grad():
        delta = coeff @ basis if basis is not None else item_param - batch.w
        shared_delta: Dict[str, torch.Tensor] = {k: model_shared[k].detach() - batch.shared[k] for k in batch.shared}
    return LocalResult(u.detach(), delta.detach(), shared_delta, terms, last)


def loss_terms(pos_counts: torch.Tensor, n_neg: int, loss: str) -> torch.Tensor:
    """int64 ``[C]``: loss terms per client and epoch (samples for BCE, pairs for BPR)."""
    return pos_counts * (n_neg if loss == "bpr" and n_neg > 0 else 1 + n_neg)


def train_mf_flat(plan, table: torch.Tensor, users: torch.Tensor, *, lr: float, user_lr: float, loss: str = "bce",
                  basis: Optional[torch.Tensor] = None, workspace: Optional[Workspace] = None,
                  ops: Optional[ModuleType] = None):
    """MF local training of every client of a round at once, on flat CSR rows.

    ``plan``: a :class:`fedras.rounds.RoundPlan`; ``table`` float32 ``[n_items, d]`` the
    clients' copy of the item table; ``users`` float32 ``[n_users, d]``; ``basis``: CoLR's
    ``[r, d]`` (item rows are then ``w + A @ B`` and only ``A`` is trained).

    Every touched row belongs to exactly one client, so a sample's score is a function
    of its row alone: scores are computed once per row (``P = <u_owner, w>``) and
    gradients are per-row scalars times ``u`` (items) or ``w`` (users) - contiguous
    passes over the rows instead of random gathers and scatters of whole vectors.

    ``ops``: the run's op set. With the native ``fedras_ext``, on the CPU and without a
    ``basis``, the epochs run in its fused :func:`fedras_ext.mf_train` kernel (one client
    per thread, the client's rows in cache); otherwise (``None``, ``fedras_ext.reference``,
    CUDA, CoLR) as the torch ops below. Both follow the same step rule.

    Returns ``(u [C, d], delta [M, d], n_samples [C], loss [C])`` with ``delta`` the update
    of each touched row in the plan's order. With a ``workspace``, the large temporaries
    (and ``delta``) live in its reused buffers: ``delta`` is valid until the next call.
    """
    ws = workspace if workspace is not None else Workspace()
    n_clients = plan.n_clients
    m, d, dev = plan.rows.numel(), table.shape[1], table.device
    u = torch.index_select(users, 0, plan.clients)
    n_pos, n_neg = plan.pos_row.numel(), plan.neg_row.shape[-1]
    terms = loss_terms(plan.pos_ptr.diff(), n_neg, loss)
    if ops is fedras_ext and basis is None and dev.type == "cpu":
        # Each client gathers its rows from the table, trains them and leaves their change
        # in `delta` (three passes over [M, d] fewer than gather, train, gather, subtract).
        # The plan built every sample's row inside its client: no need to check them again.
        delta = ws.take("delta", (m, d), device=dev)
        last = fedras_ext.mf_train(delta, u, plan.row_ptr, plan.pos_ptr, plan.pos_row, plan.neg_row,
                                   lr=lr, user_lr=user_lr, loss=loss, validate=False, table=table, rows=plan.rows)
        return u, delta, terms, last
    w0 = torch.index_select(table, 0, plan.rows, out=ws.take("w0", (m, d), device=dev))
    w = ws.take("w", (m, d), device=dev).copy_(w0)
    row_owner = csr.segment_of(plan.row_ptr)
    owner_pos = csr.segment_of(plan.pos_ptr)
    per_sample = 1.0 / terms.clamp(min=1).to(u.dtype)
    coeff = w0.new_zeros(w0.shape[0], basis.shape[0]) if basis is not None else None
    scratch = ws.take("scratch", (m, d), device=dev)
    last = u.new_zeros(n_clients)
    epochs, bpr = plan.neg_row.shape[0], loss == "bpr" and n_neg > 0
    for epoch in range(epochs):
        rows = torch.cat([plan.pos_row, plan.neg_row[epoch].reshape(-1)])
        u_row = torch.index_select(u, 0, row_owner, out=ws.take("u_row", (m, d), device=dev))  # each row's owner
        s = torch.einsum("md,md->m", u_row, w)[rows]                    # [N] sample scores
        s_pos, s_neg = s[:n_pos], s[n_pos:].view(n_pos, n_neg)
        if bpr:
            diff = s_neg - s_pos[:, None]
            pair = torch.sigmoid(diff)                      # d softplus(diff) / d diff
            g = torch.cat([-pair.sum(1), pair.reshape(-1)])
        else:
            g = torch.sigmoid(s)
            g[:n_pos] -= 1.0                                # d BCE / d s = sigmoid(s) - y
        if epoch == epochs - 1:                             # only the last epoch's loss is reported
            if bpr:
                per_term, term_owner = F.softplus(diff).sum(1), owner_pos
            else:
                per_term = torch.cat([F.softplus(-s_pos), F.softplus(s_neg).reshape(-1)])
                term_owner = torch.cat([owner_pos, owner_pos.repeat_interleave(n_neg)])
            last = u.new_zeros(n_clients).index_add_(0, term_owner, per_term) * per_sample
        g_row = w.new_zeros(w.shape[0]).index_add_(0, rows, g)[:, None]   # [M, 1] summed per row
        grad_u = u.new_zeros(u.shape).index_add_(0, row_owner, torch.mul(w, g_row, out=scratch))
        grad_w = u_row.mul_(g_row)                                          # reuses u_row's memory
        u.addcmul_(per_sample[:, None], grad_u, value=-user_lr)
        if basis is not None:
            coeff.sub_(grad_w @ basis.T, alpha=lr)
            torch.addmm(w0, coeff, basis, out=w)
        else:
            w.sub_(grad_w, alpha=lr)
        del grad_w, u_row
    return u, torch.sub(w, w0, out=ws.take("delta", (m, d), device=dev)), terms, last

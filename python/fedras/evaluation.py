"""HR@10 and NDCG@10, for all users at once.

Sampled (default): the held-out item is ranked among ``n_neg`` (99) negatives drawn once
per run outside everything the user interacted with, as FedNCF, PFedRec and CoLR do.
Full: it is ranked among every item the user has not interacted with (its other
held-out item excluded too). Ties count against the held-out item, so a model that
scores everything equal gets HR 0, not 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import torch

from . import csr


def hit_and_ndcg(rank: torch.Tensor, k: int = 10):
    """Mean HR@k and NDCG@k of 0-based ranks (int64 ``[U]``)."""
    hit = rank < k
    ndcg = torch.where(hit, 1.0 / torch.log2(rank.double() + 2.0), 0.0)
    return float(hit.double().mean()) if rank.numel() else 0.0, float(ndcg.mean()) if rank.numel() else 0.0


@dataclass
class Metrics:
    hr10: float
    ndcg10: float
    val_hr10: float
    val_ndcg10: float

    def as_dict(self) -> Dict[str, float]:
        return {"hr10": self.hr10, "ndcg10": self.ndcg10, "val_hr10": self.val_hr10, "val_ndcg10": self.val_ndcg10}


class Evaluator:
    """Evaluates a model for every user with a validation and a test item.

    ``split``: :class:`fedras.data.Split`; ``sampler``: :class:`fedras.data.NegativeSampler`
    (for the fixed sampled negatives); ``n_neg = 0`` selects full ranking.
    """

    def __init__(self, split, sampler, *, n_neg: int = 99, seed: int = 0, device="cpu", dim: int = 32) -> None:
        self.device = torch.device(device)
        val, test = torch.as_tensor(split.val_item), torch.as_tensor(split.test_item)
        evaluated = (val >= 0) & (test >= 0)
        if n_neg > 0:
            # A user with fewer unseen items than n_neg cannot be ranked against n_neg negatives.
            enough = sampler.unseen_counts().cpu() >= n_neg
            self.skipped = int((evaluated & ~enough).sum())
            evaluated &= enough
        else:
            self.skipped = 0
        self.users = torch.nonzero(evaluated)[:, 0].to(self.device)
        self.val = val.to(self.device)[self.users]
        self.test = test.to(self.device)[self.users]
        self.n_items = split.n_items
        # Users per chunk: keep a chunk's [users, candidates, d] item block near 64 MB.
        width = (n_neg + 1) if n_neg > 0 else split.n_items
        self.chunk = max(1, (1 << 24) // max(width * dim, 1))
        self.n_neg = n_neg
        if n_neg > 0:
            self.negatives = sampler.eval_negatives(n_neg, seed, users=self.users).to(self.device)
        else:
            ptr, items = torch.as_tensor(split.train_ptr), torch.as_tensor(split.train_items)
            self.train_ptr, self.train_items = ptr.to(self.device), items.to(self.device)

    @torch.no_grad()
    def _ranks(self, model, users_emb: torch.Tensor, table: torch.Tensor, shared, target: torch.Tensor,
               other: torch.Tensor) -> torch.Tensor:
        ranks = []
        for s in range(0, self.users.numel(), self.chunk):
            u = users_emb[self.users[s: s + self.chunk]]
            tgt = target[s: s + self.chunk]
            if self.n_neg > 0:
                cand = torch.cat([tgt[:, None], self.negatives[s: s + self.chunk]], 1)
                scores = model.score(u, table[cand], shared)
                ranks.append((scores[:, 1:] >= scores[:, :1]).sum(1))
                continue
            scores = model.score(u, table.expand(u.shape[0], *table.shape), shared)
            pos = scores.gather(1, tgt[:, None])
            beats = scores >= pos
            # Exclude the target itself, the user's training items and its other held-out item.
            beats[torch.arange(u.shape[0], device=u.device), tgt] = False
            beats[torch.arange(u.shape[0], device=u.device), other[s: s + self.chunk]] = False
            users = self.users[s: s + self.chunk]
            lengths = self.train_ptr[users + 1] - self.train_ptr[users]
            owner = csr.repeat(torch.arange(users.numel(), device=u.device), lengths)
            beats[owner, self.train_items[csr.gather(self.train_ptr, users)]] = False
            ranks.append(beats.sum(1))
        return torch.cat(ranks) if ranks else torch.zeros(0, dtype=torch.int64)

    def evaluate(self, model, users_emb: torch.Tensor, table: torch.Tensor, shared) -> Metrics:
        """Test and validation HR@10 / NDCG@10 of the current model."""
        test_rank = self._ranks(model, users_emb, table, shared, self.test, self.val)
        val_rank = self._ranks(model, users_emb, table, shared, self.val, self.test)
        hr, ndcg = hit_and_ndcg(test_rank)
        vhr, vndcg = hit_and_ndcg(val_rank)
        return Metrics(hr, ndcg, vhr, vndcg)


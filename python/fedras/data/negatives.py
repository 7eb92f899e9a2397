"""Uniform negative sampling for training and sampled-negative evaluation, in torch.

Negatives are drawn directly from each user's complement instead of by rejection: a uniform
rank r in [0, n_items - n_known) is mapped to the r-th item the user has NOT seen with one
``torch.searchsorted`` on a sorted table of the user's known items (training draws on a small
table read that search's precomputed answer instead). Every draw is accepted, so there is no
redraw loop and a user with only a handful of unseen items costs the same as any other; a user
with no unseen item is reported as an error.

Everything runs on ``device`` (CPU or CUDA) and is reproducible from a seeded
``torch.Generator`` on that device (CPU and CUDA streams differ).
"""
from __future__ import annotations

from typing import Optional, Union

import numpy as np
import torch

from .. import csr
from .readers import DataError
from .split import Split

Device = Union[str, torch.device]

# Evaluation rows with at most this many times n_neg unseen items are drawn without redraws.
_TIGHT_FACTOR = 4
# A memoised complement table holds one answer per (user, rank) query up to this many queries.
_MEMO_QUERIES = 1 << 26


class _ComplementTable:
    """Maps (user, r) to the r-th item outside a fixed per-user set of known items.

    With user u's known items k_0 < k_1 < ... sorted, the r-th unknown item is
    ``r + #{j : k_j - j <= r}``. The table stores ``u * n_items + k_j - j`` for every known item,
    which is sorted across all users, so one searchsorted over it counts the known items that
    precede the answer for a whole batch of queries.

    With ``memoize`` and at most ``_MEMO_QUERIES`` possible queries (n_users x n_items), that
    count is instead precomputed for every query (``known_before``): a gather is several times
    cheaper than a search, and the training draws query millions of times a round.
    """

    def __init__(self, n_users: int, n_items: int, users: np.ndarray, items: np.ndarray,
                 device: torch.device, memoize: bool = False) -> None:
        # users, items: int64 [nnz], sorted by user then item, unique pairs.
        counts = np.bincount(users, minlength=n_users)
        ptr = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        index_in_user = np.arange(len(users), dtype=np.int64) - ptr[users]
        table = users * n_items + items - index_in_user
        self.n_items = n_items
        self.n_unknown = torch.as_tensor(n_items - counts, dtype=torch.int64, device=device)
        self.ptr = torch.as_tensor(ptr, device=device)
        self.table = torch.as_tensor(table, device=device)
        self.known_before: Optional[torch.Tensor] = None
        if memoize and n_users * n_items <= _MEMO_QUERIES:
            # known_before[u * n_items + r] = #{j : k_j - j <= r} of user u: a per-user
            # cumulative count of table entries, in the narrowest dtype that holds n_items.
            dtype = torch.int16 if n_items < (1 << 15) else torch.int32
            hits = torch.zeros(n_users, n_items, dtype=dtype)
            hits.view(-1).index_add_(0, torch.as_tensor(table), torch.ones(len(table), dtype=dtype))
            self.known_before = hits.cumsum_(1).view(-1).to(device)

    def nth_unknown(self, users: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
        """int64 like ``ranks``: the ``ranks``-th (0-based) unknown item of each user.

        users, ranks: int64 tensors that broadcast (e.g. [B] and [B], or [U, 1] and [U, k]),
        ``0 <= ranks < n_unknown[users]``.
        """
        queries = torch.add(ranks, users, alpha=self.n_items)
        if self.known_before is not None:
            # index_select is the fastest gather on CPU (indexing or take, 2-4x slower).
            before = self.known_before.index_select(0, queries.reshape(-1)).view(queries.shape)
            return before.to(torch.int64).add_(ranks)
        items = torch.searchsorted(self.table, queries, right=True)
        items -= self.ptr[users]  # known items before the answer
        items += ranks
        return items


class NegativeSampler:
    """Samples items a user has not interacted with.

    Args:
        split: the leave-one-out split. Training negatives avoid the user's training items only
            (validation and test items are the future, unknown to the client); evaluation
            negatives avoid all of the user's items.
        device: where the tables live and the samples are drawn.
    """

    def __init__(self, split: Split, device: Device = "cpu") -> None:
        self.n_users, self.n_items = split.n_users, split.n_items
        self.device = torch.device(device)
        train_users = np.repeat(np.arange(split.n_users, dtype=np.int64), split.train_counts)
        self._train = _ComplementTable(split.n_users, split.n_items, train_users,
                                       split.train_items, self.device, memoize=True)
        evaluated = np.flatnonzero(split.evaluated)
        held_out = np.concatenate([evaluated * split.n_items + split.val_item[evaluated],
                                   evaluated * split.n_items + split.test_item[evaluated]])
        # Stable (merge-based) sort: the training keys are already one sorted run.
        all_keys = np.sort(np.concatenate([train_users * split.n_items + split.train_items,
                                           held_out]), kind="stable")
        self._all = _ComplementTable(split.n_users, split.n_items, all_keys // split.n_items,
                                     all_keys % split.n_items, self.device)

    def train_negatives(self, users: torch.Tensor, counts: torch.Tensor,
                        generator: torch.Generator) -> torch.Tensor:
        """Uniform training negatives, with replacement.

        Args:
            users: int64 [B] user indices (repeats allowed).
            counts: int64 [B] negatives wanted for each entry of ``users``.
            generator: a torch.Generator on ``self.device``.

        Returns:
            int64 [counts.sum()]: ``counts[0]`` items for ``users[0]``, then ``counts[1]`` for
            ``users[1]``, ...; each uniform over the items that user has not trained on.

        Raises:
            DataError: a user with ``counts > 0`` has trained on every item.
        """
        users = users.to(self.device, torch.int64)
        counts = counts.to(self.device, torch.int64)
        # Checked and gathered per user, then repeated per draw: B is far smaller than the draws.
        n_unknown = self._train.n_unknown[users]
        full = (n_unknown == 0) & (counts > 0)
        if bool(full.any()):
            raise DataError(f"user {users[full][0].item()} has interacted with all {self.n_items} "
                            f"items in training, so it has no negative item to sample")
        ranks = _uniform_below(csr.repeat(n_unknown, counts), generator)
        return self._train.nth_unknown(csr.repeat(users, counts), ranks)

    def unseen_counts(self) -> torch.Tensor:
        """int64 [n_users]: items outside all of each user's items (train, val and test)."""
        return self._all.n_unknown

    def eval_negatives(self, n_neg: int = 99, seed: int = 0, users: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Fixed evaluation negatives: n_neg distinct unseen items per user.

        Args:
            n_neg: negatives per user (99 in FedNCF/PFedRec/CoLR).
            seed: seeds a generator on ``self.device``; the same seed gives the same rows.
            users: int64 [U] the users to draw for (default: all, in order).

        Returns:
            int64 [U, n_neg] on ``self.device``: row i holds distinct items outside all of
            user ``users[i]``'s items (train, validation and test), sorted ascending. Users that
            are not evaluated (val/test -1) get a valid row too.

        Raises:
            DataError: one of the users has fewer than ``n_neg`` unseen items.
        """
        if n_neg < 0:
            raise ValueError(f"n_neg must be >= 0, got {n_neg}")
        users = (torch.arange(self.n_users, device=self.device) if users is None
                 else users.to(self.device, torch.int64))
        n_unknown = self._all.n_unknown[users]
        if users.numel() and int(n_unknown.min()) < n_neg:
            user = int(users[n_unknown.argmin()])
            raise DataError(f"user {user} has only {int(n_unknown.min())} items it has not "
                            f"interacted with, fewer than n_neg={n_neg}")
        generator = torch.Generator(device=self.device).manual_seed(seed)
        ranks = _distinct_sorted_ranks(n_unknown, n_neg, generator)
        users = users.unsqueeze(1)
        # Ranks sorted per row and users ascending make the queries globally sorted, which keeps
        # the search cache-friendly; the mapping is increasing, so rows stay sorted.
        return self._all.nth_unknown(users, ranks)


def _uniform_below(bounds: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """int64 like ``bounds``: independent uniform integers in [0, bounds) (bounds >= 1)."""
    uniform = torch.rand(bounds.shape, generator=generator, device=bounds.device,
                         dtype=torch.float64)
    ranks = uniform.mul_(bounds).to(torch.int64)
    return torch.minimum(ranks, bounds - 1)  # float rounding can reach the bound


def _distinct_sorted_ranks(bounds: torch.Tensor, k: int,
                           generator: torch.Generator) -> torch.Tensor:
    """int64 [len(bounds), k]: per row, k distinct uniform integers in [0, bounds[row]), sorted.

    Rows with room to spare (bounds > 4k) draw with replacement and redraw only the repeats,
    each of which collides again with probability below 1/4. Tight rows instead keep the k
    smallest of random scores over their whole range, which costs O(bounds) but never redraws.
    """
    rows, device = len(bounds), bounds.device
    ranks = torch.empty((rows, k), dtype=torch.int64, device=device)
    if rows == 0 or k == 0:
        return ranks
    tight = bounds <= _TIGHT_FACTOR * k
    if bool(tight.any()):
        tight_bounds = bounds[tight].unsqueeze(1)
        width = int(tight_bounds.max())
        scores = torch.rand((len(tight_bounds), width), generator=generator, device=device)
        scores[torch.arange(width, device=device) >= tight_bounds] = 2.0  # out of range
        ranks[tight] = scores.topk(k, dim=1, largest=False).indices.sort(dim=1).values
    loose = ~tight
    if bool(loose.any()):
        ranks[loose] = _redraw_repeats(bounds[loose], k, generator)
    return ranks


def _redraw_repeats(bounds: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """int64 [len(bounds), k]: sorted distinct draws in [0, bounds[row]) by redrawing repeats."""
    row_bounds = bounds.unsqueeze(1).expand(-1, k)
    ranks = _uniform_below(row_bounds, generator).sort(dim=1).values
    rows, sub = None, ranks  # rows still to check (None: all) and their current values
    while True:
        repeat = torch.zeros_like(sub, dtype=torch.bool)
        repeat[:, 1:] = sub[:, 1:] == sub[:, :-1]
        has_repeat = repeat.any(dim=1)
        if not bool(has_repeat.any()):
            return ranks
        rows = has_repeat.nonzero().squeeze(1) if rows is None else rows[has_repeat]
        sub, repeat = sub[has_repeat], repeat[has_repeat]
        redrawn = _uniform_below(row_bounds[rows], generator)
        sub = torch.where(repeat, redrawn, sub).sort(dim=1).values
        ranks[rows] = sub

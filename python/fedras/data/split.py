"""Leave-one-out split by timestamp, the protocol of FedNCF, PFedRec and CoLR."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .readers import Interactions

# A user needs a training, a validation and a test item to be evaluated.
MIN_INTERACTIONS_TO_EVALUATE = 3


@dataclass(frozen=True, eq=False)
class Split:
    """Per-user training items (CSR over users) and the held-out validation and test items.

    Attributes:
        n_users: number of users (rows of the CSR).
        n_items: number of items.
        train_ptr: int64 [n_users + 1]; user u's training items are
            ``train_items[train_ptr[u]:train_ptr[u + 1]]``.
        train_items: int64 [nnz], sorted ascending and unique within each user.
        val_item: int64 [n_users], the second-latest item, -1 when the user has none.
        test_item: int64 [n_users], the latest item, -1 when the user has none.
    """

    n_users: int
    n_items: int
    train_ptr: np.ndarray
    train_items: np.ndarray
    val_item: np.ndarray
    test_item: np.ndarray

    @property
    def train_counts(self) -> np.ndarray:
        """int64 [n_users]: number of training items per user."""
        return np.diff(self.train_ptr)

    @property
    def evaluated(self) -> np.ndarray:
        """bool [n_users]: users with a validation and a test item."""
        return self.test_item >= 0


def leave_one_out(inter: Interactions) -> Split:
    """Hold out each user's latest item for test and second-latest for validation.

    - Order within a user: by timestamp, ties broken by file order (a later row is later).
    - A (user, item) pair that occurs more than once counts once, at its latest occurrence.
    - Users with fewer than 3 distinct items keep them all in training and get -1 as
      validation and test item: they train but are not evaluated.

    Args:
        inter: the interaction log (rows in file order).

    Returns:
        Split with training items in CSR form (int64, sorted and unique per user) and
        val_item/test_item int64 [n_users].
    """
    n_users, n_items = inter.n_users, inter.n_items
    order = _time_order(inter)
    users, items = inter.users[order], inter.items[order]
    keys = users * n_items + items
    pair_keys = np.sort(keys)  # by user, then item: the CSR order
    is_first = first_of_runs(pair_keys)
    if not is_first.all():
        # Repeated pairs: keep each pair's latest row. A stable sort by pair keeps the rows of
        # a pair in time order, so the latest is the last of its run.
        by_pair = np.argsort(keys, kind="stable")
        latest = np.zeros(len(keys), dtype=bool)
        latest[by_pair[np.roll(first_of_runs(keys[by_pair]), -1)]] = True
        users, items = users[latest], items[latest]  # still time-ordered within each user
        pair_keys = pair_keys[is_first]

    counts = np.bincount(users, minlength=n_users)
    end = np.cumsum(counts)  # one past each user's latest row
    evaluated = np.flatnonzero(counts >= MIN_INTERACTIONS_TO_EVALUATE)
    test_item = np.full(n_users, -1, dtype=np.int64)
    val_item = np.full(n_users, -1, dtype=np.int64)
    test_item[evaluated] = items[end[evaluated] - 1]
    val_item[evaluated] = items[end[evaluated] - 2]

    held_out = np.concatenate([evaluated * n_items + test_item[evaluated],
                               evaluated * n_items + val_item[evaluated]])
    in_train = np.ones(len(pair_keys), dtype=bool)
    in_train[np.searchsorted(pair_keys, held_out)] = False
    train_keys = pair_keys[in_train]
    train_ptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(train_keys // n_items, minlength=n_users), out=train_ptr[1:])
    return Split(n_users=n_users, n_items=n_items, train_ptr=train_ptr,
                 train_items=train_keys % n_items, val_item=val_item, test_item=test_item)


def _time_order(inter: Interactions) -> np.ndarray:
    """int64 [n]: row order by user, then timestamp, then row position."""
    if len(inter) == 0:
        return np.zeros(0, dtype=np.int64)
    low, high = int(inter.timestamps.min()), int(inter.timestamps.max())
    span = high - low + 1
    if inter.n_users * span < 2 ** 62:
        # One int64 key and a stable sort (ties keep row order): ~10x faster than lexsort.
        return np.argsort(inter.users * span + (inter.timestamps - low), kind="stable")
    return np.lexsort((np.arange(len(inter)), inter.timestamps, inter.users))


def first_of_runs(sorted_values: np.ndarray) -> np.ndarray:
    """bool [n]: True at the first element of each run of equal values in a sorted array."""
    is_first = np.ones(len(sorted_values), dtype=bool)
    is_first[1:] = sorted_values[1:] != sorted_values[:-1]
    return is_first

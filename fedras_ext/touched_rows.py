"""touched_rows: a round's touched item rows per client, one client per thread (CPU only)."""
from __future__ import annotations

from typing import Tuple

import torch

from . import _native
from ._native import _C, capsule


@_native.custom_op("fedras::touched_rows", mutates_args=())
def _touched_rows_op(pos_ptr: torch.Tensor, pos_items: torch.Tensor, neg_items: torch.Tensor,
                     n_items: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    counts = torch.empty(max(pos_ptr.shape[0] - 1, 0), dtype=torch.int64)  # the op refuses an empty pos_ptr
    _C.touched_counts(capsule(pos_ptr), capsule(pos_items), capsule(neg_items), n_items, capsule(counts),
                      _native.num_threads())
    row_ptr = torch.zeros(counts.shape[0] + 1, dtype=torch.int64)
    torch.cumsum(counts, 0, out=row_ptr[1:])
    rows = torch.empty(int(row_ptr[-1]), dtype=torch.int64)
    pos_row, neg_row = torch.empty_like(pos_items), torch.empty_like(neg_items)
    _C.touched_rows(capsule(pos_ptr), capsule(pos_items), capsule(neg_items), n_items, capsule(row_ptr),
                    capsule(rows), capsule(pos_row), capsule(neg_row), _native.num_threads())
    return row_ptr, rows, pos_row, neg_row


@_touched_rows_op.register_fake
def _(pos_ptr, pos_items, neg_items, n_items):
    m = torch.library.get_ctx().new_dynamic_size()
    return (pos_ptr.new_empty(pos_ptr.shape), pos_ptr.new_empty((m,)), torch.empty_like(pos_items),
            torch.empty_like(neg_items))


def touched_rows(pos_ptr: torch.Tensor, pos_items: torch.Tensor, neg_items: torch.Tensor,
                 n_items: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each client's touched rows (its positives and negatives, distinct and sorted) and
    every sample's index into them: :func:`fedras.rounds.plan_round`'s ``row_ptr``,
    ``rows``, ``pos_row`` and ``neg_row``.

    Args:
        pos_ptr: int64 ``[C + 1]`` CSR offsets of the positives over the clients.
        pos_items: int64 ``[P]`` each positive's item.
        neg_items: int64 ``[E, P, n_neg]`` each epoch's negatives, per positive (the
            client of positive ``p`` owns them).
        n_items: every item lies in ``[0, n_items)``.

    Returns ``(row_ptr int64 [C + 1], rows int64 [M], pos_row int64 [P], neg_row int64
    [E, P, n_neg])``, CPU tensors. Raises IndexError for an item outside ``[0, n_items)``,
    ValueError for bad offsets, dtypes, shapes or a CUDA tensor.
    """
    return _touched_rows_op(pos_ptr, pos_items, neg_items, int(n_items))

"""HR@10 and NDCG@10 on hand-computed cases."""
from __future__ import annotations

import math

import numpy as np
import torch

from fedras.data import Split
from fedras.evaluation import Evaluator, hit_and_ndcg
from fedras.models import MF


def test_hit_and_ndcg_by_hand():
    hr, ndcg = hit_and_ndcg(torch.tensor([0, 3, 9, 10, 50]))
    assert hr == 3 / 5
    assert math.isclose(ndcg, (1 / math.log2(2) + 1 / math.log2(5) + 1 / math.log2(11)) / 5)


class FixedNegatives:
    def __init__(self, negatives):
        self.negatives = negatives

    def eval_negatives(self, n_neg, seed, users):
        return self.negatives[users, :n_neg]

    def unseen_counts(self):
        return torch.full((self.negatives.shape[0],), 1000)


def tiny_split():
    # 3 users, 30 items; train items are 0..2, val item 3, test item 4 for every user
    ptr = np.array([0, 3, 6, 9])
    return Split(3, 30, ptr, np.tile(np.arange(3), 3), np.full(3, 3), np.full(3, 4))


def test_sampled_ranks_by_hand():
    split = tiny_split()
    negatives = torch.arange(10, 30).expand(3, 20)
    ev = Evaluator(split, FixedNegatives(negatives), n_neg=20, dim=1)
    # MF with d = 1: score = u * v. Item scores: v_i = i / 100 for negatives 10..29.
    table = (torch.arange(30).float() / 100)[:, None]
    users = torch.ones(3, 1)
    table[4] = 0.275   # test item beats 10..27: rank 2 (items 28, 29 above it)
    table[3] = 0.05    # val item below all 20 negatives: rank 20
    m = ev.evaluate(MF(1), users, table, {})
    assert m.hr10 == 1.0 and math.isclose(m.ndcg10, 1 / math.log2(4))
    assert m.val_hr10 == 0.0 and m.val_ndcg10 == 0.0


def test_ties_count_against_the_held_out_item():
    split = tiny_split()
    ev = Evaluator(split, FixedNegatives(torch.arange(10, 30).expand(3, 20)), n_neg=20, dim=1)
    m = ev.evaluate(MF(1), torch.ones(3, 1), torch.zeros(30, 1), {})
    assert m.hr10 == 0.0


def test_full_ranking_excludes_known_items():
    split = tiny_split()
    ev = Evaluator(split, None, n_neg=0, dim=1)
    table = torch.zeros(30, 1)
    table[:3] = 10.0      # training items score highest but are excluded
    table[3] = 9.0        # the val item is excluded when ranking the test item
    table[4] = 5.0        # test item: only item 7 beats it
    table[7] = 6.0
    m = ev.evaluate(MF(1), torch.ones(3, 1), table, {})
    assert m.hr10 == 1.0 and math.isclose(m.ndcg10, 1 / math.log2(3))

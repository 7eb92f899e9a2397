"""Device tiers and the adaptive number of actions."""
from __future__ import annotations

import numpy as np

from fedras.config import DEFAULT_TIERS
from fedras.hetero import Draws, Fleet, choose_k, fedras_upload_bytes, latency


def test_tier_shares_and_seeded_draws():
    fleet = Fleet(DEFAULT_TIERS, 1700, seed=0)
    counts = np.bincount(fleet.tier_of, minlength=3)
    assert counts.tolist() == [400, 1000, 300]  # 4:10:3
    a = fleet.draw(5, np.arange(100), seed=0)
    b = fleet.draw(5, np.arange(100), seed=0)
    assert np.array_equal(a.up, b.up) and not np.array_equal(a.up, fleet.draw(6, np.arange(100), seed=0).up)
    low = fleet.tier_of[:100] == 0
    assert a.up[low].max() <= DEFAULT_TIERS[0].up_bytes_per_s * 1.4 + 1e-6  # clipped at +2 std (20% each)


def test_adaptive_k_follows_bandwidth_and_deadline():
    rows = np.array([400, 400])
    draws = Draws(up=np.array([20e3, 5e6]), down=np.array([1e5, 1e7]), flops=np.array([1e8, 1e10]))
    kw = dict(k_min=2, k_max=64, dim=32, n_items=1682, iters=10, train_flops=np.zeros(2), bytes_per_value=4)
    k = choose_k(rows, draws, deadline=0.2, **kw)
    assert k[0] < k[1] and k[1] == 64 and k[0] >= 2
    assert choose_k(rows, draws, deadline=1e-6, **kw).tolist() == [2, 2]      # nothing fits: k_min
    assert choose_k(rows, draws, deadline=1e6, **kw).tolist() == [64, 64]     # everything fits: k_max
    # The chosen K really fits: its estimated time is within the deadline.
    est = fedras_upload_bytes(rows[:1], k[:1].numpy(), 32, 1682, 4) / draws.up[0]
    assert est <= 0.2


def test_round_latency_is_per_client_sum_of_phases():
    d = Draws(up=np.array([10.0]), down=np.array([20.0]), flops=np.array([100.0]))
    assert latency(d, np.array([10]), np.array([40]), np.array([300.0])).tolist() == [1.0 + 2.0 + 3.0]

"""Device heterogeneity: tiers, per-round draws, the adaptive number of actions, and
the simulated round latency (spec, "Adaptive number of actions").

Each client belongs to one tier (LOW / MEDIUM / HIGH by default, shares 4:10:3). Each
round it draws its uplink and downlink bandwidth and its compute speed from a Gaussian
around its tier's means, clipped to +-2 std and to at least 10% of the mean.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from fedras_ext import bits_for

from .config import TierConfig
from .rng import derive_seed

HEADER_BYTES = 64  # envelope of an uplink (magic, kind, field headers, CRC), for estimates only


@dataclass
class Draws:
    """One round's draws for its clients: float64 ``[C]`` each."""

    up: np.ndarray      # bytes / s
    down: np.ndarray    # bytes / s
    flops: np.ndarray   # flop / s


class Fleet:
    def __init__(self, tiers: Sequence[TierConfig], n_clients: int, seed: int) -> None:
        self.tiers = tuple(tiers)
        shares = np.array([t.share for t in self.tiers], dtype=np.float64)
        counts = np.floor(shares / shares.sum() * n_clients).astype(np.int64)
        counts[np.argmax(shares)] += n_clients - counts.sum()
        labels = np.repeat(np.arange(len(self.tiers)), counts)
        self.tier_of = np.random.default_rng(derive_seed(seed, "tiers")).permutation(labels)

    def draw(self, round_: int, clients: np.ndarray, seed: int) -> Draws:
        rng = np.random.default_rng(derive_seed(seed, round_, "draws"))
        tier = self.tier_of[clients]
        noise = rng.standard_normal((3, len(clients))).clip(-2.0, 2.0)

        def column(attr: str, i: int) -> np.ndarray:
            mean = np.array([getattr(t, attr) for t in self.tiers])[tier]
            std = np.array([t.rel_std for t in self.tiers])[tier] * mean
            return np.maximum(mean + std * noise[i], 0.1 * mean)

        return Draws(column("up_bytes_per_s", 0), column("down_bytes_per_s", 1), column("flops_per_s", 2))


def kmeans_flops(rows: np.ndarray, k: np.ndarray, dim: int, iters: int) -> np.ndarray:
    """Estimated flops of clustering ``rows`` update rows into ``k`` actions."""
    return 3.0 * rows * k * dim * max(iters, 1)


def fedras_upload_bytes(rows: np.ndarray, k: np.ndarray, dim: int, n_items: int, bytes_per_value: int) -> np.ndarray:
    """Estimated uplink bytes of FedRAS with k actions (the decision uses this estimate;
    the accounting uses the real encoded length)."""
    rowset = np.minimum((n_items + 7) // 8, rows * 2)
    bits = bits_for(np.maximum(np.asarray(k, dtype=np.int64), 1))
    return HEADER_BYTES + rowset + k * dim * bytes_per_value + np.ceil(rows * bits / 8.0)


def choose_k(rows: np.ndarray, draws: Draws, *, k_min: int, k_max: int, dim: int, n_items: int, iters: int,
             train_flops: np.ndarray, deadline: float, bytes_per_value: int) -> torch.Tensor:
    """Per client the largest K in [k_min, k_max] whose estimated compute plus upload
    time fits the deadline; k_min when none does. int64 ``[C]``."""
    ks = np.arange(k_min, k_max + 1, dtype=np.float64)
    r = rows.astype(np.float64)[:, None]
    compute = (train_flops[:, None] + kmeans_flops(r, ks[None, :], dim, iters)) / draws.flops[:, None]
    upload = np.stack([fedras_upload_bytes(rows, np.full(len(rows), int(k)), dim, n_items, bytes_per_value)
                       for k in ks], axis=1) / draws.up[:, None]
    fits = compute + upload <= deadline
    best = np.where(fits.any(1), k_min + (fits.shape[1] - 1 - np.argmax(fits[:, ::-1], axis=1)), k_min)
    return torch.from_numpy(best.astype(np.int64))


def train_flops(model: str, n_samples: np.ndarray, epochs: int, dim: int) -> np.ndarray:
    """Estimated flops of local training: forward and backward of every sample."""
    per_sample = 6.0 * dim if model == "mf" else 6.0 * (dim + 2 * dim * dim + dim * dim // 2 + dim)
    return epochs * n_samples.astype(np.float64) * per_sample


def latency(draws: Draws, up_bytes: np.ndarray, down_bytes: np.ndarray, flops: np.ndarray) -> np.ndarray:
    """Per-client seconds of a round: download, compute, upload."""
    return down_bytes / draws.down + flops / draws.flops + up_bytes / draws.up

"""Compression methods: FedRAS and the baselines of the spec, one module each.

Every method compresses a CSR batch of item-row updates (see :mod:`.base`) and can be
read back as actions, so the server aggregates every method with one scatter.
"""
from __future__ import annotations

from .base import Actions, Compressor, Context, InvalidPayload, Updates
from .dense import Dense
from .fedras import FedRAS
from .lowrank import LowRank, random_basis
from .quant import Quant
from .svd import SVD
from .topk import TopK


def make_compressor(cfg) -> Compressor:
    """The uplink compressor of ``cfg.method`` (a :class:`fedras.config.Config`)."""
    return {
        "fedavg": lambda: Dense(),
        "fedras": lambda: FedRAS(assign=cfg.assign, half=cfg.action_dtype == "float16", iters=cfg.kmeans_iters,
                                 tol=cfg.kmeans_tol),
        "topk": lambda: TopK(cfg.topk_fraction),
        "quant": lambda: Quant(cfg.quant_bits),
        "lowrank": lambda: LowRank(cfg.lowrank_rank),
        "svd": lambda: SVD(cfg.svd_rank),
    }[cfg.method]()


__all__ = ["Actions", "Compressor", "Context", "Dense", "FedRAS", "InvalidPayload", "LowRank", "Quant", "SVD", "TopK",
           "Updates", "make_compressor", "random_basis"]

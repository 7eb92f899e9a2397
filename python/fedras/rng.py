"""Derived seeds: every random choice of a run is keyed by (run seed, round, purpose),
so a round can be replayed or resumed without carrying generator state around."""
from __future__ import annotations

import hashlib

import torch


def derive_seed(seed: int, *keys: object) -> int:
    """A 63-bit seed for the purpose named by ``keys`` (ints or strings)."""
    text = ":".join(str(k) for k in (seed, *keys)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") >> 1


def generator(seed: int, *keys: object, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch.Generator on ``device`` seeded with ``derive_seed(seed, *keys)``."""
    g = torch.Generator(device=device)
    g.manual_seed(derive_seed(seed, *keys))
    return g

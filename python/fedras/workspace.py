"""Buffers reused from round to round.

A round of the batched engine needs a handful of temporaries of tens of megabytes.
Allocated fresh, each is first-touched page by page every round: on this project's
2-core VM that is ~20k page faults per 77 MB buffer, a measurable share of an ML-100K
round. A :class:`Workspace` keeps each named buffer (with 25% headroom) and hands out
views of it, so the memory is touched once per run.
"""
from __future__ import annotations

from typing import Dict, Sequence

import torch


class Workspace:
    def __init__(self) -> None:
        self._buffers: Dict[str, torch.Tensor] = {}

    def take(self, name: str, shape: Sequence[int], dtype: torch.dtype = torch.float32, device="cpu") -> torch.Tensor:
        """An uninitialised tensor of ``shape`` backed by the buffer ``name``. The view is
        valid until the next ``take`` of the same name."""
        n = 1
        for s in shape:
            n *= int(s)
        buf = self._buffers.get(name)
        if buf is None or buf.numel() < n or buf.dtype != dtype or buf.device != torch.device(device):
            buf = torch.empty(n + n // 4 + 1, dtype=dtype, device=device)
            self._buffers[name] = buf
        return buf[:n].view(*shape)

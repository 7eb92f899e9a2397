"""Small helpers shared by the tests."""
from __future__ import annotations

from typing import Iterable

import torch


def csr(sizes: Iterable[int]) -> torch.Tensor:
    """int64 CSR offsets ``[len(sizes) + 1]`` for the given segment sizes."""
    sizes = list(sizes)
    out = torch.zeros(len(sizes) + 1, dtype=torch.int64)
    out[1:] = torch.cumsum(torch.as_tensor(sizes, dtype=torch.int64), 0)
    return out

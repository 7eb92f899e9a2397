"""CSR helpers: ragged per-client data as flat values plus int64 offsets ``ptr``."""
from __future__ import annotations

from typing import List, Tuple

import numpy as np
import torch


def from_lengths(lengths: torch.Tensor) -> torch.Tensor:
    """int64 ``[S + 1]`` offsets from int64 ``[S]`` lengths."""
    ptr = torch.zeros(lengths.numel() + 1, dtype=torch.int64, device=lengths.device)
    ptr[1:] = torch.cumsum(lengths, 0)
    return ptr


def repeat(values: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """``torch.repeat_interleave(values, counts)`` for 1-D ``values`` and int64 ``counts``
    (>= 0). On the CPU through numpy's repeat: 6x faster at a round's 6.4 M rows."""
    if values.device.type == "cpu" and not values.requires_grad:
        return torch.from_numpy(np.repeat(values.numpy(), counts.numpy()))
    return torch.repeat_interleave(values, counts)


def segment_of(ptr: torch.Tensor) -> torch.Tensor:
    """int64 ``[N]``: the segment index of every flat entry."""
    return repeat(torch.arange(ptr.numel() - 1, device=ptr.device), ptr.diff())


def local_index(ptr: torch.Tensor) -> torch.Tensor:
    """int64 ``[N]``: every flat entry's position within its segment."""
    return torch.arange(int(ptr[-1]), device=ptr.device) - ptr[:-1][segment_of(ptr)]


def gather(ptr: torch.Tensor, members: torch.Tensor) -> torch.Tensor:
    """int64 flat positions of the entries of segments ``members``, in member order."""
    lengths = ptr[members + 1] - ptr[members]
    starts = repeat(ptr[members] - torch.cumsum(lengths, 0) + lengths, lengths)
    return starts + torch.arange(int(lengths.sum()), device=ptr.device)


def padded(ptr: torch.Tensor, values: torch.Tensor, members: torch.Tensor, fill=0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Segments ``members`` of ``values`` as ``[B, Lmax, ...]`` (padding = ``fill``) plus a
    bool ``[B, Lmax]`` mask; ``values`` may have trailing dimensions."""
    lengths = ptr[members + 1] - ptr[members]
    width = int(lengths.max()) if members.numel() else 0
    pos = torch.arange(width, device=ptr.device)
    mask = pos[None, :] < lengths[:, None]
    if values.shape[0] == 0:
        return values.new_full((members.numel(), width, *values.shape[1:]), fill), mask
    flat = (ptr[members][:, None] + pos[None, :]).clamp(max=values.shape[0] - 1)
    out = values[flat]
    return out.masked_fill(~mask.view(*mask.shape, *([1] * (out.dim() - 2))), fill), mask


def concat(parts: List[torch.Tensor], empty: torch.Tensor) -> torch.Tensor:
    """torch.cat that returns ``empty`` for no parts."""
    return torch.cat(parts) if parts else empty

"""Python-side argument checks of the public ops.

The native module re-checks everything (a direct call into ``_C`` is safe too); these
run first so that errors name the public argument and fire before any allocation.
"""
from __future__ import annotations

from typing import Optional

import torch


def require(
    t: torch.Tensor,
    name: str,
    *,
    dtype: Optional[torch.dtype] = None,
    ndim: Optional[int] = None,
    device: Optional[torch.device] = None,
) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a tensor, got {type(t).__name__}")
    if dtype is not None and t.dtype != dtype:
        raise ValueError(f"{name} must be {str(dtype).replace('torch.', '')}, got {str(t.dtype).replace('torch.', '')}")
    if ndim is not None and t.dim() != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got {t.dim()}-D with shape {tuple(t.shape)}")
    if device is not None and t.device != device:
        raise ValueError(f"{name} is on {t.device} but must be on {device}, like the other inputs")
    if not t.is_contiguous():
        raise ValueError(f"{name} must be contiguous (call .contiguous() first)")
    return t


def require_offsets(offsets: torch.Tensor, name: str, total: int, total_what: str, device: torch.device) -> torch.Tensor:
    """CSR offsets: 1-D int64, starts at 0, non-decreasing, ends at ``total``."""
    require(offsets, name, dtype=torch.int64, ndim=1, device=device)
    if offsets.numel() < 1:
        raise ValueError(f"{name} must hold n_segments + 1 entries, got 0")
    host = offsets.cpu()
    if int(host[0]) != 0:
        raise ValueError(f"{name}[0] must be 0, got {int(host[0])}")
    if host.numel() > 1 and bool((host[1:] < host[:-1]).any()):
        i = int(torch.nonzero(host[1:] < host[:-1])[0]) + 1
        raise ValueError(f"{name} must be non-decreasing, but {name}[{i}] = {int(host[i])} < {name}[{i - 1}] = {int(host[i - 1])}")
    if int(host[-1]) != total:
        raise ValueError(f"{name}[-1] must equal {total_what} ({total}), got {int(host[-1])}")
    return host

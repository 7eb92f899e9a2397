"""numpy / cupy / torch interop for the public ops.

Every op runs on torch tensors. numpy and cupy arrays (and anything else that speaks
DLPack) are viewed as tensors without a copy, and results are handed back in the
caller's array type.
"""
from __future__ import annotations

from typing import Any, Tuple

import numpy as np
import torch

TORCH, NUMPY, CUPY = "torch", "numpy", "cupy"


def as_tensor(a: Any, name: str) -> Tuple[torch.Tensor, str]:
    """View ``a`` as a torch tensor; returns the tensor and the input's kind."""
    if isinstance(a, torch.Tensor):
        return a, TORCH
    if isinstance(a, np.ndarray):
        if not a.flags.writeable:
            a = a.copy()  # torch.from_numpy refuses read-only arrays
        return torch.from_numpy(a), NUMPY
    module = type(a).__module__.split(".")[0]
    if hasattr(a, "__dlpack__"):
        return torch.from_dlpack(a), (CUPY if module == "cupy" else TORCH)
    raise ValueError(f"{name} must be a torch tensor, numpy array or DLPack array, got {type(a).__name__}")


def to_kind(t: torch.Tensor, kind: str) -> Any:
    """Return ``t`` as the array type ``kind`` (zero-copy where DLPack allows)."""
    if kind == NUMPY:
        return t.cpu().numpy()
    if kind == CUPY:
        import cupy  # optional dependency, only reached when the caller passed cupy arrays

        return cupy.from_dlpack(t)
    return t


def result_kind(*kinds: str) -> str:
    """Outputs follow the first non-torch input kind (numpy in, numpy out)."""
    for k in kinds:
        if k != TORCH:
            return k
    return TORCH

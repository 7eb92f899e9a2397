"""numpy / cupy / torch interop for the public ops.

Every op runs on torch tensors. numpy and cupy arrays (and anything else that speaks
DLPack) are viewed as tensors without a copy, and results are handed back in the
caller's array type.
"""
from __future__ import annotations

import warnings
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


def read_view(a: Any, name: str) -> torch.Tensor:
    """A tensor over ``a`` without a copy, also for a read-only numpy array (e.g. over
    ``bytes``), for an input the op only reads."""
    if isinstance(a, np.ndarray) and not a.flags.writeable:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "not writable": nothing writes to it
            return torch.from_numpy(a)
    return as_tensor(a, name)[0]


def index_view(a: Any, name: str) -> torch.Tensor:
    """:func:`read_view`, with a list or tuple of ints taken as int64."""
    return read_view(np.asarray(a, dtype=np.int64) if isinstance(a, (list, tuple)) else a, name)


def write_view(a: Any, name: str) -> torch.Tensor:
    """A tensor sharing ``a``'s memory, for an output the op writes in place. Raises
    ValueError for a read-only numpy array, which ``as_tensor`` would silently copy."""
    if isinstance(a, np.ndarray) and not a.flags.writeable:
        raise ValueError(f"{name} must be writable (a read-only numpy array would be written through a copy)")
    return as_tensor(a, name)[0]

"""Loading of the native module and the glue every op shares.

The native module ``fedras_ext._C`` takes tensors only as DLPack capsules plus the
caller's CUDA stream; it never links libtorch. This module turns torch tensors into
capsules, finds the stream, and allocates CUDA workspaces with torch's allocator.
"""
from __future__ import annotations

import os
from typing import Optional

import torch
from torch.utils.dlpack import to_dlpack

try:
    from . import _C  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on how the package was installed
    here = os.path.dirname(os.path.abspath(__file__))
    raise ImportError(
        "fedras_ext._C (the compiled kernels) could not be imported from "
        f"{here}. Install the package with `pip install .` (which builds it), and do not "
        "run Python from the source checkout's root, where the uncompiled source tree "
        f"shadows the installed package. Original error: {exc}"
    ) from exc


def capsule(t: torch.Tensor):
    """DLPack capsule of a (contiguous) tensor, borrowed by the native call."""
    return to_dlpack(t)


def optional_capsule(t: Optional[torch.Tensor]):
    return None if t is None else to_dlpack(t)


def stream_of(t: torch.Tensor) -> int:
    """The caller's current CUDA stream for ``t``'s device (0 on the CPU)."""
    if t.device.type == "cuda":
        return torch.cuda.current_stream(t.device).cuda_stream
    return 0


def workspace(like: torch.Tensor, size_fn, *size_args) -> Optional[torch.Tensor]:
    """A CUDA workspace of ``size_fn(*size_args)`` bytes from torch's caching allocator.

    CPU kernels need none, and the size function is not even called for them (some
    sizes are queried from CUB, which would create a CUDA context).
    """
    if like.device.type != "cuda":
        return None
    with torch.cuda.device(like.device):
        return torch.empty(int(size_fn(*size_args)), dtype=torch.uint8, device=like.device)


def num_threads() -> int:
    """Native CPU kernels use as many threads as torch is configured to."""
    return torch.get_num_threads()


def deterministic_requested(flag: Optional[bool]) -> bool:
    """Deterministic if asked, or if torch's global deterministic mode is on."""
    return bool(flag) or torch.are_deterministic_algorithms_enabled()

"""Loading of the native module and the glue every op shares.

The native module ``fedras_ext._C`` takes tensors only as DLPack capsules plus the
caller's CUDA stream; it never links libtorch. This module turns torch tensors into
capsules, finds the stream, and allocates CUDA workspaces with torch's allocator.
"""
from __future__ import annotations

import inspect
import os
from typing import Any, Callable, Optional, Sequence

import torch
from torch.utils._python_dispatch import _get_current_dispatch_mode
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


class NativeOp:
    """A ``torch.library.custom_op`` whose plain eager calls skip the dispatcher.

    The op is registered as usual (``torch.ops.fedras.<name>``, with its fake), and
    torch.compile, export, fake tensors, dispatch modes and autograd all go through it.
    A call with plain tensors outside all of those runs the Python function directly.
    The reason: the dispatcher wraps a custom op's kernel in ``torch._disable_dynamo``,
    whose first call imports ``torch._dynamo``, about 2 s of every process's first op
    call on this project's 2-core VM (and some microseconds on every call). Tensors the
    op mutates get their version counters bumped, as through the dispatcher.
    """

    def __init__(self, fn: Callable, name: str, mutates_args: Sequence[str]) -> None:
        self.fn = fn
        self.op = torch.library.custom_op(name, mutates_args=mutates_args)(fn)
        params = list(inspect.signature(fn).parameters)
        self._mutated = [(params.index(a), a) for a in mutates_args]

    def register_fake(self, fake: Callable) -> Callable:
        return self.op.register_fake(fake)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not _plain_eager_call(args, kwargs):
            return self.op(*args, **kwargs)
        out = self.fn(*args, **kwargs)
        for i, name in self._mutated:
            torch.autograd.graph.increment_version(args[i] if i < len(args) else kwargs[name])
        return out


def custom_op(name: str, *, mutates_args: Sequence[str]) -> Callable[[Callable], NativeOp]:
    """Decorator: ``torch.library.custom_op(name, mutates_args=...)`` as a NativeOp."""
    return lambda fn: NativeOp(fn, name, mutates_args)


def _plain_eager_call(args: Sequence[Any], kwargs: dict) -> bool:
    """True when nothing traces, compiles or differentiates this call: no compile, no
    dispatch mode, only plain tensors, none of them needing a gradient."""
    if torch.compiler.is_compiling() or _get_current_dispatch_mode() is not None:
        return False
    grad = torch.is_grad_enabled()
    for a in (*args, *kwargs.values()):
        if isinstance(a, torch.Tensor) and (type(a) is not torch.Tensor or (grad and a.requires_grad)):
            return False
    return True

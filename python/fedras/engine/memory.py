"""Keep freed memory in the process heap.

A round allocates and frees tensors of tens of megabytes. glibc serves such sizes
with mmap and returns them to the kernel on free, so every round pays a page fault per
4 KiB page touched again: measured on this project's 2-core VM, allocating and filling
a fresh 128 MB tensor took 50-70 ms against 10 ms for reused memory, and a whole
ML-100K round ran 15% faster with the setting below. Raising glibc's mmap and trim
thresholds keeps those pages mapped for reuse. It changes nothing but speed, and
nothing at all where glibc's ``mallopt`` is unavailable.
"""
from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_done = False


def keep_freed_memory() -> bool:
    """Apply the thresholds once per process; True if glibc accepted them."""
    global _done
    if _done:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = (libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, 1 << 40) == 1
              and libc.mallopt(_M_TOP_PAD, 64 << 20) == 1)
    except (OSError, AttributeError):
        ok = False
    _done = ok
    return ok

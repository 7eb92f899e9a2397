"""A bounds-checked cursor over an untrusted byte buffer."""
from __future__ import annotations

import functools
import struct
from typing import Optional

from .errors import MalformedPayload, TruncatedPayload

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")

MAX_NAME_LEN = 32
# Names and kinds are visible ASCII (0x21..0x7E): no spaces, no control bytes.
_VISIBLE_ASCII = bytes(range(0x21, 0x7F))


def is_valid_name(raw: bytes) -> bool:
    """Whether ``raw`` is a valid kind or field name: 1..32 visible ASCII bytes."""
    return 1 <= len(raw) <= MAX_NAME_LEN and not raw.translate(None, _VISIBLE_ASCII)


class Reader:
    """Reads little-endian integers and byte runs; never reads past ``end``.

    Every read checks the bytes actually present first, so a lying header costs a
    :class:`TruncatedPayload`, never an over-read or an allocation.
    """

    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: memoryview, pos: int = 0) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf)

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def _truncated(self, n: int, what: str) -> TruncatedPayload:
        return TruncatedPayload(f"{what}: needs {n} bytes at offset {self.pos}, only {self.end - self.pos} left")

    def take(self, n: int, what: str) -> memoryview:
        """The next ``n`` bytes as a zero-copy view."""
        pos = self.pos
        if n > self.end - pos:
            raise self._truncated(n, what)
        self.pos = pos + n
        return self.buf[pos : pos + n]

    def u8(self, what: str) -> int:
        pos = self.pos
        if pos >= self.end:
            raise self._truncated(1, what)
        self.pos = pos + 1
        return self.buf[pos]

    def u16(self, what: str) -> int:
        pos = self.pos
        if pos + 2 > self.end:
            raise self._truncated(2, what)
        self.pos = pos + 2
        return _U16.unpack_from(self.buf, pos)[0]

    def u32(self, what: str) -> int:
        pos = self.pos
        if pos + 4 > self.end:
            raise self._truncated(4, what)
        self.pos = pos + 4
        return _U32.unpack_from(self.buf, pos)[0]

    def name(self, what: str) -> str:
        """A length-prefixed (u8) visible-ASCII name of 1..32 bytes."""
        raw = bytes(self.take(self.u8(what), what))
        name = _checked_name(raw)
        if name is None:
            raise MalformedPayload(f"{what} must be 1..{MAX_NAME_LEN} visible ASCII bytes, got {raw[:40]!r}")
        return name


@functools.lru_cache(maxsize=256)  # every payload repeats the same few names; bounded, so hostile names cannot grow it
def _checked_name(raw: bytes) -> Optional[str]:
    return raw.decode("ascii") if is_valid_name(raw) else None

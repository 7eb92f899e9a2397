"""Errors raised while decoding an untrusted payload.

Every decoding failure is a :class:`PayloadError` (a ``ValueError``), so a server can
reject a bad upload with one ``except PayloadError``. Encoding a malformed message
is a caller bug and raises a plain ``ValueError`` instead.
"""
from __future__ import annotations


class PayloadError(ValueError):
    """The bytes are not a valid v1 payload. Base class of every decoding error."""


class TruncatedPayload(PayloadError):
    """The payload ends before a declared header, body or the checksum."""


class BadMagic(PayloadError):
    """The payload does not start with ``b"FRAS"``."""


class UnsupportedVersion(PayloadError):
    """The format version is not one this decoder reads."""


class ChecksumMismatch(PayloadError):
    """The trailing CRC32 disagrees with the bytes before it."""


class LimitExceeded(PayloadError):
    """A declared size is over the decoder's :class:`~fedras.codec.Limits`."""


class MalformedPayload(PayloadError):
    """The message header is invalid: flags, kind, field count, names, trailing bytes."""


class MalformedField(MalformedPayload):
    """A field's type code, declared sizes or body is invalid."""


class UnexpectedDecodeError(PayloadError):
    """An unforeseen exception inside the decoder, turned into a rejection.

    The server stays up; fuzzing treats this class as a crash to be fixed.
    """

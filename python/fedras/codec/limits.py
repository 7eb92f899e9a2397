"""Decoder limits: how large a payload a server agrees to look at."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Upper bounds that :func:`~fedras.codec.decode` enforces before allocating anything.

    Attributes:
        max_bytes: largest whole payload accepted.
        max_elements: largest element count of one field (array elements, RowSet ids,
            Packed indices).
        max_universe: largest RowSet universe (number of table rows).
        max_fields: most fields in one message.
    """

    max_bytes: int = 1 << 30
    max_elements: int = 1 << 27
    max_universe: int = 1 << 31
    max_fields: int = 64


DEFAULT_LIMITS = Limits()

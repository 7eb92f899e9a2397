"""Typed fields of a :class:`~fedras.codec.Message`: dense arrays and bit-packed indices.

Each field type has a one-byte wire type code and knows how to write its declared sizes
and body, and how to read them back from untrusted bytes. :class:`RowSet` lives in
:mod:`fedras.codec.rowset`.

Decoded fields hold independent, writable, native-endian numpy arrays: they never alias
the buffer they were decoded from.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, fields as dataclass_fields
from typing import Any, ClassVar, Dict, Tuple, Type

import numpy as np

from . import bitpack
from .errors import LimitExceeded, MalformedField
from .limits import Limits
from .reader import Reader

MAX_NDIM = 4
_DIMS = [struct.Struct(f"<{ndim}I") for ndim in range(MAX_NDIM + 1)]
_NUMPY_MAX_BYTES = np.iinfo(np.intp).max
U32_MAX = 0xFFFFFFFF

# Type code -> field class; filled by Field.__init_subclass__.
FIELD_TYPES: Dict[int, Type["Field"]] = {}


class Field:
    """Base of every field type.

    Subclasses set ``TYPE_CODE`` and implement the three wire hooks: ``wire_parts`` to
    encode, ``read_spec`` + ``body_length_error`` + ``from_body`` to decode.
    """

    TYPE_CODE: ClassVar[int]
    __hash__ = None  # holds mutable arrays

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        code = cls.__dict__.get("TYPE_CODE")
        if code is not None:
            if code in FIELD_TYPES:
                raise TypeError(f"type code {code} is already used by {FIELD_TYPES[code].__name__}")
            FIELD_TYPES[code] = cls

    def __eq__(self, other: object) -> bool:
        """Same type and bit-identical contents (so NaN equals the same NaN, and 0.0 != -0.0)."""
        if type(other) is not type(self):
            return NotImplemented
        return all(_same(getattr(self, f.name), getattr(other, f.name)) for f in dataclass_fields(self))

    @classmethod
    def _trusted(cls, *values: Any) -> "Field":
        """Build from decoded values that already passed every check (skips ``__post_init__``)."""
        field = object.__new__(cls)
        for name, value in zip(cls.__dataclass_fields__, values):  # type: ignore[attr-defined]
            object.__setattr__(field, name, value)
        return field

    # -- encoding --------------------------------------------------------------------
    def wire_parts(self) -> Tuple[bytes, np.ndarray]:
        """(declared sizes as bytes, body as uint8 ``[nbytes]``). Raises ValueError on bad values."""
        raise NotImplementedError

    def wire_size(self) -> int:
        """``len`` of the declared sizes plus the body, without building them."""
        sizes, body = self.wire_parts()
        return len(sizes) + memoryview(body).nbytes

    # -- decoding (every check runs before anything is allocated) -----------------------
    @classmethod
    def read_spec(cls, reader: Reader, limits: Limits) -> Any:
        """Read and validate the declared sizes; returns an opaque spec for the hooks below."""
        raise NotImplementedError

    @classmethod
    def body_length_error(cls, spec: Any, nbytes: int) -> str | None:
        """Why a body of ``nbytes`` cannot hold ``spec`` (None when it can)."""
        raise NotImplementedError

    @classmethod
    def from_body(cls, spec: Any, body: memoryview) -> "Field":
        """Build the field from a body whose length passed ``body_length_error``."""
        raise NotImplementedError


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return (
            a.dtype == b.dtype
            and a.shape == b.shape
            and np.array_equal(np.ascontiguousarray(a).reshape(-1).view(np.uint8), np.ascontiguousarray(b).reshape(-1).view(np.uint8))
        )
    return a == b


def coerce_array(data: Any, dtype: np.dtype, what: str, *, integers: bool = False) -> np.ndarray:
    """``data`` as a numpy array of native ``dtype``, without ever losing information.

    The dtype must match (any byte order). With ``integers=True`` any integer dtype that
    casts safely is accepted too (e.g. int32 ids for an int64 RowSet).
    """
    a = np.asarray(data)
    if a.dtype == dtype:
        return a
    same_type = a.dtype.kind == dtype.kind and a.dtype.itemsize == dtype.itemsize
    safe_integer = integers and a.dtype.kind in "iu" and np.can_cast(a.dtype, dtype, "safe")
    if not (same_type or safe_integer):
        raise ValueError(f"{what} needs {dtype} data, got {a.dtype}")
    return a.astype(dtype)


def check_u32(value: Any, what: str) -> int:
    """``value`` as a Python int in [0, 2**32); rejects bools and non-integers."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or not 0 <= value <= U32_MAX:
        raise ValueError(f"{what} must be an integer in [0, 2**32), got {value!r}")
    return int(value)


def check_element_count(count: int, limits: Limits, what: str) -> None:
    if count > limits.max_elements:
        raise LimitExceeded(f"{what} declares {count} elements, limit is {limits.max_elements}")


# ---------------------------------------------------------------------------------------
# Dense arrays
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _ArrayField(Field):
    """A dense array of ndim 0..4, C-order and little-endian on the wire."""

    array: np.ndarray
    DTYPE: ClassVar[np.dtype]  # native dtype of the decoded array
    WIRE_DTYPE: ClassVar[np.dtype]  # the same, little-endian

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.WIRE_DTYPE = cls.DTYPE.newbyteorder("<")

    def __post_init__(self) -> None:
        a = coerce_array(self.array, self.DTYPE, type(self).__name__)
        if a.ndim > MAX_NDIM:
            raise ValueError(f"{type(self).__name__} arrays have at most {MAX_NDIM} dims, got shape {a.shape}")
        object.__setattr__(self, "array", a)

    def wire_size(self) -> int:
        return 1 + 4 * self.array.ndim + self.array.size * self.WIRE_DTYPE.itemsize

    def wire_parts(self) -> Tuple[bytes, np.ndarray]:
        a = self.array
        for d in a.shape:
            check_u32(d, "array dimension")
        if a.nbytes > U32_MAX:
            raise ValueError(f"array of {a.nbytes} bytes is over the 4 GiB field body limit")
        wire = np.ascontiguousarray(a, dtype=self.WIRE_DTYPE)
        return bytes((a.ndim,)) + _DIMS[a.ndim].pack(*a.shape), wire.reshape(-1).view(np.uint8)

    @classmethod
    def read_spec(cls, reader: Reader, limits: Limits) -> Tuple[int, ...]:
        ndim = reader.u8("ndim")
        if ndim > MAX_NDIM:
            raise MalformedField(f"ndim {ndim} is over {MAX_NDIM}")
        shape = _DIMS[ndim].unpack(reader.take(4 * ndim, "dims"))
        # Zero dims are skipped: numpy refuses even an empty array whose other dims overflow.
        nonzero_product = math.prod(shape) or math.prod(d for d in shape if d)
        check_element_count(nonzero_product, limits, "array")
        if nonzero_product * cls.DTYPE.itemsize > _NUMPY_MAX_BYTES:
            raise MalformedField(f"shape {shape} is too large for numpy")
        return shape

    @classmethod
    def body_length_error(cls, shape: Tuple[int, ...], nbytes: int) -> str | None:
        expected = math.prod(shape) * cls.DTYPE.itemsize
        return None if nbytes == expected else f"body of {nbytes} bytes, shape {shape} of {cls.DTYPE} needs {expected}"

    @classmethod
    def from_body(cls, shape: Tuple[int, ...], body: memoryview) -> "_ArrayField":
        wire = np.frombuffer(body, dtype=cls.WIRE_DTYPE, count=math.prod(shape))
        return cls._trusted(wire.reshape(shape).astype(cls.DTYPE))  # astype copies: no aliasing


class F32(_ArrayField):
    """float32 array."""

    TYPE_CODE = 1
    DTYPE = np.dtype(np.float32)


class F16(_ArrayField):
    """float16 array (the caller converts, e.g. ``F16(a.astype(np.float16))``)."""

    TYPE_CODE = 2
    DTYPE = np.dtype(np.float16)


class I8(_ArrayField):
    """int8 array (e.g. quantised values; their scales go in a separate field)."""

    TYPE_CODE = 3
    DTYPE = np.dtype(np.int8)


class U8(_ArrayField):
    """uint8 array (also opaque bytes)."""

    TYPE_CODE = 4
    DTYPE = np.dtype(np.uint8)


class I32(_ArrayField):
    """int32 array."""

    TYPE_CODE = 5
    DTYPE = np.dtype(np.int32)


class I64(_ArrayField):
    """int64 array (a 0-d one is a scalar, e.g. a sample count)."""

    TYPE_CODE = 6
    DTYPE = np.dtype(np.int64)


# ---------------------------------------------------------------------------------------
# Bit-packed indices
# ---------------------------------------------------------------------------------------
_PACKED_SPEC = struct.Struct("<IB")


@dataclass(frozen=True, eq=False)
class Packed(Field):
    """int32 ``[n]`` indices in ``[0, 2**bits)``, ``bits`` in 1..16.

    Body: ``ceil(n * bits / 8)`` bytes in the layout of ``fedras_ext.pack_indices`` (see
    :mod:`fedras.codec.bitpack`); the unused high bits of the last byte must be zero.
    """

    idx: np.ndarray
    bits: int
    TYPE_CODE = 8

    def __post_init__(self) -> None:
        idx = coerce_array(self.idx, np.dtype(np.int32), "Packed idx", integers=True)
        if idx.ndim != 1:
            raise ValueError(f"Packed idx must be 1-D, got shape {idx.shape}")
        if isinstance(self.bits, (bool, np.bool_)) or not isinstance(self.bits, (int, np.integer)) or not 1 <= self.bits <= 16:
            raise ValueError(f"Packed bits must be an int in 1..16, got {self.bits!r}")
        object.__setattr__(self, "idx", idx)
        object.__setattr__(self, "bits", int(self.bits))

    def wire_size(self) -> int:
        return _PACKED_SPEC.size + bitpack.packed_nbytes(self.idx.size, self.bits)

    def wire_parts(self) -> Tuple[bytes, np.ndarray]:
        idx, bits = self.idx, self.bits
        n = check_u32(idx.size, "Packed count")
        # Viewed as uint32, negatives become huge, so one max() checks both ends.
        if n and int(idx.view(np.uint32).max()) >> bits:
            raise ValueError(f"Packed values must lie in [0, 2**{bits}), got [{int(idx.min())}, {int(idx.max())}]")
        return _PACKED_SPEC.pack(n, bits), bitpack.pack(idx, bits)

    @classmethod
    def read_spec(cls, reader: Reader, limits: Limits) -> Tuple[int, int]:
        count, bits = _PACKED_SPEC.unpack(reader.take(_PACKED_SPEC.size, "Packed count and bits"))
        if not 1 <= bits <= 16:
            raise MalformedField(f"Packed bits {bits} outside 1..16")
        check_element_count(count, limits, "Packed")
        return count, bits

    @classmethod
    def body_length_error(cls, spec: Tuple[int, int], nbytes: int) -> str | None:
        count, bits = spec
        expected = bitpack.packed_nbytes(count, bits)
        return None if nbytes == expected else f"body of {nbytes} bytes, {count} indices of {bits} bits need {expected}"

    @classmethod
    def from_body(cls, spec: Tuple[int, int], body: memoryview) -> "Packed":
        count, bits = spec
        packed = np.frombuffer(body, dtype=np.uint8)
        used_bits = count * bits % 8
        if used_bits and packed[-1] >> used_bits:
            raise MalformedField("Packed padding bits of the last byte are not zero")
        return cls._trusted(bitpack.unpack(packed, bits, count), bits)

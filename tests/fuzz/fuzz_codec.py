"""Coverage-guided fuzz target for ``fedras.codec.decode`` (atheris / libFuzzer).

Contract under test: any input either decodes to a Message that re-encodes to exactly
the same bytes, or raises a PayloadError. Any other exception, an UnexpectedDecodeError
(the decoder's own "I have a bug" rejection) or a non-canonical accept is a crash.

Each input is decoded twice: as is (exercising the CRC) and with a freshly appended
CRC, so mutations reach the structural checks behind the checksum.

Not collected by pytest (the file name does not match ``test_*.py``). See README.md.
"""
from __future__ import annotations

import os
import sys
import zlib

import inspect
import types

import atheris

from fedras.codec import F32, I64, Packed, PayloadError, RowSet, UnexpectedDecodeError, decode, encode
from fedras.codec.batch_decode import Expect, decode_batch, to_columns


def instrument_package(prefix: str) -> int:
    """Instrument, in place, every function and method defined in ``prefix`` and its submodules.

    ``atheris.instrument_imports`` finds nothing to instrument under an editable install
    (its modules load through scikit-build-core's custom loader), so walk them instead.
    """
    done = set()

    def visit(fn: object) -> None:
        if isinstance(fn, (classmethod, staticmethod)):
            fn = fn.__func__
        if isinstance(fn, types.FunctionType) and id(fn) not in done:
            done.add(id(fn))
            atheris.instrument_func(fn)

    for name, module in list(sys.modules.items()):
        if name != prefix and not name.startswith(prefix + "."):
            continue
        for obj in vars(module).values():
            if getattr(obj, "__module__", None) != name:
                continue  # imported from elsewhere: instrumented where it is defined
            if inspect.isclass(obj):
                for attr in vars(obj).values():
                    visit(attr)
            else:
                visit(obj)
    return len(done)


# The layout of the first seed (a fedras uplink): decode_batch must agree with decode on it.
UPLINK = {"rows": Expect(RowSet, universe=200), "actions": Expect(F32, (None, 8)), "assign": Expect(Packed),
          "n": Expect(I64, ())}


def check(buf: bytes) -> None:
    fast = decode_batch([buf], "fedras/up", UPLINK)
    try:
        msg = decode(buf)
    except UnexpectedDecodeError:
        raise
    except PayloadError:
        if fast.index.size:
            raise AssertionError("decode_batch accepted a payload decode refuses") from None
        return
    if encode(msg) != buf:
        raise AssertionError(f"decode accepted a non-canonical payload of {len(buf)} bytes")
    if fast.index.size:
        expected = to_columns(msg.fields, UPLINK)
        same = all(col.field(0) == expected[name].field(0) for name, col in fast.columns.items())
        if not same or (fast.senders[0], fast.rounds[0]) != (msg.sender, msg.round):
            raise AssertionError("decode_batch decoded a payload differently from decode")


def TestOneInput(data: bytes) -> None:
    check(data)
    check(data + zlib.crc32(data).to_bytes(4, "little"))


def write_seed_corpus(directory: str) -> None:
    """Valid payloads (and the same without their CRC, for the re-CRC path) as seeds."""
    import numpy as np

    from fedras.codec import F16, I8, U8, Message

    rng = np.random.default_rng(0)
    messages = [
        Message("fedras/up", 3, 17, {
            "rows": RowSet(np.sort(rng.choice(200, 40, replace=False)), 200),
            "actions": F32(rng.standard_normal((4, 8)).astype(np.float32)),
            "assign": Packed(rng.integers(0, 4, 40).astype(np.int32), 2),
            "n": I64(np.int64(40)),
        }),
        Message("fedras/down", 9, 0xFFFFFFFF, {
            "rows": RowSet(np.arange(0, 100_000, 4001), 100_000),
            "actions": F16(rng.standard_normal((2, 3)).astype(np.float16)),
            "assign": Packed(rng.integers(0, 512, 25).astype(np.int32), 9),
        }),
        Message("quant/up", 1, 2, {"q": I8(rng.integers(-128, 128, (3, 5)).astype(np.int8)), "b": U8(np.zeros((0,), np.uint8))}),
    ]
    os.makedirs(directory, exist_ok=True)
    for i, msg in enumerate(messages):
        wire = encode(msg)
        for suffix, blob in (("full", wire), ("nocrc", wire[:-4])):
            with open(os.path.join(directory, f"seed{i}_{suffix}"), "wb") as f:
                f.write(blob)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--write-corpus":
        write_seed_corpus(sys.argv[2])
    else:
        print(f"instrumented {instrument_package('fedras.codec')} functions of fedras.codec", flush=True)
        atheris.Setup(sys.argv, TestOneInput)
        atheris.Fuzz()

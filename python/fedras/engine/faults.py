"""Client faults for simulation: devices that go offline mid-round, and payloads that
arrive damaged or hostile. Both are drawn per round from the run seed.

Corruptions cycle through kinds that test every layer of the server:
``truncate`` and ``bitflip`` (caught by the codec: length, CRC), ``nan`` and ``huge``
(valid encodings with non-finite or 1e30-scaled floats: the policy), ``bad_index``
(a bit-packed index pushed to its maximum: the method's field checks) and
``wrong_round`` (a replayed payload: the envelope check).
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

from ..codec import F16, F32, Message, Packed, decode, encode
from ..rng import derive_seed

KINDS = ("truncate", "bitflip", "nan", "huge", "bad_index", "wrong_round")


def _rewrite(wire: bytes, kind: str, rng: np.random.Generator) -> bytes:
    msg = decode(wire)
    fields = dict(msg.fields)
    floats = [k for k, f in fields.items() if isinstance(f, (F32, F16)) and f.array.size]
    packed = [k for k, f in fields.items() if isinstance(f, Packed) and f.idx.size]
    if kind in ("nan", "huge") and floats:
        name = floats[int(rng.integers(len(floats)))]
        arr = fields[name].array.copy()
        if kind == "nan":
            arr.reshape(-1)[int(rng.integers(arr.size))] = np.nan
        else:
            arr *= arr.dtype.type(1e30 if arr.dtype == np.float32 else 6e4)
        fields[name] = type(fields[name])(arr)
    elif kind == "bad_index" and packed:
        name = packed[int(rng.integers(len(packed)))]
        idx = fields[name].idx.copy()
        idx[int(rng.integers(idx.size))] = (1 << fields[name].bits) - 1
        fields[name] = Packed(idx, fields[name].bits)
    elif kind == "wrong_round":
        return encode(Message(msg.kind, msg.round + 1, msg.sender, fields))
    return encode(Message(msg.kind, msg.round, msg.sender, fields))


def corrupt(wire: bytes, kind: str, rng: np.random.Generator) -> bytes:
    """A damaged copy of an encoded payload."""
    if kind == "truncate":
        return wire[: int(rng.integers(0, len(wire)))]
    if kind == "bitflip":
        buf = bytearray(wire)
        for pos in rng.integers(0, len(buf) * 8, size=3):
            buf[pos // 8] ^= 1 << (pos % 8)
        return bytes(buf)
    return _rewrite(wire, kind, rng)


def inject(wires: Sequence[Tuple[int, bytes]], round_: int, seed: int, drop_rate: float,
           corrupt_rate: float) -> Tuple[List[Tuple[int, bytes]], np.ndarray, int]:
    """Apply the round's faults. Returns the wires that reach the server, a bool mask of
    the clients that went offline (in ``wires`` order), and how many were corrupted."""
    rng = np.random.default_rng(derive_seed(seed, round_, "faults"))
    u = rng.random(len(wires))
    offline = u < drop_rate
    damaged = (u >= drop_rate) & (u < drop_rate + corrupt_rate)
    out: List[Tuple[int, bytes]] = []
    for i, (client, wire) in enumerate(wires):
        if offline[i]:
            continue
        if damaged[i]:
            wire = corrupt(wire, KINDS[int(rng.integers(len(KINDS)))], rng)
        out.append((client, wire))
    return out, offline, int(damaged.sum())

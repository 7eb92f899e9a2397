"""Checkpoint and resume: the whole simulation state, written atomically.

Every random choice of a run is keyed by (seed, round, purpose) (see ``fedras.rng``), so
the state is just the tensors and counters: item tables and shared weights (server and
clients), private user embeddings, both error-feedback residuals, the downlink ledger,
and the metrics so far. A resumed run therefore continues bit for bit.

File layout: ``FRCKPT1\\n``, the SHA-256 of the payload (32 bytes), then the payload
(``torch.save`` of plain containers and tensors, loaded with ``weights_only=True``, so a
checkpoint cannot run code). Written to a temp file, fsynced, renamed, and the folder
fsynced: a crash leaves the previous checkpoint or the new one, never half of one.
"""
from __future__ import annotations

import hashlib
import io
import os
from typing import Any, Dict

import torch

from ..config import Config, fingerprint_fields

MAGIC = b"FRCKPT1\n"
FILENAME = "checkpoint.pt"


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or from another configuration."""


def save(state: Dict[str, Any], path: str) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(MAGIC + hashlib.sha256(payload).digest() + payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load(path: str) -> Dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror}") from None
    head = len(MAGIC) + 32
    if len(data) < head or not data.startswith(MAGIC):
        raise CheckpointError(f"{path} is not a fedras checkpoint")
    payload = data[head:]
    if hashlib.sha256(payload).digest() != data[len(MAGIC):head]:
        raise CheckpointError(f"{path} is corrupt (checksum mismatch)")
    try:
        state = torch.load(io.BytesIO(payload), weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing
        raise CheckpointError(f"{path} is corrupt ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or "config" not in state or "round" not in state:
        raise CheckpointError(f"{path} does not hold a simulation state")
    return state


def check_compatible(saved: Dict[str, Any], cfg: Config) -> None:
    """Raise CheckpointError unless ``cfg`` describes the same computation as ``saved``."""
    want = Config.from_dict(saved).to_dict()
    have = cfg.to_dict()
    differ = [k for k in fingerprint_fields() if want.get(k) != have.get(k)]
    if differ:
        detail = ", ".join(f"{k} ({want.get(k)!r} in the checkpoint, {have.get(k)!r} now)" for k in differ)
        raise CheckpointError(f"the checkpoint is from another configuration: {detail}")

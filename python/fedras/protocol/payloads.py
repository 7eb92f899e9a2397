"""The payloads of the protocol: one uplink per client per round, one broadcast per
round. Each has the touched rows as a RowSet, the method's fields, and the shared
weights (NCF) in float32. A round's uplinks are encoded and decoded as a batch
(columns over the clients, see :mod:`fedras.codec.batch`).

Uplink ``<method>/up``: ``rows`` RowSet, the method's fields, ``n`` I64 sample count,
``shared.<name>`` F32 deltas. Broadcast ``<method>/down``: ``rows`` RowSet, either the
method's fields (compressed downlink) or ``new_rows`` F32 new rows (full), and
``shared.<name>`` F32 new global weights.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np

from ..codec import (F32, I64, SERVER_ID, ArrayColumn, Column, Field, Message, PayloadError, RowSet, RowSetColumn, decode,
                     encode_batch)
from ..codec.batch import concat_columns
from ..codec.batch_decode import Decoded, Expect, decode_batch, to_columns
from ..compression.base import InvalidPayload

SHARED_PREFIX = "shared."


def encode_uplinks(method: str, round_: int, clients: Sequence[int], rows: np.ndarray, ptr: np.ndarray,
                   fields: Mapping[str, Column], n_samples: np.ndarray, shared: Mapping[str, np.ndarray],
                   n_items: int) -> Tuple[List[bytes], Dict[str, np.ndarray]]:
    """The uplinks of S clients, encoded: client ``s`` sends its touched rows
    ``rows[ptr[s]:ptr[s + 1]]`` (int64, sorted), its ``fields`` (the method's columns),
    ``n_samples[s]`` (int64 ``[S]``) and ``shared[k][s]`` (float32, leading ``S``).
    Returns the payloads and every field's bytes per payload (see ``encode_batch``)."""
    columns: Dict[str, Column] = {"rows": RowSetColumn(rows, ptr, n_items), **fields,
                                  "n": ArrayColumn(I64, np.asarray(n_samples, dtype=np.int64))}
    columns.update({SHARED_PREFIX + k: ArrayColumn(F32, np.ascontiguousarray(v, dtype=np.float32)) for k, v in shared.items()})
    return encode_batch(f"{method}/up", round_, clients, columns)


def payload_template(n_items: int, fields: Mapping[str, Expect],
                     shared_shapes: Mapping[str, Tuple[int, ...]]) -> Dict[str, Expect]:
    """Every payload's layout: ``rows``, then ``fields``, then the shared weights."""
    return {"rows": Expect(RowSet, universe=n_items), **fields,
            **{SHARED_PREFIX + k: Expect(F32, tuple(shape)) for k, shape in shared_shapes.items()}}


def uplink_template(method_fields: Mapping[str, Expect], n_items: int,
                    shared_shapes: Mapping[str, Tuple[int, ...]]) -> Dict[str, Expect]:
    """The fields of an uplink, in the order :func:`encode_uplinks` writes them."""
    return payload_template(n_items, {**method_fields, "n": Expect(I64, ())}, shared_shapes)


def fit(fields: Mapping[str, Field], template: Mapping[str, Expect]) -> Dict[str, Column]:
    """One decoded payload's fields as one-message columns of ``template``; raises
    InvalidPayload when a field is missing, unexpected or not as expected."""
    try:
        return to_columns(fields, template)
    except ValueError as e:
        raise InvalidPayload(str(e)) from None


def decode_uplinks(wires: Sequence[bytes], method: str, template: Mapping[str, Expect]) -> Tuple[Decoded, Dict[int, str]]:
    """Decode a round's uplinks into columns of ``template``: those of its exact layout
    in one batch (``decode_batch``), the others one by one with ``decode``. Returns the
    decoded uplinks (in wire order; ``index`` says which wire each is) and, per wire
    that does not decode or does not fit the template, the reason."""
    kind = f"{method}/up"
    fast = decode_batch(wires, kind, template)
    groups, errors = [fast], {}
    for i in fast.others.tolist():
        try:
            msg = decode(wires[i])
            if msg.kind != kind:
                raise InvalidPayload(f"kind must be {kind}, got {msg.kind}")
            columns = fit(msg.fields, template)
        except (PayloadError, InvalidPayload) as exc:
            errors[i] = f"{type(exc).__name__}: {exc}"
            continue
        groups.append(Decoded(np.array([i]), np.array([msg.sender]), np.array([msg.round]), columns, np.zeros(0, np.int64)))
    if len(groups) == 1:
        return fast, errors
    index = np.concatenate([g.index for g in groups])
    order = np.argsort(index, kind="stable")
    return Decoded(index[order], np.concatenate([g.senders for g in groups])[order],
                   np.concatenate([g.rounds for g in groups])[order],
                   {name: concat_columns([g.columns[name] for g in groups]).take(order) for name in template},
                   np.zeros(0, np.int64)), errors


def broadcast_message(method: str, round_: int, rows: np.ndarray, fields: Mapping[str, Field],
                      shared: Mapping[str, np.ndarray], n_items: int) -> Message:
    out: Dict[str, Field] = {"rows": RowSet(rows, n_items), **fields}
    out.update({SHARED_PREFIX + k: F32(np.array(v, dtype=np.float32, order="C")) for k, v in shared.items()})
    return Message(f"{method}/down", round_, SERVER_ID, out)


def parse_broadcast(msg: Message, method: str, template: Mapping[str, Expect]) -> Dict[str, Column]:
    """A decoded broadcast's fields as one-message columns of ``template`` (see
    :func:`payload_template`). Raises InvalidPayload."""
    if msg.kind != f"{method}/down" or msg.sender != SERVER_ID:
        raise InvalidPayload(f"not a {method} broadcast from the server: {msg.kind} from {msg.sender}")
    return fit(msg.fields, template)

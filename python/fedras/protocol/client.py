"""The client role, for a batch of clients: error feedback, compression, encoding.

Both engines call this: the batched engine with the whole round, the loop engine with
one client at a time. What leaves a client is bytes.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..compression import Compressor, Context, Updates
from .payloads import encode_uplinks
from .residuals import ResidualStore


def client_uplinks(*, method: str, compressor: Compressor, ctx: Context, updates: Updates,
                   residuals: Optional[ResidualStore], n_samples: Sequence[int],
                   shared_deltas: Dict[str, torch.Tensor], round_: int, n_items: int) -> Tuple[List[Tuple[int, bytes]], object]:
    """Compress and encode the uplink of every client in ``updates``.

    ``n_samples``: loss terms per client (FedAvg weight of shared weights);
    ``shared_deltas``: per-client shared-weight updates (leading dim = clients).
    Returns ``[(client_id, wire bytes)]``, the method's batch (for statistics) and, per
    client, the bytes its method-specific fields take on the wire (int64 ``[S]``).
    """
    values = updates.values
    if residuals is not None:
        values = values + residuals.take(updates.ids, updates.ptr, updates.rows)
    upd = Updates(updates.ids, updates.ptr, updates.rows, values)
    batch = compressor.compress(upd, ctx)
    if residuals is not None:
        residuals.put(upd.ids, upd.ptr, upd.rows, values - compressor.actions(batch).reconstruct(upd.ptr))
    columns = compressor.columns(batch)
    ids = upd.ids.tolist()
    wires, sizes = encode_uplinks(method, round_, ids, upd.rows.cpu().numpy(), upd.ptr.cpu().numpy(), columns,
                                  np.asarray(n_samples, dtype=np.int64),
                                  {k: v.cpu().numpy() for k, v in shared_deltas.items()}, n_items)
    field_bytes = sum((sizes[name] for name in columns), np.zeros(len(ids), dtype=np.int64))
    return list(zip(ids, wires)), batch, field_bytes

"""Recommendation models: MF and NCF (NeuMF), written for a batch of clients.

Shapes use a leading client dimension ``C``: a client's private user embedding is
``u [C, d]``, its item rows ``v [C, L, d]``. Shared weights (NCF's MLP and predictor)
are either the global ones (a dict of tensors without the ``C`` dimension) or one copy
per client (the same dict with a leading ``C``), which is how local training gives
every client its own copy. ``torch.matmul`` broadcasting serves both cases.

- MF: ``score = u . v``. No shared weights.
- NCF (NeuMF, He et al. 2017): a GMF branch ``u * v`` and an MLP branch over
  ``[u, v]`` (2d -> d -> d/2, ReLU), joined by a linear predictor. The user embedding
  and the item table (d each) serve both branches, so the item table is the same
  ``n_items x d`` table as MF's (this project's choice; it keeps every method's
  item-embedding traffic identical across models).
"""
from __future__ import annotations

from typing import Dict

import torch

Shared = Dict[str, torch.Tensor]


class MF:
    """Matrix factorisation: score(u, v) = u . v."""

    name = "mf"

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def init_shared(self, generator: torch.Generator) -> Shared:
        return {}

    def score(self, u: torch.Tensor, v: torch.Tensor, shared: Shared) -> torch.Tensor:
        """u ``[C, d]``, v ``[C, L, d]`` -> scores ``[C, L]`` (float32)."""
        return torch.einsum("cd,cld->cl", u, v)


class NCF:
    """NeuMF with one user embedding and one item table shared by both branches."""

    name = "ncf"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.hidden = (dim, max(dim // 2, 1))

    def init_shared(self, generator: torch.Generator) -> Shared:
        d, (h1, h2) = self.dim, self.hidden

        def glorot(fan_in: int, fan_out: int) -> torch.Tensor:
            bound = (6.0 / (fan_in + fan_out)) ** 0.5
            return (torch.rand(fan_in, fan_out, generator=generator) * 2 - 1) * bound

        return {
            "mlp1.w": glorot(2 * d, h1),
            "mlp1.b": torch.zeros(h1),
            "mlp2.w": glorot(h1, h2),
            "mlp2.b": torch.zeros(h2),
            "out.w": glorot(d + h2, 1)[:, 0].contiguous(),
            "out.b": torch.zeros(()),
        }

    def score(self, u: torch.Tensor, v: torch.Tensor, shared: Shared) -> torch.Tensor:
        """u ``[C, d]``, v ``[C, L, d]``, shared global or per client -> scores ``[C, L]``."""
        per_client = shared["out.b"].dim() == 1
        ue = u[:, None, :].expand_as(v)
        gmf = ue * v
        h = torch.cat([ue, v], dim=-1)

        def bias(b: torch.Tensor) -> torch.Tensor:
            return b[:, None, :] if per_client else b

        h = torch.relu(torch.matmul(h, shared["mlp1.w"]) + bias(shared["mlp1.b"]))
        h = torch.relu(torch.matmul(h, shared["mlp2.w"]) + bias(shared["mlp2.b"]))
        joint = torch.cat([gmf, h], dim=-1)
        w_out = shared["out.w"]
        logits = torch.matmul(joint, w_out[..., None])[..., 0] if per_client else joint @ w_out
        out_b = shared["out.b"][:, None] if per_client else shared["out.b"]
        return logits + out_b


def make_model(name: str, dim: int):
    """The model called ``name`` ("mf" or "ncf") with embedding size ``dim``."""
    if name == "mf":
        return MF(dim)
    if name == "ncf":
        return NCF(dim)
    raise ValueError(f"model must be 'mf' or 'ncf', got {name!r}")

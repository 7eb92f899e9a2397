"""The federated simulation: rounds of select, train, compress, aggregate, broadcast.

Two execution strategies share everything here but :meth:`Simulation._train` and
:meth:`Simulation._uplinks`:

- ``engine="batched"`` (default): every client of the round trains at once (MF: flat
  CSR rows, no padding; NCF: padded buckets of similar-size clients), and one native
  ``segmented_kmeans`` call
  compresses them all;
- ``engine="loop"``: one client at a time through the same functions, with the
  pure-PyTorch reference ops: the plain check of the batched engine.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np
import torch

import fedras_ext
import fedras_ext.reference

from .. import csr, rng
from ..codec import F32, Message, RowSet, encode, encoded_size, field_size
from ..compression import Context, Updates, make_compressor, random_basis
from ..config import Config
from ..data import NegativeSampler, leave_one_out, load_dataset
from ..evaluation import Evaluator
from ..hetero import Fleet, choose_k, kmeans_flops, latency, train_flops
from ..models import make_model
from ..protocol.client import client_uplinks
from ..protocol.ledger import DownlinkLedger
from ..protocol.residuals import ResidualStore
from ..protocol.policy import Policy
from ..protocol.server import Server, apply_broadcast
from ..rounds import buckets, padded_batch, plan_round
from ..training import local_train, train_mf_flat
from ..workspace import Workspace
from .faults import inject
from .memory import keep_freed_memory


@dataclass
class Trained:
    """Local training results of a round, in the plan's CSR order."""

    users: torch.Tensor                 # float32 [C, d] new private embeddings
    updates: Updates                    # item-row updates
    shared: Dict[str, torch.Tensor]     # per-client shared deltas [C, ...]
    n_samples: torch.Tensor             # int64 [C]
    loss: torch.Tensor                  # float32 [C]


class Simulation:
    """A whole federated run described by a :class:`Config`."""

    def __init__(self, cfg: Config, interactions=None) -> None:
        keep_freed_memory()
        self.cfg = cfg
        self.device = torch.device(cfg.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device=cuda but torch sees no CUDA device")
        inter = interactions if interactions is not None else load_dataset(cfg.dataset, **self._synthetic_kwargs())
        self.data_name = inter.name
        self.synthetic = inter.synthetic
        self.split = leave_one_out(inter)
        self.n_users, self.n_items = self.split.n_users, self.split.n_items
        self.train_ptr = torch.as_tensor(self.split.train_ptr).to(self.device)
        self.train_items = torch.as_tensor(self.split.train_items).to(self.device)
        self.sampler = NegativeSampler(self.split, device=self.device)
        self.model = make_model(cfg.model, cfg.dim)
        self.ops = fedras_ext.reference if (cfg.engine == "loop" or cfg.ops == "reference") else fedras_ext

        g = rng.generator(cfg.seed, "init")
        table = (torch.randn(self.n_items, cfg.dim, generator=g) * cfg.init_std).to(self.device)
        self.users = (torch.randn(self.n_users, cfg.dim, generator=g) * cfg.init_std).to(self.device)
        shared = {k: v.to(self.device) for k, v in self.model.init_shared(g).items()}
        self.compressor = make_compressor(cfg)
        self.server = Server(method=cfg.method, compressor=self.compressor, ops=self.ops, table=table.clone(),
                             shared={k: v.clone() for k, v in shared.items()}, server_lr=cfg.server_lr,
                             compressed_downlink=cfg.compressed_downlink, error_feedback=cfg.server_ef,
                             k_global=cfg.k_global,
                             policy=Policy(cfg.clip_norm, cfg.nonfinite, cfg.max_rows_per_client))
        # The clients' copy of the shared state, kept in sync only through broadcasts.
        self.client_table, self.client_shared = table, shared
        self.residuals = (ResidualStore(self.n_items, cfg.dim, self.device)
                          if cfg.client_ef and cfg.method != "fedavg" else None)
        self.fleet = Fleet(cfg.tiers, self.n_users, cfg.seed)
        self.ledger = DownlinkLedger(self.n_users, self._table_bytes(), cfg.compressed_downlink, self._rows_bytes)
        self.evaluator = Evaluator(self.split, self.sampler, n_neg=cfg.eval_negatives, seed=cfg.seed,
                                   device=self.device, dim=cfg.dim)
        self.eligible = torch.nonzero(self.train_ptr.diff() > 0)[:, 0]
        self.history: List[Dict[str, Any]] = []
        self.workspace = Workspace()
        self.round = 0

    # ------------------------------------------------------------------ helpers
    def _synthetic_kwargs(self) -> Dict[str, Any]:
        if self.cfg.dataset != "synthetic":
            return {}
        return {"n_users": self.cfg.synthetic_users, "n_items": self.cfg.synthetic_items,
                "n_interactions": self.cfg.synthetic_interactions, "seed": self.cfg.seed}

    def _shared_np(self) -> Dict[str, np.ndarray]:
        return {k: v.cpu().numpy() for k, v in self.client_shared.items()}

    def _rows_bytes(self, rows: np.ndarray) -> int:
        """Encoded size of a message carrying those rows in float32 (full downlink)."""
        msg = Message(f"{self.cfg.method}/sync", 0, 0, {
            "rows": RowSet(rows, self.n_items), "new_rows": F32(np.zeros((len(rows), self.cfg.dim), np.float32)),
            **{"shared." + k: F32(v) for k, v in self._shared_np().items()}})
        return encoded_size(msg)

    def _table_bytes(self) -> int:
        return self._rows_bytes(np.arange(self.n_items))

    def _dense_uplink_bytes(self, wire_bytes: np.ndarray, field_bytes: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """What fedavg would have uploaded for the same touched rows: the same envelope
        (touched rows, sample count, shared weights) with a float32 ``delta`` in place of
        the method's fields. Exact (the codec's sizes), without encoding it again."""
        kind_change = len("fedavg/up") - len(f"{self.cfg.method}/up")
        empty_delta = field_size("delta", F32(np.empty((0, self.cfg.dim), np.float32)))
        return wire_bytes - field_bytes + kind_change + empty_delta + rows * self.cfg.dim * 4

    def select(self, round_: int) -> torch.Tensor:
        """The round's clients, sorted (int64): all eligible users, or a seeded sample of a
        count or a fraction of them."""
        cpr, n = self.cfg.clients_per_round, self.eligible.numel()
        count = n if cpr == "all" else max(1, round(cpr * n)) if isinstance(cpr, float) else int(cpr)
        if count >= n:
            return self.eligible
        g = np.random.default_rng(rng.derive_seed(self.cfg.seed, round_, "select"))
        pick = g.choice(n, size=count, replace=False)
        return self.eligible[torch.from_numpy(np.sort(pick)).to(self.device)]

    def _basis(self, round_: int) -> Optional[torch.Tensor]:
        if self.cfg.method != "lowrank":
            return None
        return random_basis(self.cfg.lowrank_rank, self.cfg.dim, rng.generator(self.cfg.seed, round_, "basis")).to(self.device)

    # ------------------------------------------------------------------ execution strategies
    def _train(self, plan, basis) -> Trained:
        cfg = self.cfg
        n = plan.n_clients
        if cfg.engine != "loop" and cfg.model == "mf":
            u, delta, n_samples, loss = train_mf_flat(plan, self.client_table, self.users, lr=cfg.lr, user_lr=cfg.user_lr,
                                                      loss=cfg.loss, basis=basis, workspace=self.workspace,
                                                      ops=self.ops)
            return Trained(u, Updates(plan.clients, plan.row_ptr, plan.rows, delta), {}, n_samples, loss)
        if cfg.engine == "loop":
            groups = [torch.tensor([i], device=self.device) for i in range(n)]
        else:
            work = plan.pos_ptr.diff() * (1 + cfg.negatives) + plan.row_ptr.diff()
            groups = buckets(work)
        users = torch.empty(n, cfg.dim, device=self.device)
        values = torch.empty(plan.rows.numel(), cfg.dim, device=self.device)
        shared = {k: torch.empty(n, *v.shape, device=self.device) for k, v in self.client_shared.items()}
        n_samples = torch.empty(n, dtype=torch.int64, device=self.device)
        loss = torch.empty(n, device=self.device)
        for members in groups:
            batch = padded_batch(plan, members, self.client_table, self.users, self.client_shared, basis)
            res = local_train(self.model, batch, lr=cfg.lr, user_lr=cfg.user_lr, loss=cfg.loss)
            users[members] = res.u
            _, mask = csr.padded(plan.row_ptr, plan.rows, members)
            values[csr.gather(plan.row_ptr, members)] = res.delta[mask]
            for k in shared:
                shared[k][members] = res.shared_delta[k]
            n_samples[members] = res.n_samples
            loss[members] = res.loss
        updates = Updates(plan.clients, plan.row_ptr, plan.rows, values)
        return Trained(users, updates, shared, n_samples, loss)

    def _uplinks(self, trained: Trained, ctx: Context, round_: int):
        kwargs = dict(method=self.cfg.method, compressor=self.compressor, residuals=self.residuals,
                      round_=round_, n_items=self.n_items)
        upd = trained.updates
        if self.cfg.engine != "loop":
            wires, _, field_bytes = client_uplinks(ctx=ctx, updates=upd, n_samples=trained.n_samples.tolist(),
                                                   shared_deltas=trained.shared, **kwargs)
            return wires, field_bytes
        wires, field_bytes = [], []
        for s in range(upd.n_segments):
            r0, r1 = int(upd.ptr[s]), int(upd.ptr[s + 1])
            one = Updates(upd.ids[s: s + 1], torch.tensor([0, r1 - r0], device=self.device), upd.rows[r0:r1],
                          upd.values[r0:r1])
            one_ctx = Context(ctx.seed, ctx.ops, None if ctx.k is None else ctx.k[s: s + 1], ctx.basis)
            w, _, fb = client_uplinks(ctx=one_ctx, updates=one, n_samples=[int(trained.n_samples[s])],
                                      shared_deltas={k: v[s: s + 1] for k, v in trained.shared.items()}, **kwargs)
            wires += w
            field_bytes.append(fb)
        return wires, np.concatenate(field_bytes) if field_bytes else np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------------ one round
    def _now(self) -> float:
        """Wall clock for the phase split; on CUDA it first waits for queued kernels, or
        a phase would be charged for the previous phase's asynchronous work."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def run_round(self) -> Dict[str, Any]:
        cfg = self.cfg
        round_ = self.round + 1
        timing: Dict[str, float] = {}
        t0 = self._now()
        clients = self.select(round_)
        clients_np = clients.cpu().numpy()
        down_bytes = self.ledger.catch_up(clients_np, round_)
        plan = plan_round(self.train_ptr, self.train_items, clients, self.sampler, epochs=cfg.local_epochs,
                          n_neg=cfg.negatives, n_items=self.n_items,
                          generator=rng.generator(cfg.seed, round_, "negatives", device=self.device), ops=self.ops)
        basis = self._basis(round_)
        trained = self._train(plan, basis)
        self.users[clients] = trained.users
        timing["train"] = self._now() - t0

        t1 = self._now()
        draws = self.fleet.draw(round_, clients_np, cfg.seed)
        rows_per_client = plan.row_ptr.diff().cpu().numpy()
        tflops = train_flops(cfg.model, trained.n_samples.cpu().numpy(), cfg.local_epochs, cfg.dim)
        if cfg.adaptive:
            k = choose_k(rows_per_client, draws, k_min=cfg.k_min, k_max=cfg.k_max, dim=cfg.dim, n_items=self.n_items,
                         iters=cfg.kmeans_iters, train_flops=tflops, deadline=cfg.deadline_s,
                         bytes_per_value=2 if cfg.action_dtype == "float16" else 4)
        else:
            k = torch.full((plan.n_clients,), cfg.k, dtype=torch.int64)
        k = torch.minimum(k, torch.as_tensor(rows_per_client).clamp(min=1))
        ctx = Context(rng.derive_seed(cfg.seed, round_, "uplink"), self.ops, k.to(self.device), basis)
        wires, field_bytes = self._uplinks(trained, ctx, round_)
        offline = np.zeros(len(wires), dtype=bool)
        corrupted = 0
        if cfg.drop_rate or cfg.corrupt_rate:
            sent, offline, corrupted = inject(wires, round_, cfg.seed, cfg.drop_rate, cfg.corrupt_rate)
        else:
            sent = wires
        up_bytes = np.zeros(len(wires), dtype=np.int64)
        up_bytes[~offline] = [len(w) for _, w in sent]
        timing["compress"] = self._now() - t1

        t2 = self._now()
        inbox, batch = self.server.receive(round_, sent, ctx)
        agg = self.server.aggregate(inbox, batch)
        timing["aggregate"] = self._now() - t2

        t3 = self._now()
        down_ctx = Context(rng.derive_seed(cfg.seed, round_, "downlink"), self.ops, None, basis)
        wire = encode(self.server.broadcast(round_, agg, down_ctx))
        changed = self.server.apply(self.server.table, self.server.shared, wire, down_ctx)
        apply_broadcast(cfg.method, self.compressor, self.ops, self.client_table, self.client_shared, wire,
                        cfg.server_lr, down_ctx)
        # Clients that went offline mid-round miss the broadcast (they catch up later).
        down_bytes[~offline] += self.ledger.deliver(clients_np[~offline], round_, len(wire), changed)
        timing["downlink"] = self._now() - t3

        flops = tflops + (kmeans_flops(rows_per_client, k.numpy(), cfg.dim, cfg.kmeans_iters)
                          if cfg.method == "fedras" else 0.0)
        # The server does not wait for clients that went offline.
        per_client = latency(draws, up_bytes, down_bytes, flops)[~offline]
        row: Dict[str, Any] = {
            "round": round_,
            "clients": int(plan.n_clients),
            "bytes_up": int(up_bytes.sum()),
            "bytes_down": int(down_bytes.sum()),
            "dense_bytes_up": int(self._dense_uplink_bytes(np.array([len(w) for _, w in wires]), field_bytes,
                                                           rows_per_client).sum()),
            "dense_bytes_down": int(self._rows_bytes(changed.numpy()) * len(clients_np)),
            "touched_rows": int(plan.rows.numel()),
            "k_mean": float(k.double().mean()) if cfg.method == "fedras" else None,
            "rejected": len(inbox.rejected),
            "offline": int(offline.sum()),
            "corrupted": corrupted,
            "sim_seconds": float(per_client.max()) if len(per_client) else 0.0,
            "train_loss": float(trained.loss.mean()),
        }
        t4 = self._now()
        if round_ % cfg.eval_every == 0 or round_ == cfg.rounds:
            row.update(self.evaluator.evaluate(self.model, self.users, self.client_table, self.client_shared).as_dict())
        timing["eval"] = self._now() - t4
        row["timing"] = timing
        row["wall_seconds"] = self._now() - t0
        self.round = round_
        self.history.append(row)
        return row

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> Dict[str, Any]:
        """Everything a resumed run needs (see ``engine/checkpoint.py``)."""
        return {
            "format": 1,
            "config": self.cfg.to_dict(),
            "round": self.round,
            "server": {"table": self.server.table, "shared": self.server.shared, "residual": self.server.residual},
            "clients": {"table": self.client_table, "shared": self.client_shared, "users": self.users},
            "residuals": self.residuals.state() if self.residuals is not None else None,
            "ledger": self.ledger.state(),
            "history": self.history,
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        dev = self.device
        self.round = int(state["round"])
        self.server.table = state["server"]["table"].to(dev)
        self.server.shared = {k: v.to(dev) for k, v in state["server"]["shared"].items()}
        residual = state["server"]["residual"]
        self.server.residual = residual.to(dev) if residual is not None else None
        self.client_table = state["clients"]["table"].to(dev)
        self.client_shared = {k: v.to(dev) for k, v in state["clients"]["shared"].items()}
        self.users = state["clients"]["users"].to(dev)
        if self.residuals is not None and state["residuals"] is not None:
            self.residuals.load({k: v.to(dev) for k, v in state["residuals"].items()})
        self.ledger.load(state["ledger"])
        self.history = list(state["history"])

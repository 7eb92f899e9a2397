"""Running a configuration end to end: :func:`run` returns the result dict that
``fedras train`` writes as ``result.json``."""
from __future__ import annotations

import os
import time
from typing import Any, Dict, Optional

from ..config import Config
from ..report import sim_time_to
from . import checkpoint
from .simulation import Simulation


def summarize(cfg: Config, sim: Simulation, wall: float) -> Dict[str, Any]:
    """The result of a finished (or resumed-and-finished) run."""
    rows = sim.history
    evaluated = [r for r in rows if "val_hr10" in r]
    best = max(evaluated, key=lambda r: (r["val_hr10"], r["val_ndcg10"], -r["round"])) if evaluated else None
    bytes_up = sum(r["bytes_up"] for r in rows)
    bytes_down = sum(r["bytes_down"] for r in rows)
    dense = sum(r["dense_bytes_up"] + r["dense_bytes_down"] for r in rows)
    sim_time = sum(r["sim_seconds"] for r in rows)
    reached = sim_time_to({"rounds": rows}, cfg.target_hr) if cfg.target_hr is not None else None
    return {
        "config": cfg.to_dict(),
        "dataset": {"name": sim.data_name, "synthetic": sim.synthetic, "users": sim.n_users, "items": sim.n_items,
                    "evaluated_users": int(sim.evaluator.users.numel()),
                    "skipped_users": sim.evaluator.skipped},
        "best_round": best["round"] if best else None,
        "hr10": best["hr10"] if best else None,
        "ndcg10": best["ndcg10"] if best else None,
        "val_hr10": best["val_hr10"] if best else None,
        "bytes_up": bytes_up,
        "bytes_down": bytes_down,
        "bytes_total": bytes_up + bytes_down,
        "fedavg_equivalent_bytes": dense,
        "reduction_vs_fedavg": 1.0 - (bytes_up + bytes_down) / dense if dense else None,
        "sim_seconds": sim_time,
        "sim_seconds_to_target": reached,
        "rejected_payloads": sum(r["rejected"] for r in rows),
        "rounds": rows,
        "wall_seconds": wall,
    }


def run(cfg: Config, interactions=None, *, progress: Optional[bool] = None,
        resume: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Run ``cfg`` for ``cfg.rounds`` rounds and return its result (see ``summarize``).

    With ``cfg.checkpoint_every = N`` the state is saved to ``cfg.out/checkpoint.pt``
    every N rounds and at the end; ``resume`` (a loaded checkpoint state, see
    :mod:`.checkpoint`) continues a run from where it stopped.
    """
    from tqdm.auto import tqdm

    start = time.perf_counter()
    sim = Simulation(cfg, interactions)
    if resume is not None:
        checkpoint.check_compatible(resume["config"], cfg)
        sim.load_state_dict(resume)
    show = cfg.progress if progress is None else progress
    bar = tqdm(total=cfg.rounds, initial=sim.round, desc=f"{cfg.method}", unit="round", disable=not show,
               leave=False)
    path = os.path.join(cfg.out, checkpoint.FILENAME)
    if cfg.checkpoint_every:
        os.makedirs(cfg.out, exist_ok=True)
    while sim.round < cfg.rounds:
        row = sim.run_round()
        bar.update(1)
        if "hr10" in row:
            bar.set_postfix(hr10=f"{row['hr10']:.3f}", up=f"{row['bytes_up'] / 1e6:.2f}MB")
        if cfg.checkpoint_every and (sim.round % cfg.checkpoint_every == 0 or sim.round == cfg.rounds):
            checkpoint.save(sim.state_dict(), path)
    bar.close()
    return summarize(cfg, sim, time.perf_counter() - start)


__all__ = ["Simulation", "run", "summarize"]

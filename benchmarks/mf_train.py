"""MF local training of one round: train_mf_flat's torch path against the fused native
kernel (fedras_ext.mf_train), on the CPU.

    python benchmarks/mf_train.py [--shapes ml100k,ml1m-synth] [--repeat 5]

Each shape builds its Simulation (MF, d=32, E=2, 4 negatives, every client) and the
plan of round 1, then times the paths interleaved (torch, native, unfused, torch, ...)
in one process after a warm-up of each, so all see the same machine load:
- ``torch``: train_mf_flat's torch ops;
- ``native``: train_mf_flat with the native kernel, which gathers each client's rows
  from the table itself and returns their change;
- ``unfused``: the native kernel on rows gathered before the call, then gathered again
  and subtracted (train_mf_flat before the kernel took the table).
Prints the medians, the largest torch/native difference and whether native and
unfused agree bit for bit.
"""
from __future__ import annotations

import torch

import fedras_ext
from fedras import rng
from fedras.config import Config
from fedras.engine import Simulation
from fedras.rounds import plan_round
from fedras.training import train_mf_flat
from fedras.workspace import Workspace

from alternate import alternate, main_over_shapes, median_ms

SHAPES = {
    "ml100k": dict(dataset="ml-100k"),
    "ml1m-synth": dict(dataset="synthetic", synthetic_users=6040, synthetic_items=3706,
                       synthetic_interactions=1_000_209),
}


def bench(shape: str, repeat: int) -> None:
    sim = Simulation(Config(**SHAPES[shape], progress=False))
    cfg = sim.cfg
    clients = sim.select(1)
    plan = plan_round(sim.train_ptr, sim.train_items, clients, sim.sampler, epochs=cfg.local_epochs,
                      n_neg=cfg.negatives, n_items=sim.n_items, generator=rng.generator(cfg.seed, 1, "negatives"))
    paths = {"torch": (None, Workspace()), "native": (fedras_ext, Workspace()), "unfused": (None, Workspace())}
    table, users = sim.client_table, sim.users

    def unfused(ws: Workspace):
        m, d = plan.rows.numel(), table.shape[1]
        u = torch.index_select(users, 0, plan.clients)
        w = torch.index_select(table, 0, plan.rows, out=ws.take("w", (m, d)))
        fedras_ext.mf_train(w, u, plan.row_ptr, plan.pos_ptr, plan.pos_row, plan.neg_row, lr=cfg.lr,
                            user_lr=cfg.user_lr, loss=cfg.loss, validate=False)
        start = torch.index_select(table, 0, plan.rows, out=ws.take("delta", (m, d)))
        return u, torch.sub(w, start, out=start)

    def once(name: str):
        ops, ws = paths[name]
        return lambda: (unfused(ws) if name == "unfused" else train_mf_flat(
            plan, table, users, lr=cfg.lr, user_lr=cfg.user_lr, loss=cfg.loss, workspace=ws, ops=ops))

    # The warm-up round is also the workspaces' first touch; its results are compared.
    times, results = alternate({name: once(name) for name in paths}, repeat)
    diff = max(float((a - b).abs().max()) for a, b in zip(results["torch"], results["native"]) if a.is_floating_point())
    same = all(torch.equal(a, b) for a, b in zip(results["native"][:2], results["unfused"]))
    med = {name: median_ms(v) for name, v in times.items()}
    print(f"{shape}: {plan.n_clients} clients, {plan.rows.numel()} rows, {plan.pos_row.numel()} positives, "
          f"threads {torch.get_num_threads()}")
    for name in paths:
        print(f"  {name:6s} median {med[name]:8.1f} ms   runs " + " ".join(f"{t * 1e3:.1f}" for t in times[name]))
    print(f"  speedup {med['torch'] / med['native']:.2f}x   max |torch - native| {diff:.2e}   "
          f"native == unfused bit for bit: {same}")


if __name__ == "__main__":
    main_over_shapes(__doc__, bench, repeat=5)

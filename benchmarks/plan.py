"""A round's plan on the CPU: the native touched_rows against its torch reference.

    python benchmarks/plan.py [--shapes ml100k,ml1m-synth] [--repeat 7]

Each shape builds its Simulation (benchmarks/round.py's shapes) and samples round 1's
negatives once; then the two versions of touched_rows run on the same inputs,
interleaved (native, reference, native, ...) in one process. Prints the medians and
whether the outputs are identical.
"""
from __future__ import annotations

import torch

import fedras_ext
import fedras_ext.reference
from fedras import rng
from fedras.rounds import plan_round

from alternate import alternate, main_over_shapes, median_ms


def bench(shape: str, repeat: int) -> None:
    from round import simulation  # benchmarks/round.py

    sim = simulation(shape, "batched", "cpu", 1)
    cfg = sim.cfg
    plan = plan_round(sim.train_ptr, sim.train_items, sim.select(1), sim.sampler, epochs=cfg.local_epochs,
                      n_neg=cfg.negatives, n_items=sim.n_items, generator=rng.generator(cfg.seed, 1, "negatives"))
    args = (plan.pos_ptr, plan.pos_items, plan.neg_items, sim.n_items)
    times, outs = alternate({"native": lambda: fedras_ext.touched_rows(*args),
                             "reference": lambda: fedras_ext.reference.touched_rows(*args)}, repeat)
    same = all(torch.equal(a, b) for a, b in zip(outs["native"], outs["reference"]))
    print(f"{shape}: {plan.n_clients} clients, {plan.rows.numel()} rows, "
          f"{plan.pos_items.numel() + plan.neg_items.numel()} samples, threads {torch.get_num_threads()}")
    for name, ts in times.items():
        print(f"  {name:9s} median {median_ms(ts):8.1f} ms")
    print(f"  identical: {same}")


if __name__ == "__main__":
    main_over_shapes(__doc__, bench, repeat=7)

"""segmented_kmeans time by segment layout: many small segments (a round's uplinks) to
one huge one (a server's downlink clustering), on one device.

    python benchmarks/kmeans_shapes.py [--device cuda] [--repeat 3] [--iters 10] [--only TEXT]
                                       [--round ml1m-synth] [--pruning both]

Random rows (d=32), ``--iters`` iterations at most (0: the k-means++ seeding and one
assignment pass), tol 1e-4; ``--only`` keeps the layouts whose name contains TEXT.
Prints the median time of each layout and a rate: the assignment passes' flops
(2 * rows * k * d a pass) over the whole time, seeding included, so a lower bound.
Runs at ``--iters 0`` and ``--iters N`` give the seeding's time and a pass's by difference.

Random rows have no cluster structure, so the CPU op's exact pruning (see
``segmented_kmeans``) switches itself off early on them. ``--round SHAPE`` adds the real
thing: the uplink clustering of one round of ``benchmarks/round.py``'s SHAPE, captured
from a simulation and timed with the pruning on and off (``FEDRAS_KMEANS_PRUNE``);
``--pruning both`` times the random layouts both ways too.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

import fedras_ext as fx
from round import captured_call

LAYOUTS = [  # (name, segment sizes, k)
    ("6,040 x 250 (k=16)", [250] * 6040, 16),
    ("6,040 x 1,000 (k=16)", [1000] * 6040, 16),
    ("1,500 x 4,000 (k=16)", [4000] * 1500, 16),
    ("100k x 200 (k=8)", [200] * 100_000, 8),
    ("1 x 3,706 (k=32)", [3706], 32),
    ("1 x 100k (k=32)", [100_000], 32),
    ("1 x 1M (k=32)", [1_000_000], 32),
]


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_variants(device: str, repeat: int, variants, call) -> dict:
    """Median seconds and last result of ``call(r)`` per variant, ``repeat`` timed calls
    each after one warm-up. A variant is a ``FEDRAS_KMEANS_PRUNE`` value (None: leave the
    environment alone); variants alternate call by call, so that a noisy machine treats
    them alike."""
    times: dict = {v: [] for v in variants}
    results: dict = {}
    before = os.environ.get("FEDRAS_KMEANS_PRUNE")
    try:
        for r in range(repeat + 1):  # the first round of calls warms up
            for v in variants:
                if v is not None:
                    os.environ["FEDRAS_KMEANS_PRUNE"] = v
                sync(device)
                t = time.perf_counter()
                results[v] = call(r)
                sync(device)
                if r:
                    times[v].append(time.perf_counter() - t)
    finally:
        if before is None:
            os.environ.pop("FEDRAS_KMEANS_PRUNE", None)
        else:
            os.environ["FEDRAS_KMEANS_PRUNE"] = before
    return {v: (statistics.median(times[v]), results[v]) for v in variants}


def print_rows(name: str, rows: int, k: int, d: int, timed: dict) -> None:
    for v, (seconds, res) in timed.items():
        label = {None: name, "1": f"{name} pruned", "0": f"{name} unpruned"}[v]
        iters = float(res.n_iter.double().mean())
        flops = 2.0 * rows * k * d * (iters + 1)
        print(f"{label:<34} {rows:>10,} {seconds * 1e3:>10.2f} {iters:>10.1f} {flops / seconds / 1e9:>8.1f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--only", default="")
    p.add_argument("--round", default="", help="also time the uplink of a round of this round.py shape "
                   "(e.g. ml1m-synth), with the CPU pruning on and off")
    p.add_argument("--pruning", choices=["default", "both"], default="default",
                   help="both: time the random layouts with the CPU pruning on and off, alternating")
    args = p.parse_args()
    both = ("1", "0") if args.device == "cpu" else (None,)
    print(f"{'layout':<34} {'rows':>10} {'median ms':>10} {'mean iters':>10} {'GFLOP/s':>8}")
    for name, sizes, k in LAYOUTS:
        if args.only not in name:
            continue
        ptr = torch.zeros(len(sizes) + 1, dtype=torch.int64)
        ptr[1:] = torch.tensor(sizes).cumsum(0)
        x = torch.randn(int(ptr[-1]), args.dim, generator=torch.Generator().manual_seed(0)).to(args.device) * 0.01
        offsets = ptr.to(args.device)
        timed = time_variants(args.device, args.repeat, both if args.pruning == "both" else (None,),
                              lambda r: fx.segmented_kmeans(x, offsets, k, iters=args.iters, tol=1e-4, seed=r))
        print_rows(name, x.shape[0], k, args.dim, timed)
    if args.round:
        (x, offsets, k_arg, *rest), kw = captured_call(args.round, "segmented_kmeans", args.device)
        k = k_arg if isinstance(k_arg, int) else int(torch.as_tensor(k_arg).max())
        timed = time_variants(args.device, args.repeat, both,
                              lambda r: fx.segmented_kmeans(x, offsets, k_arg, *rest, **kw))
        print_rows(f"{args.round} round uplink", x.shape[0], k, x.shape[1], timed)


if __name__ == "__main__":
    main()

"""segmented_kmeans time by segment layout: many small segments (a round's uplinks) to
one huge one (a server's downlink clustering), on one device.

    python benchmarks/kmeans_shapes.py [--device cuda] [--repeat 3] [--iters 10] [--only TEXT]

Random rows (d=32), ``--iters`` iterations at most (0: the k-means++ seeding and one
assignment pass), tol 1e-4; ``--only`` keeps the layouts whose name contains TEXT.
Prints the median time of each layout and a rate: the assignment passes' flops
(2 * rows * k * d a pass) over the whole time, seeding included, so a lower bound.
Runs at ``--iters 0`` and ``--iters N`` give the seeding's time and a pass's by difference.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

import fedras_ext as fx

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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--only", default="")
    args = p.parse_args()
    print(f"{'layout':<24} {'rows':>10} {'median ms':>10} {'mean iters':>10} {'GFLOP/s':>8}")
    for name, sizes, k in LAYOUTS:
        if args.only not in name:
            continue
        ptr = torch.zeros(len(sizes) + 1, dtype=torch.int64)
        ptr[1:] = torch.tensor(sizes).cumsum(0)
        x = torch.randn(int(ptr[-1]), args.dim, generator=torch.Generator().manual_seed(0)).to(args.device) * 0.01
        offsets = ptr.to(args.device)
        times = []
        for r in range(args.repeat + 1):  # the first is a warm-up
            sync(args.device)
            t = time.perf_counter()
            res = fx.segmented_kmeans(x, offsets, k, iters=args.iters, tol=1e-4, seed=r)
            sync(args.device)
            times.append(time.perf_counter() - t)
        med = statistics.median(times[1:])
        iters = float(res.n_iter.double().mean())
        flops = 2.0 * x.shape[0] * k * args.dim * (iters + 1)
        print(f"{name:<24} {x.shape[0]:>10,} {med * 1e3:>10.2f} {iters:>10.1f} {flops / med / 1e9:>8.1f}")


if __name__ == "__main__":
    main()

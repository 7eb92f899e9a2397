"""Per-round time of the simulation, split by phase, batched engine against the loop.

    python benchmarks/round.py [--shapes ml100k,ml1m-synth,scale] [--device cpu|cuda]
                               [--rounds N] [--loop-rounds N] [--json out.json]
    python benchmarks/round.py --profile ml1m-synth [--device cuda]

For each shape, each engine runs in its own subprocess (so peak memory is per run):
a warm-up round, then ``--rounds`` timed rounds; the table shows the median per phase
(train, compress, aggregate, downlink, eval) and in total, and the process's peak RSS.

Shapes (MF, d=32, fedras k=16, E=2, every client in every round):
- ``ml100k``: MovieLens-100K, 943 clients;
- ``ml1m-synth``: synthetic at ML-1M's size (6,040 users, 3,706 items, 1M interactions);
- ``scale``: synthetic, 100k clients over 1M items (2.5M interactions), k=8.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Optional

SHAPES = {
    "ml100k": dict(dataset="ml-100k"),
    "ml1m-synth": dict(dataset="synthetic", synthetic_users=6040, synthetic_items=3706,
                       synthetic_interactions=1_000_209),
    "scale": dict(dataset="synthetic", synthetic_users=100_000, synthetic_items=1_000_000,
                  synthetic_interactions=2_500_000, k=8, k_global=32),
}
PHASES = ("train", "compress", "aggregate", "downlink", "eval")


def simulation(shape: str, engine: str, device: str, rounds: int, overrides: Optional[dict] = None):
    from fedras.config import Config
    from fedras.engine import Simulation

    return Simulation(Config(**{**SHAPES[shape], **(overrides or {})}, engine=engine, device=device, rounds=rounds,
                             progress=False))


def captured_call(shape: str, op: str, device: str):
    """(args, kwargs) of the largest ``fedras_ext.<op>`` call (by its largest tensor) in
    the second round of ``shape``, tensors cloned before the call could change them."""
    import torch

    import fedras_ext as fx

    sim = simulation(shape, "batched", device, 2)
    sim.run_round()
    calls, real = [], getattr(fx, op)

    def spy(*args, **kwargs):
        calls.append(([a.clone() if torch.is_tensor(a) else a for a in args],
                      {k: v.clone() if torch.is_tensor(v) else v for k, v in kwargs.items()}))
        return real(*args, **kwargs)

    setattr(fx, op, spy)
    try:
        sim.run_round()
    finally:
        setattr(fx, op, real)
    if not calls:
        raise SystemExit(f"a round of {shape} made no {op} call")
    return max(calls, key=lambda c: max(a.numel() for a in c[0] if torch.is_tensor(a)))


def profile(shape: str, device: str) -> None:
    """After a warm-up round: the Python functions of one round by own time (cProfile)
    and, on CUDA, the kernels of another by GPU time (torch.profiler)."""
    import cProfile
    import pstats

    import torch

    sim = simulation(shape, "batched", device, 3)
    sim.run_round()
    prof = cProfile.Profile()
    prof.runcall(sim.run_round)
    pstats.Stats(prof).sort_stats("tottime").print_stats(30)
    if device == "cuda":
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as tp:
            sim.run_round()
            torch.cuda.synchronize()
        print(tp.key_averages().table(sort_by="cuda_time_total", row_limit=25))


def child(shape: str, engine: str, device: str, rounds: int, overrides: dict) -> None:
    """Run inside the subprocess: print one JSON line with the timings."""
    t = time.perf_counter()
    sim = simulation(shape, engine, device, rounds + 1, overrides)
    setup = time.perf_counter() - t
    rows = [sim.run_round() for _ in range(rounds + 1)][1:]  # the first round warms up
    if device == "cuda":
        import torch

        torch.cuda.synchronize()
        peak_gpu = torch.cuda.max_memory_allocated() / 2**30
    else:
        peak_gpu = None
    out = {
        "shape": shape, "engine": engine, "device": device, "rounds": rounds, "setup_s": setup,
        "clients": rows[0]["clients"], "touched_rows": rows[0]["touched_rows"],
        "phases": {p: statistics.median(r["timing"][p] for r in rows) for p in PHASES},
        "round_s": statistics.median(sum(r["timing"][p] for p in PHASES) for r in rows),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "peak_gpu_gib": peak_gpu,
    }
    print(json.dumps(out))


def measure(shape: str, engine: str, device: str, rounds: int, timeout: int, overrides: dict):
    cmd = [sys.executable, __file__, "--child", shape, engine, device, str(rounds), json.dumps(overrides)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=os.path.dirname(__file__))
    except subprocess.TimeoutExpired:
        return {"shape": shape, "engine": engine, "device": device, "error": f"over {timeout} s"}
    if proc.returncode != 0:
        return {"shape": shape, "engine": engine, "device": device, "error": proc.stderr.strip().splitlines()[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), json.loads(sys.argv[6]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--profile":
        device = sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else "cpu"
        profile(sys.argv[2], device)
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", default="ml100k,ml1m-synth,scale")
    p.add_argument("--device", default="cpu")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--loop-rounds", type=int, default=1, help="timed rounds of the (slow) loop engine; 0 skips it")
    p.add_argument("--loop-shapes", default="ml100k", help="shapes the loop engine also runs")
    p.add_argument("--timeout", type=int, default=1800)
    p.add_argument("--kmeans-iters", type=int, help="override the config's kmeans_iters (default: the config's)")
    p.add_argument("--json")
    args = p.parse_args()
    overrides = {} if args.kmeans_iters is None else {"kmeans_iters": args.kmeans_iters}
    results = []
    for shape in args.shapes.split(","):
        results.append(measure(shape, "batched", args.device, args.rounds, args.timeout, overrides))
        if args.loop_rounds and shape in args.loop_shapes.split(","):
            results.append(measure(shape, "loop", args.device, args.loop_rounds, args.timeout, overrides))
    print(f"{'shape':<11} {'engine':<8} {'dev':<5} {'clients':>7} {'rows':>10} "
          + " ".join(f"{p:>9}" for p in PHASES) + f" {'round s':>8} {'speedup':>8} {'peak GiB':>8}")
    batched = {}
    for r in results:
        if "error" in r:
            print(f"{r['shape']:<11} {r['engine']:<8} {r['device']:<5} error: {r['error']}")
            continue
        if r["engine"] == "batched":
            batched[r["shape"]] = r["round_s"]
        speed = batched.get(r["shape"]) and r["round_s"] / batched[r["shape"]]
        print(f"{r['shape']:<11} {r['engine']:<8} {r['device']:<5} {r['clients']:>7} {r['touched_rows']:>10} "
              + " ".join(f"{r['phases'][p]:>9.3f}" for p in PHASES)
              + f" {r['round_s']:>8.3f} {(f'{speed:.1f}x' if r['engine'] == 'loop' else ''):>8} "
              + f"{r['peak_rss_gib']:>8.2f}" + (f" (GPU {r['peak_gpu_gib']:.2f})" if r.get("peak_gpu_gib") else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()

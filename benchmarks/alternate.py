"""Timing versions of one computation side by side: each called in turn, round after
round, in one process, so a noisy machine treats them alike (the benchmarks' rule)."""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Callable, Dict, List, Tuple


def alternate(funcs: Dict[str, Callable[[], Any]], repeat: int,
              warmup: bool = True) -> Tuple[Dict[str, List[float]], Dict[str, Any]]:
    """Call every function in turn, ``repeat`` rounds (after one untimed round when
    ``warmup``): the seconds of each call by name, and each function's first result."""
    first: Dict[str, Any] = {}
    times: Dict[str, List[float]] = {name: [] for name in funcs}
    for r in range(repeat + int(warmup)):
        for name, f in funcs.items():
            t = time.perf_counter()
            out = f()
            if r >= int(warmup):
                times[name].append(time.perf_counter() - t)
            first.setdefault(name, out)
    return times, first


def median_ms(seconds: List[float]) -> float:
    return statistics.median(seconds) * 1e3


def main_over_shapes(doc: str, bench: Callable[[str, int], None], repeat: int) -> None:
    """A benchmark's CLI: ``--shapes a,b`` (round.py shapes) and ``--repeat N``, then
    ``bench(shape, repeat)`` for each shape."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--shapes", default="ml100k,ml1m-synth")
    p.add_argument("--repeat", type=int, default=repeat)
    args = p.parse_args()
    for shape in args.shapes.split(","):
        bench(shape, args.repeat)

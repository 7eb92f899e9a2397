"""One native op from two builds of fedras_ext, timed in one process, alternating.

    python benchmarks/builds.py --other PATH/_C.cpython-*.so [--op segmented_kmeans]
                                [--shape ml1m-synth] [--repeat 5]

The op's arguments are captured from a round of ``benchmarks/round.py``'s SHAPE (its
largest call in the second round). Each timed call runs either this build's ``_C`` or
the other one, swapped into the op's module, so the wrapper, the inputs and the machine
are the same; calls alternate, and in-place arguments are cloned before every call
(outside the timing). The table gives the median of each build and whether their
outputs have the same bits. Build the other version from an earlier commit, e.g.::

    git worktree add /tmp/base <commit>
    cmake -S /tmp/base -B /tmp/build-base -G Ninja -DCMAKE_BUILD_TYPE=Release -DFEDRAS_CUDA=OFF \\
        -DPython_EXECUTABLE=$(which python) -Dpybind11_DIR=$(python -m pybind11 --cmakedir)
    cmake --build /tmp/build-base
"""
from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import statistics
import sys
import time

import torch

import fedras_ext as fx
from round import captured_call

MODULES = {"segmented_kmeans": "fedras_ext.kmeans", "apply_actions": "fedras_ext.scatter",
           "mf_train": "fedras_ext.mf_train"}  # the module whose _C each op calls


def load_build(path: str):
    """Another build's compiled module, loaded beside this one's under its own name."""
    name = "fedras_other_build._C"  # the last part must stay "_C": it names the init function
    loader = importlib.machinery.ExtensionFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def outputs(result, args) -> list:
    """What a call produced: its result's tensors and its (in-place) tensor arguments."""
    res = list(result) if isinstance(result, tuple) else [result]
    return [t for t in res + list(args) if torch.is_tensor(t)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--other", required=True, help="path of the other build's _C shared library")
    p.add_argument("--op", choices=sorted(MODULES), default="segmented_kmeans")
    p.add_argument("--shape", default="ml1m-synth")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    module = sys.modules[MODULES[args.op]]
    builds = {"this build": module._C, "other build": load_build(args.other)}
    call_args, call_kwargs = captured_call(args.shape, args.op, "cpu")
    call_kwargs["validate"] = False  # time the work, not the checks
    op = getattr(fx, args.op)
    times = {name: [] for name in builds}
    last = {}
    for r in range(args.repeat + 1):  # the first round warms up
        for name, native in (builds.items() if r % 2 == 0 else reversed(list(builds.items()))):
            a = [t.clone() if torch.is_tensor(t) else t for t in call_args]
            module._C = native
            try:
                t0 = time.perf_counter()
                res = op(*a, **call_kwargs)
                seconds = time.perf_counter() - t0
            finally:
                module._C = builds["this build"]
            if r:
                times[name].append(seconds)
            last[name] = outputs(res, a)
    same = all(torch.equal(x, y) for x, y in zip(last["this build"], last["other build"]))
    print(f"{args.op} on a {args.shape} round, median of {args.repeat} alternating calls:")
    for name, ts in times.items():
        print(f"  {name:<12} {statistics.median(ts) * 1e3:9.1f} ms   ({' '.join(f'{t * 1e3:.0f}' for t in ts)})")
    print(f"  outputs: {'the same bits' if same else 'DIFFERENT'}")


if __name__ == "__main__":
    main()

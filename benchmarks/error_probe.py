"""Does an error raised inside fedras_ext._C reach Python intact on this machine?

    python benchmarks/error_probe.py

Each case runs in its own process, so a crash (a signal) is reported rather than
ending the probe: a CPU value error, a CUDA metadata error (raised before any CUDA
call) and a CUDA value error (raised after the check kernels ran). With --case NAME it
runs one case in this process (what the subprocesses do, and what to put under a
debugger). Exit status 0 only if every case raised the expected Python exception.
"""
from __future__ import annotations

import json
import subprocess
import sys

CASES = ("cpu_value", "cuda_metadata", "cuda_value")


def run_case(name: str) -> None:
    import torch

    import fedras_ext as fx

    device = "cpu" if name.startswith("cpu") else "cuda"
    table = torch.zeros(5, 4, device=device)
    rows = torch.tensor([9 if name.endswith("value") else 1], device=device)
    if name == "cuda_metadata":
        table = table.double()
    args = (rows, torch.zeros(1, dtype=torch.int32, device=device), torch.zeros(1, 4, device=device),
            torch.tensor([0, 1], device=device), torch.zeros(1, dtype=torch.int32, device=device))
    try:
        fx.apply_actions(table, *args)
    except (ValueError, IndexError) as e:
        print(f"raised {type(e).__name__}: {e}")
        return
    raise SystemExit("no exception was raised")


def torch_pybind11() -> str:
    """Version and internals version of the pybind11 headers torch ships (what it was built with)."""
    import os
    import re

    import torch

    inc = os.path.join(os.path.dirname(torch.__file__), "include", "pybind11", "detail")
    try:
        common = open(os.path.join(inc, "common.h")).read()
        internals = open(os.path.join(inc, "internals.h")).read()
    except OSError:
        return "unknown (torch ships no pybind11 headers)"
    ver = ".".join(re.search(rf"#define PYBIND11_VERSION_{p} (\d+)", common).group(1) for p in ("MAJOR", "MINOR", "PATCH"))
    iv = re.search(r"#\s*define PYBIND11_INTERNALS_VERSION (\d+)", internals)
    return f"{ver} (internals v{iv.group(1) if iv else '?'})"


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--case":
        run_case(sys.argv[2])
        return 0
    import fedras_ext

    info = fedras_ext.build_info()
    print(json.dumps({k: info[k] for k in ("cuda_compiled", "gpu_available", "pybind11", "pybind11_internals_id",
                                           "compiler")}))
    print("torch's bundled pybind11:", torch_pybind11())
    ok = True
    for case in CASES:
        if case.startswith("cuda") and not info["gpu_available"]:
            print(f"{case:14s} skipped (no GPU)")
            continue
        proc = subprocess.run([sys.executable, __file__, "--case", case], capture_output=True, text=True)
        last = (proc.stdout.strip().splitlines() or proc.stderr.strip().splitlines() or [""])[-1]
        print(f"{case:14s} rc={proc.returncode:<4d} {last}")
        ok &= proc.returncode == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

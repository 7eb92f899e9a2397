"""Native ops against their PyTorch references, side by side in one process.

    python benchmarks/ops.py [--device cpu|cuda|all] [--repeat N] [--json out.json] [--quick]

Prints one row per op, shape and device: the native time, the reference time and
their ratio (medians of ``--repeat`` runs). Shapes:

- ``round``: a real FedRAS round on ML-100K, 943 clients x 410 rows, d=32, k=16;
- ``large``: 1,024 segments x 1,024 rows, d=32, k=32.

Extra comparators where installed: scikit-learn's KMeans and faiss's k-means looped
over segments, and ``torch.bmm`` on the assignment step's shapes (the matrix-multiply
bar for the distance computation). On CUDA it also reports achieved memory bandwidth
against a measured device-to-device copy.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Callable, Dict, List, Optional

import torch

import fedras_ext as fx
import fedras_ext.reference as ref

SHAPES = {
    "round": dict(segments=943, rows=410, dim=32, k=16),
    "large": dict(segments=1024, rows=1024, dim=32, k=32),
}
ITERS, TOL = 25, 1e-4


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], object], device: str, repeat: int) -> float:
    """Median seconds of ``repeat`` runs after one warm-up."""
    fn()
    sync(device)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def make_case(shape: str, device: str, seed: int = 0):
    s = SHAPES[shape]
    g = torch.Generator().manual_seed(seed)
    n = s["segments"] * s["rows"]
    x = torch.randn(n, s["dim"], generator=g)
    offsets = torch.arange(0, n + 1, s["rows"], dtype=torch.int64)
    return x.to(device), offsets.to(device), s


def row(op: str, shape: str, device: str, native: float, other: float, other_name: str, extra: str = "") -> Dict:
    return {"op": op, "shape": shape, "device": device, "native_ms": native * 1e3, "baseline": other_name,
            "baseline_ms": other * 1e3, "speedup": other / native if native > 0 else float("nan"), "note": extra}


def bench_kmeans(shape: str, device: str, repeat: int, quick: bool) -> List[Dict]:
    x, off, s = make_case(shape, device)
    k = s["k"]
    native = lambda: fx.segmented_kmeans(x, off, k, iters=ITERS, tol=TOL, seed=1)  # noqa: E731
    t_native = timed(native, device, repeat)
    res = native()
    passes = int(res.n_iter.sum()) + 2 * s["segments"]  # Lloyd passes + init (about one pass of work)
    gflops = 2.0 * x.shape[0] / s["segments"] * k * s["dim"] * passes / t_native / 1e9
    out = []
    # Reference looped per segment: slow, so time a slice and scale (it is linear in segments).
    part = 64 if quick or shape == "large" else s["segments"]
    xs, offs = x[: part * s["rows"]].cpu(), off[: part + 1].cpu()
    t_ref = timed(lambda: ref.segmented_kmeans(xs, offs, k, iters=ITERS, tol=TOL, seed=1), "cpu", 1 if part > 100 else repeat)
    t_ref *= s["segments"] / part
    out.append(row("segmented_kmeans", shape, device, t_native, t_ref, "reference loop", f"{gflops:.1f} GFLOP/s"))
    t_pad = timed(lambda: ref.segmented_kmeans_padded(x, off, k, iters=ITERS, tol=TOL, seed=1), device, max(1, repeat // 2))
    out.append(row("segmented_kmeans", shape, device, t_native, t_pad, "batched torch"))
    # The assignment step as one bmm: [S, rows, d] x [S, d, k], the matrix-multiply bar.
    xb = x.view(s["segments"], s["rows"], s["dim"])
    cb = xb[:, :k, :].transpose(1, 2).contiguous()
    t_mm = timed(lambda: torch.bmm(xb, cb), device, repeat)
    mm_gflops = 2.0 * x.shape[0] * k * s["dim"] / t_mm / 1e9
    per_pass = t_native / max(passes / s["segments"], 1)
    out.append(row("kmeans pass vs bmm", shape, device, per_pass, t_mm, "torch.bmm (scores only)",
                   f"bmm {mm_gflops:.1f} GFLOP/s"))
    if device == "cpu":
        out += bench_kmeans_libraries(x, off, s, t_native, shape)
    return out


def bench_kmeans_libraries(x, off, s, t_native: float, shape: str) -> List[Dict]:
    out = []
    part = 32
    xs = x[: part * s["rows"]].numpy()
    try:
        from sklearn.cluster import KMeans

        def sk():
            for i in range(part):
                KMeans(n_clusters=s["k"], n_init=1, max_iter=ITERS, tol=TOL, random_state=1).fit(
                    xs[i * s["rows"]:(i + 1) * s["rows"]])

        t = timed(sk, "cpu", 1) * s["segments"] / part
        out.append(row("segmented_kmeans", shape, "cpu", t_native, t, "sklearn KMeans loop"))
    except ImportError:
        pass
    try:
        import faiss

        def fa():
            for i in range(part):
                km = faiss.Kmeans(s["dim"], s["k"], niter=ITERS, seed=1, verbose=False)
                km.train(xs[i * s["rows"]:(i + 1) * s["rows"]])

        t = timed(fa, "cpu", 1) * s["segments"] / part
        out.append(row("segmented_kmeans", shape, "cpu", t_native, t, "faiss Kmeans loop"))
    except ImportError:
        pass
    return out


def bench_project(shape: str, device: str, repeat: int) -> List[Dict]:
    x, off, s = make_case(shape, device)
    dirs = torch.randn(s["segments"] * s["k"], s["dim"], device=device)
    doff = torch.arange(0, dirs.shape[0] + 1, s["k"], dtype=torch.int64, device=device)
    t_native = timed(lambda: fx.project_directions(x, off, dirs, doff), device, repeat)
    t_ref = timed(lambda: ref.project_directions(x, off, dirs, doff), device, max(1, repeat // 2))
    return [row("project_directions", shape, device, t_native, t_ref, "reference loop")]


def scatter_case(shape: str, device: str, n_items: int = 1682):
    s = SHAPES[shape]
    g = torch.Generator().manual_seed(0)
    rows = torch.cat([torch.randperm(n_items, generator=g)[: s["rows"]] for _ in range(s["segments"])])
    seg = torch.arange(s["segments"], dtype=torch.int32).repeat_interleave(s["rows"])
    idx = torch.randint(0, s["k"], (rows.numel(),), generator=g, dtype=torch.int32)
    actions = torch.randn(s["segments"] * s["k"], s["dim"], generator=g)
    aoff = torch.arange(0, actions.shape[0] + 1, s["k"], dtype=torch.int64)
    table = torch.randn(n_items, s["dim"], generator=g)
    return [t.to(device) for t in (table, rows, idx, actions, aoff, seg)]


def bench_apply(shape: str, device: str, repeat: int, copy_gbs: Optional[float]) -> List[Dict]:
    table, rows, idx, actions, aoff, seg = scatter_case(shape, device)
    out = []
    for det in (True, False) if device == "cuda" else (True,):
        t_native = timed(lambda det=det: fx.apply_actions(table, rows, idx, actions, aoff, seg, deterministic=det,
                                                          validate=False), device, repeat)
        t_ref = timed(lambda: ref.apply_actions(table, rows, idx, actions, aoff, seg), device, repeat)
        moved = rows.numel() * (table.shape[1] * 4 + 8 + 4 + 4) + 2 * table.numel() * 4
        note = f"{moved / t_native / 1e9:.1f} GB/s" + (f" of {copy_gbs:.0f} (copy)" if copy_gbs else "")
        out.append(row(f"apply_actions{'' if det else ' (atomic)'}", shape, device, t_native, t_ref,
                       "reference index_add_", note))
    return out


def bench_pack(shape: str, device: str, repeat: int) -> List[Dict]:
    s = SHAPES[shape]
    n = s["segments"] * s["rows"]
    bits = max(1, (s["k"] - 1).bit_length())
    idx = torch.randint(0, 1 << bits, (n,), dtype=torch.int32, device=device)
    t_native = timed(lambda: fx.pack_indices(idx, bits, validate=False), device, repeat)
    t_ref = timed(lambda: ref.pack_indices(idx, bits), device, repeat)
    packed = fx.pack_indices(idx, bits)
    t_un = timed(lambda: fx.unpack_indices(packed, bits, n), device, repeat)
    t_unref = timed(lambda: ref.unpack_indices(packed, bits, n), device, repeat)
    return [row("pack_indices", shape, device, t_native, t_ref, "reference bit matrix", f"{bits} bits"),
            row("unpack_indices", shape, device, t_un, t_unref, "reference bit matrix", f"{bits} bits")]


def copy_bandwidth(device: str) -> Optional[float]:
    """Achieved GB/s of a large device-to-device copy (read + write): the practical roof."""
    if device != "cuda":
        return None
    a = torch.empty(1 << 28, dtype=torch.uint8, device=device)
    b = torch.empty_like(a)
    t = timed(lambda: b.copy_(a), device, 5)
    return 2 * a.numel() / t / 1e9


def print_table(rows: List[Dict]) -> None:
    print(f"{'op':<22} {'shape':<6} {'dev':<5} {'native ms':>10} {'baseline':<24} {'base ms':>10} {'speedup':>8}  note")
    for r in rows:
        print(f"{r['op']:<22} {r['shape']:<6} {r['device']:<5} {r['native_ms']:>10.2f} {r['baseline']:<24} "
              f"{r['baseline_ms']:>10.2f} {r['speedup']:>7.1f}x  {r['note']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "all"])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--shapes", default="round,large")
    p.add_argument("--json", help="also write the rows to this JSON file")
    p.add_argument("--quick", action="store_true", help="time the looped reference on a slice only")
    args = p.parse_args()
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    if "cuda" in devices and not (torch.cuda.is_available() and fx.build_info()["gpu_available"]):
        devices.remove("cuda")
        print("(no usable CUDA device: CPU only)")
    info = fx.build_info()
    print(f"fedras_ext {info['version']}  threads={torch.get_num_threads()}  cuda_compiled={info['cuda_compiled']}")
    rows: List[Dict] = []
    for device in devices:
        roof = copy_bandwidth(device)
        for shape in args.shapes.split(","):
            rows += bench_kmeans(shape, device, args.repeat, args.quick)
            rows += bench_project(shape, device, args.repeat)
            rows += bench_apply(shape, device, args.repeat, roof)
            rows += bench_pack(shape, device, args.repeat)
    print_table(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"build_info": info, "threads": torch.get_num_threads(), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()

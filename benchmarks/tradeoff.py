"""Bytes against accuracy for FedRAS over the number of actions.

    python benchmarks/tradeoff.py [--dataset ml-100k] [--rounds 100] [--pairs 2:4,4:8,8:16,16:32]
                                  [--out results/tradeoff]

Runs fedavg once, then FedRAS with error feedback on both sides for each client/server
action count pair ``k:k_global``, and FedRAS without client error feedback for the
same pairs. Writes ``tradeoff.json``, ``tradeoff.md`` (HR@10, NDCG@10, share of
fedavg's bytes) and ``tradeoff.png`` (HR@10 against total MB, log scale).
"""
from __future__ import annotations

import argparse
import os

from fedras.config import Config
from fedras.data import load_dataset
from fedras.engine import run
from fedras.report import MB, markdown_table, write_json, write_markdown


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--rounds", type=int, default=100)
    p.add_argument("--pairs", default="2:4,4:8,8:16,16:32")
    p.add_argument("--out", default="results/tradeoff")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    data = load_dataset(args.dataset)
    base = Config(dataset=args.dataset, rounds=args.rounds, progress=False, out=os.path.join(args.out, "run"))
    fedavg = run(base.replace(method="fedavg"), data)
    rows = [{"label": "fedavg", "k": None, "k_global": None, "error_feedback": None, "hr10": fedavg["hr10"],
             "ndcg10": fedavg["ndcg10"], "bytes": fedavg["bytes_total"], "share": 1.0}]
    for ef in (True, False):
        for pair in args.pairs.split(","):
            k, kg = (int(v) for v in pair.split(":"))
            res = run(base.replace(method="fedras", k=k, k_global=kg, error_feedback=ef), data)
            rows.append({"label": f"fedras{'-ef' if ef else ''} k={k}/{kg}", "k": k, "k_global": kg,
                         "error_feedback": ef, "hr10": res["hr10"], "ndcg10": res["ndcg10"],
                         "bytes": res["bytes_total"], "share": res["bytes_total"] / fedavg["bytes_total"]})
            print(rows[-1], flush=True)
    write_json(os.path.join(args.out, "tradeoff.json"), rows)
    table = markdown_table(
        ["run", "HR@10", "NDCG@10", "HR@10 / fedavg", "MB total", "share of fedavg bytes"],
        [[r["label"], f"{r['hr10']:.4f}", f"{r['ndcg10']:.4f}", f"{r['hr10'] / fedavg['hr10']:.3f}",
          f"{r['bytes'] / MB:.1f}", f"{100 * r['share']:.2f}%"] for r in rows])
    write_markdown(os.path.join(args.out, "tradeoff.md"),
                   f"FedRAS bytes against accuracy, {args.dataset}, {args.rounds} rounds", table)
    print(table)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for ef, marker in ((True, "o-"), (False, "s--")):
        pts = [r for r in rows if r["error_feedback"] is ef]
        ax.plot([r["bytes"] / MB for r in pts], [r["hr10"] for r in pts], marker,
                label=f"fedras, client EF {'on' if ef else 'off'}")
        for r in pts:
            ax.annotate(f"{r['k']}/{r['k_global']}", (r["bytes"] / MB, r["hr10"]), fontsize=7, xytext=(3, -9),
                        textcoords="offset points")
    ax.axhline(fedavg["hr10"], color="k", lw=0.8, label=f"fedavg ({fedavg['bytes_total'] / MB:.0f} MB)")
    ax.axhline(0.98 * fedavg["hr10"], color="k", lw=0.8, ls=":", label="98% of fedavg")
    ax.set(xscale="log", xlabel="MB communicated in total (up + down)", ylabel="HR@10 (test)",
           title=f"FedRAS on {args.dataset}: actions k / k_global")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "tradeoff.png"), dpi=120)


if __name__ == "__main__":
    main()

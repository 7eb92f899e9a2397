"""Results for machines (JSON) and people (Markdown tables, PNG plots)."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Sequence

MB = 1e6


def _json_default(o: Any):
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_json(path: str, obj: Any) -> None:
    """Write atomically (temp file + rename), so a reader never sees half a file."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, default=_json_default)
        f.write("\n")
    os.replace(tmp, path)


def cumulative_mb(rows: Sequence[Dict[str, Any]]) -> List[float]:
    total, out = 0.0, []
    for r in rows:
        total += (r["bytes_up"] + r["bytes_down"]) / MB
        out.append(total)
    return out


def _fmt(v: Any, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def summary_lines(result: Dict[str, Any]) -> List[str]:
    """What ``fedras train`` prints at the end of a run."""
    cfg = result["config"]
    rows = result["rounds"]
    n = max(len(rows), 1)
    ds = result["dataset"]
    label = f"{ds['name']}{' (synthetic)' if ds['synthetic'] else ''}: {ds['users']} users, {ds['items']} items"
    return [
        f"fedras {cfg['method']} | {cfg['model']} d={cfg['dim']} | {label} | {len(rows)} rounds",
        f"  HR@10 {_fmt(result['hr10'], '.4f')}  NDCG@10 {_fmt(result['ndcg10'], '.4f')}  "
        f"(test, at best validation round {result['best_round']})",
        f"  uploaded   {result['bytes_up'] / MB:10.2f} MB total, {result['bytes_up'] / n / MB:8.3f} MB per round",
        f"  downloaded {result['bytes_down'] / MB:10.2f} MB total, {result['bytes_down'] / n / MB:8.3f} MB per round",
        f"  FedAvg on the same touched rows would move {result['fedavg_equivalent_bytes'] / MB:.1f} MB: "
        f"reduction {_fmt(100 * result['reduction_vs_fedavg'] if result['reduction_vs_fedavg'] is not None else None, '.2f')}%",
        f"  simulated wall-clock {result['sim_seconds']:.1f} s"
        + (f", {_fmt(result['sim_seconds_to_target'], '.1f')} s to HR@10 >= {cfg['target_hr']}" if cfg.get("target_hr") else ""),
        f"  real time {result['wall_seconds']:.1f} s",
    ] + ([f"  {result['rejected_payloads']} payloads rejected (reasons in server.log)"] if result["rejected_payloads"] else [])


def plot_runs(results: Sequence[Dict[str, Any]], labels: Sequence[str], path: str, title: str) -> None:
    """HR@10 against rounds and against megabytes communicated, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for res, label in zip(results, labels):
        rows = [r for r in res["rounds"] if "hr10" in r]
        mb = dict(zip([r["round"] for r in res["rounds"]], cumulative_mb(res["rounds"])))
        left.plot([r["round"] for r in rows], [r["hr10"] for r in rows], label=label)
        right.plot([mb[r["round"]] for r in rows], [r["hr10"] for r in rows], label=label)
    left.set(xlabel="round", ylabel="HR@10 (test)", title="accuracy per round")
    right.set(xlabel="MB communicated (up + down, cumulative)", ylabel="HR@10 (test)", title="accuracy per megabyte")
    right.set_xscale("log")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    right.legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def sim_time_to(result: Dict[str, Any], target: float):
    """Simulated seconds until test HR@10 first reaches ``target`` (None if never)."""
    elapsed = 0.0
    for r in result["rounds"]:
        elapsed += r["sim_seconds"]
        if r.get("hr10", -1.0) >= target:
            return elapsed
    return None


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """A Markdown table: the first ``left`` columns left-aligned, the others right-aligned."""
    rule = "|" + "|".join("---" if i < left else "---:" for i in range(len(header))) + "|"
    return "\n".join(["| " + " | ".join(header) + " |", rule, *("| " + " | ".join(r) + " |" for r in rows)]) + "\n"


def write_markdown(path: str, title: str, table: str) -> None:
    """``# title``, a blank line, then ``table``."""
    with open(path, "w") as f:
        f.write(f"# {title}\n\n{table}")


def compare_table(results: Sequence[Dict[str, Any]], labels: Sequence[str]) -> str:
    """Markdown table of a comparison; reduction is against the fedavg run if present,
    and so is the target of the time-to-accuracy column (95% of fedavg's best HR@10)."""
    base = next((r for r, lab in zip(results, labels) if r["config"]["method"] == "fedavg"), None)
    base_bytes = base["bytes_total"] if base else None
    target = 0.95 * base["hr10"] if base and base["hr10"] else None
    header = ["method", "HR@10", "NDCG@10", "MB up", "MB down", "reduction vs fedavg", "sim. time (s)",
              "sim. s to 95% of fedavg HR@10"]
    rows = []
    for res, label in zip(results, labels):
        red = 1.0 - res["bytes_total"] / base_bytes if base_bytes else res["reduction_vs_fedavg"]
        reach = sim_time_to(res, target) if target else None
        rows.append([label, _fmt(res["hr10"], ".4f"), _fmt(res["ndcg10"], ".4f"), f"{res['bytes_up'] / MB:.2f}",
                     f"{res['bytes_down'] / MB:.2f}", f"{_fmt(100 * red if red is not None else None, '.2f')}%",
                     f"{res['sim_seconds']:.1f}", _fmt(reach, ".1f") if target else "n/a"])
    return markdown_table(header, rows)


def write_run(result: Dict[str, Any], out: str) -> None:
    """``out/result.json``, ``out/config.json``, ``out/result.md`` and ``out/result.png``."""
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, "result.json"), result)
    write_json(os.path.join(out, "config.json"), result["config"])
    with open(os.path.join(out, "result.md"), "w") as f:
        f.write("```\n" + "\n".join(summary_lines(result)) + "\n```\n")
    plot_runs([result], [result["config"]["method"]], os.path.join(out, "result.png"),
              f"{result['config']['method']} on {result['dataset']['name']}")


def write_compare(results: Sequence[Dict[str, Any]], labels: Sequence[str], out: str) -> str:
    """``out/compare.json``, ``out/compare.md``, ``out/compare.png``; returns the table."""
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, "compare.json"), [dict(r, label=lab) for r, lab in zip(results, labels)])
    table = compare_table(results, labels)
    ds = results[0]["dataset"] if results else {"name": "?"}
    write_markdown(os.path.join(out, "compare.md"), f"{ds['name']}, {results[0]['config']['model'] if results else ''}", table)
    plot_runs(results, labels, os.path.join(out, "compare.png"), f"methods on {ds['name']}")
    return table

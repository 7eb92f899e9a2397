"""``fedras train`` and ``fedras compare``: a CLI generated from :class:`fedras.config.Config`.

Every Config field is a flag (``k_min`` -> ``--k-min``; booleans also take ``--no-...``;
``tiers`` is set through ``--tier-shares``).
Invalid arguments print one line and exit with code 2.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import typing
from typing import Any, Dict, List, Optional, Sequence

from .config import DOWNLINKS, METHODS, MODELS, Config

CHOICES = {
    "method": METHODS,
    "model": MODELS,
    "downlink": DOWNLINKS,
    "assign": ("l2", "cosine"),
    "action_dtype": ("float32", "float16"),
    "loss": ("bce", "bpr"),
    "engine": ("batched", "loop"),
    "ops": ("native", "reference"),
    "preset": ("paper",),
    "nonfinite": ("reject", "zero"),
    "device": None,
}
HELP = {
    "dataset": "ml-100k (default), ml-1m, synthetic, or a path to a ratings file",
    "clients_per_round": "'all', a count (e.g. 60) or a fraction of the users in (0, 1) (e.g. 0.1)",
    "k": "actions per client (fixed K)",
    "adaptive": "choose each client's K in [k_min, k_max] from its device draws and the deadline",
    "error_feedback": "client-side error feedback",
    "downlink": "actions: the method's compressed broadcast; full: float32 rows",
    "out": "output folder (result.json, result.md, result.png)",
    "eval_negatives": "sampled negatives per held-out item; 0 ranks against every item",
}

# Named method variants for `compare`: a label and the Config changes it means.
VARIANTS: Dict[str, Dict[str, Any]] = {
    "fedavg": {"method": "fedavg"},
    "fedras": {"method": "fedras"},
    "fedras-ef": {"method": "fedras", "error_feedback": True},
    "fedras-cosine": {"method": "fedras", "assign": "cosine"},
    "fedras-paper": {"method": "fedras", "preset": "paper"},
    "fedras-adaptive": {"method": "fedras", "adaptive": True},
    "fedras-f16": {"method": "fedras", "action_dtype": "float16"},
    "topk": {"method": "topk"},
    "quant": {"method": "quant"},
    "quant1": {"method": "quant", "quant_bits": 1},
    "lowrank": {"method": "lowrank"},
    "svd": {"method": "svd"},
}
DEFAULT_COMPARE = "fedavg,fedras,fedras-ef,fedras-cosine,fedras-paper,topk,quant,lowrank,svd"


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:  # argparse prints usage + error; we print one line
        self.exit(2, f"{self.prog}: error: {message}\n")


def _clients(value: str):
    """``all``, a count (``60``) or a fraction of the eligible users (``0.1``)."""
    if value == "all":
        return "all"
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int, a fraction in (0, 1) or 'all', got {value!r}") from None


def _add_config_flags(p: argparse.ArgumentParser, skip: Sequence[str] = ()) -> None:
    hints = typing.get_type_hints(Config)
    for f in dataclasses.fields(Config):
        if f.name in skip or f.name == "tiers":
            continue
        flag = "--" + f.name.replace("_", "-")
        kw: Dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": HELP.get(f.name)}
        hint = hints[f.name]
        if hint is bool:
            kw["action"] = argparse.BooleanOptionalAction
        elif f.name == "clients_per_round":
            kw["type"] = _clients
        else:
            base = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
            kw["type"] = base if base in (int, float) else str
            if CHOICES.get(f.name):
                kw["choices"] = CHOICES[f.name]
        p.add_argument(flag, **kw)


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="fedras", description="FedRAS federated recommendation: train and compare methods.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    train = sub.add_parser("train", help="run one federated training and report accuracy and traffic")
    _add_config_flags(train)
    train.add_argument("--tier-shares", help="comma-separated shares of the LOW,MEDIUM,HIGH tiers, e.g. 4,10,3")
    train.add_argument("--resume", metavar="DIR",
                       help="continue the run whose checkpoint is in DIR (flags may only change rounds, out, "
                            "progress and checkpoint-every)")
    cmp_ = sub.add_parser("compare", help="run several methods on the same data, model, rounds and seeds")
    cmp_.add_argument("--methods", default=DEFAULT_COMPARE,
                      help=f"comma-separated, from: {', '.join(VARIANTS)} (default: {DEFAULT_COMPARE})")
    _add_config_flags(cmp_, skip=("method",))
    cmp_.add_argument("--tier-shares", help="comma-separated shares of the LOW,MEDIUM,HIGH tiers, e.g. 4,10,3")
    return p


def _config(args: argparse.Namespace, parser: argparse.ArgumentParser, base: Optional[Dict[str, Any]] = None) -> Config:
    """The Config of the flags given, over ``base`` (a saved config, when resuming) or the defaults."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config) if hasattr(args, f.name)}
    values = {**(base or {}), **given}
    if getattr(args, "tier_shares", None):
        try:
            shares = [float(s) for s in args.tier_shares.split(",")]
        except ValueError:
            parser.error(f"--tier-shares must be comma-separated numbers, got {args.tier_shares!r}")
        base = Config().tiers
        if len(shares) != len(base):
            parser.error(f"--tier-shares needs {len(base)} values, got {len(shares)}")
        values["tiers"] = tuple(dataclasses.replace(t, share=s) for t, s in zip(base, shares))
    try:
        cfg = Config.from_dict(values)
    except ValueError as exc:
        parser.error(str(exc))
    if cfg.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            parser.error(f"--device {cfg.device}: torch sees no CUDA device")
    return cfg


def log_server_to(out: str) -> None:
    """Rejected payloads (one warning each) go to OUT/server.log, not the console."""
    import logging

    os.makedirs(out, exist_ok=True)
    log = logging.getLogger("fedras.server")
    for h in list(log.handlers):
        log.removeHandler(h)
    handler = logging.FileHandler(os.path.join(out, "server.log"))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.propagate = False


def cmd_train(cfg: Config, resume: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    from .engine import run
    from .report import summary_lines, write_run

    log_server_to(cfg.out)
    result = run(cfg, resume=resume)
    write_run(result, cfg.out)
    print("\n".join(summary_lines(result)))
    print(f"  wrote {cfg.out}/result.json, result.md, result.png")
    return result


def cmd_compare(cfg: Config, methods: List[str]) -> List[Dict[str, Any]]:
    from .engine import run
    from .report import write_compare, write_run

    results = []
    for label in methods:
        run_cfg = cfg.replace(**VARIANTS[label], out=os.path.join(cfg.out, label))
        print(f"[{label}]", flush=True)
        log_server_to(run_cfg.out)
        res = run(run_cfg)
        write_run(res, run_cfg.out)
        results.append(res)
    table = write_compare(results, methods, cfg.out)
    print(table)
    print(f"wrote {cfg.out}/compare.json, compare.md, compare.png")
    return results


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    sub = parser._subparsers._group_actions[0].choices[args.command]  # type: ignore[union-attr]
    from .data import DataError
    from .engine.checkpoint import FILENAME, CheckpointError, check_compatible, load

    resume = None
    if getattr(args, "resume", None):
        try:
            resume = load(os.path.join(args.resume, FILENAME))
        except CheckpointError as exc:
            sub.error(str(exc))
        cfg = _config(args, sub, base={**resume["config"], "out": args.resume})
        try:
            check_compatible(resume["config"], cfg)  # here too, to refuse before loading any data
        except CheckpointError as exc:
            sub.error(str(exc))
    else:
        cfg = _config(args, sub)

    try:
        if args.command == "train":
            cmd_train(cfg, resume)
        else:
            methods = [m.strip() for m in args.methods.split(",") if m.strip()]
            unknown = [m for m in methods if m not in VARIANTS]
            if unknown or not methods:
                sub.error(f"unknown method(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(VARIANTS)}")
            cmd_compare(cfg, methods)
    except DataError as exc:
        print(f"fedras: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run configuration: one dataclass, saved next to the results, with a CLI over it.

Every field has a default that reproduces the acceptance run (ML-100K, MF, d=32, all
clients every round). A run is a pure function of its Config (seeds included).
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple, Union

METHODS = ("fedavg", "fedras", "topk", "quant", "lowrank", "svd")
MODELS = ("mf", "ncf")
DOWNLINKS = ("actions", "full")


@dataclass(frozen=True)
class TierConfig:
    """One device tier: means of the per-round Gaussian draws (clipped at +-2 std)."""

    name: str
    share: float
    up_bytes_per_s: float
    down_bytes_per_s: float
    flops_per_s: float
    rel_std: float = 0.2  # std as a fraction of the mean


DEFAULT_TIERS: Tuple[TierConfig, ...] = (
    # Shares 4:10:3 as in the spec; bandwidths of a weak 3G link, a typical 4G link and
    # broadband; compute of a low-end phone, a mid-range phone and a laptop.
    TierConfig("LOW", 4.0, 40e3, 200e3, 0.5e9),
    TierConfig("MEDIUM", 10.0, 250e3, 1.25e6, 2e9),
    TierConfig("HIGH", 3.0, 2.5e6, 12.5e6, 10e9),
)


def _is_device(name: str) -> bool:
    """Whether ``name`` is a device the engines run on: ``cpu``, ``cuda`` or ``cuda:N``."""
    return isinstance(name, str) and re.fullmatch(r"cpu|cuda(:\d+)?", name) is not None


@dataclass(frozen=True)
class Config:
    # ---- data and model
    dataset: str = "ml-100k"          # ml-100k | ml-1m | synthetic | PATH
    synthetic_users: int = 1000        # only for dataset=synthetic
    synthetic_items: int = 2000
    synthetic_interactions: int = 50_000
    model: str = "mf"                  # mf | ncf
    dim: int = 32
    init_std: float = 0.1
    # ---- federated protocol
    method: str = "fedras"             # fedavg | fedras | topk | quant | lowrank | svd
    rounds: int = 100
    clients_per_round: Union[int, float, str] = "all"   # "all", a count, or a fraction in (0, 1)
    local_epochs: int = 2
    negatives: int = 4                 # sampled negatives per positive, per epoch
    loss: str = "bce"                  # bce | bpr
    lr: float = 1.0                    # client SGD step on item rows and shared weights
    user_lr: float = 1.0               # client SGD step on the private user embedding (mean gradient)
    server_lr: float = 1.0
    downlink: str = "actions"          # actions (the method's compressed form) | full
    # ---- fedras
    k: int = 16
    adaptive: bool = False
    k_min: int = 2
    k_max: int = 64
    error_feedback: bool = False       # client-side residual
    downlink_error_feedback: bool = True
    k_global: int = 32                 # server downlink actions
    assign: str = "l2"                 # l2 | cosine (direction projection)
    action_dtype: str = "float32"      # float32 | float16
    kmeans_iters: int = 10             # 25 gave no better ML-100K HR@10 (README, Results)
    kmeans_tol: float = 1e-4
    # ---- baselines
    topk_fraction: float = 0.03        # share of |S_c| x d entries sent by topk
    quant_bits: int = 8                # 8 (int8 + scale per row) or 1 (sign + scale)
    lowrank_rank: int = 1              # CoLR rank r
    svd_rank: int = 1
    # ---- heterogeneity
    tiers: Tuple[TierConfig, ...] = DEFAULT_TIERS
    deadline_s: float = 2.0            # per-round deadline tau driving the adaptive K
    target_hr: Optional[float] = None  # report simulated time to reach this HR@10
    # ---- untrusted payloads and faults
    clip_norm: float = 0.0             # clip entry updates at this x the round's median norm (0: off)
    nonfinite: str = "reject"          # reject | zero: payloads with NaN/Inf
    max_rows_per_client: int = 0       # reject payloads touching more rows (0: no cap)
    drop_rate: float = 0.0             # share of selected clients that go offline mid-round
    corrupt_rate: float = 0.0          # share of selected clients whose payload is corrupted
    # ---- evaluation
    eval_negatives: int = 99           # 0 = full ranking over all unseen items
    eval_every: int = 1
    # ---- execution
    seed: int = 0
    device: str = "cpu"
    engine: str = "batched"            # batched | loop
    ops: str = "native"                # native | reference (the kernels the engine calls)
    out: str = "runs/latest"
    progress: bool = True
    checkpoint_every: int = 0
    # ---- presets
    preset: Optional[str] = None       # None | "paper" (both error feedbacks off)

    def __post_init__(self) -> None:
        problems = []
        if self.method not in METHODS:
            problems.append(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.model not in MODELS:
            problems.append(f"model must be one of {', '.join(MODELS)}, got {self.model!r}")
        if self.downlink not in DOWNLINKS:
            problems.append(f"downlink must be actions or full, got {self.downlink!r}")
        if self.assign not in ("l2", "cosine"):
            problems.append(f"assign must be l2 or cosine, got {self.assign!r}")
        if self.action_dtype not in ("float32", "float16"):
            problems.append(f"action_dtype must be float32 or float16, got {self.action_dtype!r}")
        if self.loss not in ("bce", "bpr"):
            problems.append(f"loss must be bce or bpr, got {self.loss!r}")
        if self.engine not in ("batched", "loop"):
            problems.append(f"engine must be batched or loop, got {self.engine!r}")
        if self.ops not in ("native", "reference"):
            problems.append(f"ops must be native or reference, got {self.ops!r}")
        if self.nonfinite not in ("reject", "zero"):
            problems.append(f"nonfinite must be reject or zero, got {self.nonfinite!r}")
        if self.clip_norm < 0 or self.max_rows_per_client < 0:
            problems.append("clip_norm and max_rows_per_client must be >= 0")
        if not (0.0 <= self.drop_rate <= 1.0 and 0.0 <= self.corrupt_rate <= 1.0 and self.drop_rate + self.corrupt_rate <= 1.0):
            problems.append("drop_rate and corrupt_rate must lie in [0, 1] and sum to at most 1")
        if self.quant_bits not in (1, 8):
            problems.append(f"quant_bits must be 1 or 8, got {self.quant_bits}")
        if self.preset not in (None, "paper"):
            problems.append(f"preset must be 'paper' or unset, got {self.preset!r}")
        for name in ("rounds", "local_epochs", "dim", "k", "k_min", "k_max", "k_global", "lowrank_rank", "svd_rank"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("synthetic_users", "synthetic_items", "synthetic_interactions"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (math.isfinite(self.kmeans_tol) and self.kmeans_tol >= 0):
            problems.append(f"kmeans_tol must be a finite number >= 0, got {self.kmeans_tol}")
        if not _is_device(self.device):
            problems.append(f"device must be cpu, cuda or cuda:N, got {self.device!r}")
        for name in ("negatives", "kmeans_iters", "eval_negatives", "checkpoint_every"):
            if int(getattr(self, name)) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.k_min > self.k_max:
            problems.append(f"k_min ({self.k_min}) must not exceed k_max ({self.k_max})")
        if not 0.0 < self.topk_fraction <= 1.0:
            problems.append(f"topk_fraction must lie in (0, 1], got {self.topk_fraction}")
        if self.lowrank_rank > self.dim or self.svd_rank > self.dim:
            problems.append("lowrank_rank and svd_rank must not exceed dim")
        if self.eval_every < 1:
            problems.append(f"eval_every must be >= 1, got {self.eval_every}")
        if self.deadline_s <= 0:
            problems.append(f"deadline_s must be > 0, got {self.deadline_s}")
        cpr = self.clients_per_round
        is_count = isinstance(cpr, int) and not isinstance(cpr, bool) and cpr >= 1
        is_fraction = isinstance(cpr, float) and 0.0 < cpr < 1.0
        if not (cpr == "all" or is_count or is_fraction):
            problems.append(f"clients_per_round must be 'all', an int >= 1 or a fraction in (0, 1), got {cpr!r}")
        if not self.tiers or any(t.share <= 0 for t in self.tiers):
            problems.append("tiers must be non-empty with positive shares")
        if problems:
            raise ValueError("; ".join(problems))

    # Effective switches (the paper preset turns both error feedbacks off).
    @property
    def client_ef(self) -> bool:
        return self.error_feedback and self.preset != "paper"

    @property
    def server_ef(self) -> bool:
        return self.downlink_error_feedback and self.preset != "paper"

    @property
    def compressed_downlink(self) -> bool:
        """fedavg always downloads full rows; every other method may compress its downlink."""
        return self.downlink == "actions" and self.method != "fedavg"

    def replace(self, **changes: Any) -> "Config":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Config":
        d = dict(d)
        if "tiers" in d:
            d["tiers"] = tuple(t if isinstance(t, TierConfig) else TierConfig(**t) for t in d["tiers"])
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        return cls(**d)


def fingerprint_fields() -> Tuple[str, ...]:
    """Fields that define the computation (a resumed run must match them all)."""
    skip = {"out", "progress", "checkpoint_every", "rounds"}
    return tuple(f.name for f in dataclasses.fields(Config) if f.name not in skip)


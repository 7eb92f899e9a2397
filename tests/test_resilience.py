"""Untrusted payloads, client faults, and checkpoint/resume."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from fedras.compression import FedRAS
from fedras.compression.base import Verdicts
from fedras.codec import F32, I64, ArrayColumn, Message, Packed, PayloadError, RowSet, decode, encode
from fedras.codec.batch_decode import to_columns
from fedras.config import Config
from fedras.data import make_synthetic
from fedras.engine import Simulation, checkpoint, run
from fedras.engine.faults import KINDS, corrupt
from fedras.protocol.policy import Policy, screen

SMALL = dict(dataset="synthetic", dim=16, k=4, k_global=16, progress=False)


@pytest.fixture(scope="module")
def data():
    return make_synthetic(n_users=80, n_items=150, n_interactions=3000, seed=3)


@pytest.mark.parametrize("method", ["fedras", "fedavg"])
def test_rounds_complete_and_the_table_stays_finite_under_faults(data, method):
    s = Simulation(Config(**SMALL, rounds=4, method=method, drop_rate=0.1, corrupt_rate=0.4, clip_norm=10.0), data)
    clean = Simulation(Config(**SMALL, rounds=4, method=method), data)
    for _ in range(4):
        row = s.run_round()
        clean.run_round()
        assert row["offline"] > 0 and row["corrupted"] > 0
        assert row["rejected"] <= row["corrupted"]
        assert torch.isfinite(s.client_table).all()
    # Clipping keeps the hostile 1e30-scaled payloads that pass the codec from blowing up the table.
    assert s.client_table.abs().max() < 10 * clean.client_table.abs().max()


def test_every_corruption_kind_is_rejected_or_caught_later():
    rows = np.array([1, 5, 9])
    msg = Message("fedras/up", 1, 7, {"rows": RowSet(rows, 150), "actions": F32(np.ones((2, 16), np.float32)),
                                      # 2 bits for 2 actions: bad_index writes 3, out of range.
                                      "assign": Packed(np.array([0, 1, 0], np.int32), 2), "n": I64(np.int64(3))})
    wire = encode(msg)
    rng = np.random.default_rng(0)
    for kind in KINDS:
        bad = corrupt(wire, kind, rng)
        try:
            got = decode(bad)
        except PayloadError:
            continue
        # It decoded: the protocol layers must catch it (or it is a finite, clippable value).
        arr = got.fields["actions"].array
        assert kind in ("nan", "huge", "bad_index", "wrong_round")
        columns = to_columns({k: v for k, v in got.fields.items() if k not in ("rows", "n")}, FedRAS().template(16))
        verdicts = Verdicts(1)
        if kind == "nan":
            screen(columns, np.array([3]), Policy(), verdicts)
            assert "non-finite" in verdicts.reasons[0]
        if kind == "huge":
            assert np.isfinite(arr).all() and np.abs(arr).max() >= 1e29    # finite: left to the clip
        if kind == "bad_index":
            FedRAS().check(columns, np.array([3]), 16, verdicts)
            assert "assign holds index 3" in verdicts.reasons[0]
        if kind == "wrong_round":
            assert got.round == 2
        assert arr.shape == (2, 16)


def test_nonfinite_zero_mode_keeps_the_payload(data):
    def columns():  # two payloads: the first clean, the second with a NaN and an Inf
        data = np.array([[1.0, 2.0], [1.0, np.nan], [np.inf, 2.0]], np.float32)
        return {"actions": ArrayColumn(F32, data, np.array([0, 1, 3]))}
    verdicts = Verdicts(2)
    screen(columns(), np.array([1, 2]), Policy(nonfinite="reject"), verdicts)
    assert verdicts.reasons[0] is None and "holds 2 non-finite values" in verdicts.reasons[1]
    kept, verdicts = columns(), Verdicts(2)
    screen(kept, np.array([1, 2]), Policy(nonfinite="zero"), verdicts)
    assert verdicts.reasons == [None, None]
    assert np.array_equal(kept["actions"].data, np.array([[1.0, 2.0], [1.0, 0.0], [0.0, 2.0]], np.float32))


def test_row_cap_rejects_large_payloads(data):
    s = Simulation(Config(**SMALL, rounds=1, max_rows_per_client=20), data)
    row = s.run_round()
    assert row["rejected"] > 0
    assert torch.isfinite(s.client_table).all()


# --------------------------------------------------------------------------- checkpoints

TRAIN = [sys.executable, "-m", "fedras.cli", "train", "--dataset", "synthetic", "--synthetic-users", "120",
         "--synthetic-items", "200", "--synthetic-interactions", "4000", "--dim", "8", "--k", "4", "--k-global", "8",
         "--no-progress", "--error-feedback"]


def strip(result):
    return [{k: v for k, v in r.items() if k not in ("timing", "wall_seconds")} for r in result["rounds"]]


def test_resume_after_kill_is_bit_identical(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    full, killed = tmp_path / "full", tmp_path / "killed"
    # Enough rounds that the run is surely still going when the poll below sees round 3
    # (with 8, five rounds in under one poll interval would have ended the run first):
    # now 13 rounds, each with an fsynced checkpoint, against a 10 ms poll.
    rounds = "16"
    subprocess.run([*TRAIN, "--rounds", rounds, "--checkpoint-every", "1", "--out", str(full)], check=True, env=env,
                   cwd=tmp_path, capture_output=True)
    proc = subprocess.Popen([*TRAIN, "--rounds", rounds, "--checkpoint-every", "1", "--out", str(killed)], env=env,
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = killed / checkpoint.FILENAME
    deadline = time.time() + 120
    while time.time() < deadline:
        if ckpt.exists() and checkpoint.load(str(ckpt))["round"] >= 3:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stopped_at = checkpoint.load(str(ckpt))["round"]
    assert 3 <= stopped_at < int(rounds), "the run should have been killed mid-way"
    subprocess.run([sys.executable, "-m", "fedras.cli", "train", "--resume", str(killed), "--no-progress"],
                   check=True, env=env, cwd=tmp_path, capture_output=True)
    a = json.loads((full / "result.json").read_text())
    b = json.loads((killed / "result.json").read_text())
    assert strip(a) == strip(b)
    assert (a["hr10"], a["bytes_up"], a["bytes_down"]) == (b["hr10"], b["bytes_up"], b["bytes_down"])
    sa, sb = checkpoint.load(str(full / checkpoint.FILENAME)), checkpoint.load(str(ckpt))
    assert torch.equal(sa["server"]["table"], sb["server"]["table"])
    assert torch.equal(sa["clients"]["users"], sb["clients"]["users"])
    assert torch.equal(sa["residuals"]["values"], sb["residuals"]["values"])


def test_corrupt_or_foreign_checkpoints_are_refused(tmp_path, data):
    cfg = Config(**SMALL, rounds=2, checkpoint_every=1, out=str(tmp_path))
    run(cfg, data)
    path = str(tmp_path / checkpoint.FILENAME)
    state = checkpoint.load(path)
    with pytest.raises(checkpoint.CheckpointError, match="another configuration"):
        checkpoint.check_compatible(state["config"], cfg.replace(method="fedavg"))
    checkpoint.check_compatible(state["config"], cfg.replace(rounds=10, out="elsewhere"))
    raw = bytearray(open(path, "rb").read())
    raw[len(raw) // 2] ^= 0xFF
    open(path, "wb").write(bytes(raw))
    with pytest.raises(checkpoint.CheckpointError, match="corrupt"):
        checkpoint.load(path)
    open(path, "wb").write(b"hello")
    with pytest.raises(checkpoint.CheckpointError, match="not a fedras checkpoint"):
        checkpoint.load(path)


def test_resume_cli_refuses_a_different_method(tmp_path, data):
    cfg = Config(**SMALL, rounds=1, checkpoint_every=1, out=str(tmp_path))
    run(cfg, data)
    proc = subprocess.run([sys.executable, "-m", "fedras.cli", "train", "--resume", str(tmp_path), "--method", "fedavg"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and "another configuration" in proc.stderr

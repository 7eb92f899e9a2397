"""The CLI contract: flags, result files, exit codes."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from fedras.cli import main

TINY = ["--dataset", "synthetic", "--synthetic-users", "60", "--synthetic-items", "100",
        "--synthetic-interactions", "1500", "--dim", "8", "--k", "4", "--k-global", "8", "--no-progress"]


def test_train_writes_result_files(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--rounds", "2", "--out", str(out)]) == 0
    res = json.loads((out / "result.json").read_text())
    for key in ("config", "best_round", "hr10", "ndcg10", "bytes_up", "bytes_down", "rounds", "wall_seconds"):
        assert key in res
    for key in ("hr10", "ndcg10", "bytes_up", "bytes_down", "sim_seconds"):
        assert key in res["rounds"][0]
    assert res["config"]["rounds"] == 2 and res["config"]["method"] == "fedras"
    assert (out / "result.png").stat().st_size > 1000
    assert (out / "result.md").exists() and (out / "config.json").exists()
    printed = capsys.readouterr().out
    assert "HR@10" in printed and "reduction" in printed and "simulated" in printed


def test_compare_writes_table_and_plot(tmp_path):
    out = tmp_path / "cmp"
    assert main(["compare", *TINY, "--rounds", "1", "--methods", "fedavg,fedras,topk", "--out", str(out)]) == 0
    results = json.loads((out / "compare.json").read_text())
    assert [r["label"] for r in results] == ["fedavg", "fedras", "topk"]
    table = (out / "compare.md").read_text()
    assert table.count("\n|") >= 4 and "MB up" in table
    assert (out / "compare.png").stat().st_size > 1000


@pytest.mark.parametrize("argv", [
    ["train", "--rounds", "0"],
    ["train", "--method", "nope"],
    ["train", "--clients-per-round", "zero"],
    ["train", "--k-min", "8", "--k-max", "4"],
    ["compare", "--methods", "fedavg,bogus"],
    ["train", "--dataset", "/no/such/file.csv", "--rounds", "1"],
    ["train", "--device", "gpu"],
    ["train", "--kmeans-tol", "-1"],
    ["train", "--kmeans-tol", "nan"],
    ["train", "--dataset", "synthetic", "--synthetic-users", "0"],
    pytest.param(["train", "--device", "cuda"],
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="only an error without a CUDA device")),
])
def test_bad_arguments_exit_2_with_one_line(argv, tmp_path):
    # cwd outside the checkout: `python -m` puts cwd first on sys.path, where the source
    # tree's fedras_ext (without the compiled _C) would shadow the installed one.
    proc = subprocess.run([sys.executable, "-m", "fedras.cli", *argv], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "FEDRAS_CACHE": "/nonexistent"})
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "error" in lines[0], proc.stderr

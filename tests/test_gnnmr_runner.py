"""The chapter 5 runner (scripts/gnnmr_seeds.py) end to end on the smoke-size synthetic data."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from mmrec_lite.data import load_dataset
from mmrec_lite.evaluation import evaluate_full
from mmrec_lite.models import Popularity

RUNNER = Path(__file__).resolve().parents[1] / "scripts" / "gnnmr_seeds.py"
spec = importlib.util.spec_from_file_location("gnnmr_seeds", RUNNER)
runner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)


def test_runner_writes_every_row_once_and_resumes(tmp_path, monkeypatch, capsys):
    out = tmp_path / "runs.jsonl"
    argv = ["runner", "--dataset", "synthetic", "--profile", "smoke", "--seeds", "0", "--parts", "table", "fund",
            "sweep", "--epochs", "1", "--eval-every", "1", "--dim", "8", "--dims", "8", "--mutual-weights", "0.5",
            "--batch-size", "2048", "--image-backend", "offline", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    runner.main()
    records = [json.loads(line) for line in out.read_text().splitlines()]
    rows = {(r["part"], r["row"]) for r in records}
    assert len(rows) == len(records)
    table = {row for part, row in rows if part == "table"}
    assert {"Popularity", "LightGCN", "VBPR", "GAT", "MMGCN", "Early-fusion GAT", "GNNMR-con", "GNNMR-ave",
            "w/o ML: con", "w/o ML: ave", "w ML: text", "w/o ML: text"} <= table
    assert {row for part, row in rows if part == "sweep"} == {"d=8", "λ=0.5"}
    assert {"Fund GNNMR-ave", "Fund early-fusion GAT"} <= {row for part, row in rows if part == "fund"}
    data = load_dataset("synthetic", profile="smoke", seed=0)
    expected = evaluate_full(Popularity(data), data, "test", ks=runner.KS)
    popularity = next(r for r in records if r["row"] == "Popularity")
    assert all(popularity[m] == pytest.approx(expected[m]) for m in runner.METRICS)
    assert "GNNMR-ave" in capsys.readouterr().out
    runner.main()                                    # a rerun finds every row done and trains nothing
    assert len(out.read_text().splitlines()) == len(records)

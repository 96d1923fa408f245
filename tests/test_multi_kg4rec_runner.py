"""The chapter 4 runner's KG-only path on a fixture in KGAT's layout (what amazon-book-kg unpacks to)."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from mmrec_lite.data import load_dataset
from mmrec_lite.evaluation import evaluate_full
from mmrec_lite.models import Popularity

RUNNER = Path(__file__).resolve().parents[1] / "scripts" / "multi_kg4rec_seeds.py"
spec = importlib.util.spec_from_file_location("multi_kg4rec_seeds", RUNNER)
runner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)


def write_kgat_book(root: Path, n_users: int = 16, n_items: int = 20, seed: int = 0) -> None:
    """A KGAT-layout folder: every user 6 training items and 1 test item; items link to 4 genres and 5 authors."""
    g = torch.Generator().manual_seed(seed)
    folder = root / "kgat" / "amazon-book"
    folder.mkdir(parents=True)
    train, test = [], []
    for user in range(n_users):
        items = torch.randperm(n_items, generator=g)[:7].tolist()
        train.append(" ".join(map(str, [user, *items[:6]])))
        test.append(f"{user} {items[6]}")
    triples = [f"{i} 0 {n_items + i % 4}" for i in range(n_items)] + [f"{i} 1 {n_items + 4 + i % 5}" for i in range(n_items)]
    (folder / "train.txt").write_text("\n".join(train) + "\n")
    (folder / "test.txt").write_text("\n".join(test) + "\n")
    (folder / "kg_final.txt").write_text("\n".join(triples) + "\n")


def test_kg_only_runner_trains_the_kg_rows_and_scores_them(tmp_path, monkeypatch, capsys):
    write_kgat_book(tmp_path)
    monkeypatch.setenv("MMREC_DATA", str(tmp_path))
    monkeypatch.setenv("MMREC_OFFLINE", "1")
    out = tmp_path / "runs.jsonl"
    monkeypatch.setattr(sys, "argv", ["runner", "--dataset", "amazon-book-kg", "--seeds", "0", "--epochs", "1",
                                      "--bpr-epochs", "1", "--baseline-epochs", "1", "--batch-size", "64", "--device", "cpu", "--out", str(out)])
    runner.main()
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["row"] for r in records} == {"Popularity", "BPR-MF", "BPR-MF (converged)", "CKE", "KGAT", "KGCN", "w/o t&v"}
    assert "KG only" in capsys.readouterr().out
    data = load_dataset("amazon-book-kg", seed=0)
    expected = evaluate_full(Popularity(data), data, "test", ks=(10, 20))
    popularity = next(r for r in records if r["row"] == "Popularity")
    for metric in runner.METRICS:
        assert popularity[metric] == pytest.approx(expected[metric])
    assert all(0.0 <= r[m] <= 1.0 for r in records for m in runner.METRICS)
    assert all(r["epochs"] == 1 for r in records if r["row"] != "Popularity")


def test_kg_only_rows_are_the_ones_without_modal_inputs():
    assert set(runner.MODAL_ROWS) == {"MKGAT", "Multi-KG4Rec", "w/o v", "w/o t", "text→visual only", "visual→text only"}

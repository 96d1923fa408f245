"""Chapter 5's recorded runs: the Table 3-5 rows, the Fund setting and the d / λ sweeps over seeds.

Builds the chapter's data as ``notebooks/05_gnnmr.ipynb`` does (MovieLens-100K + TMDB: text =
MiniLM over the overviews, visual = the poster features of ``--image-backend``; Fund = one one-hot
modality per attribute domain) and trains, per seed:

- ``--parts table``: Popularity, LightGCN, VBPR, GAT, MMGCN, the early-fusion GAT, GNNMR with and
  without mutual learning, read out as GNNMR-con, GNNMR-ave and every uni-modal model ("w ML: m",
  "w/o ML: m"), each evaluated on the test split (section 5; Tables 3-5);
- ``--parts fund``: GNNMR over the attribute modalities, its ensembles and each attribute alone,
  and the early-fusion GAT over the same one-hot blocks (section 9);
- ``--parts sweep``: GNNMR-ave at every ``d`` of ``--dims`` and every λ of ``--mutual-weights``
  (section 8; Figures 3-4).

Every model gets the same budget: at most ``--epochs`` epochs at ``--batch-size`` and
``--learning-rate``, validation recall@20 every ``--eval-every`` epochs, patience ``--patience``
evaluations, best weights restored; the size is ``--dim`` (the paper's 128 by default). Each
finished model is appended to ``--out`` (JSON lines, one record per row and seed), so a killed run
keeps what it finished and a rerun skips it; ``--report`` prints the ``SeedResults`` tables and
the comparisons the chapter reads. Usage::

    MMREC_DATA=<data folder> OMP_NUM_THREADS=1 python scripts/gnnmr_seeds.py --seeds 0 1 2 3 4 \\
        --parts table fund --out gnnmr_runs.jsonl
    python scripts/gnnmr_seeds.py --report --out gnnmr_runs.jsonl
"""
from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import pandas as pd
import torch

from mmrec_lite import evaluation, features
from mmrec_lite.data import MissingFieldError, load_dataset
from mmrec_lite.experiments import SeedResults
from mmrec_lite.features.attribute_modalities import ATTRIBUTE_DOMAINS, attribute_modalities
from mmrec_lite.models import GAT, GNNMR, MMGCN, VBPR, EarlyFusionGAT, LightGCN, Popularity
from mmrec_lite.training import fit
from mmrec_lite.training_mutual import train_gnnmr

KS = (10, 20, 50)
METRICS = [f"{m}@{k}" for m in ("recall", "ndcg") for k in KS]
COMPARISONS = [("GNNMR-ave", "Early-fusion GAT"), ("GNNMR-ave", "GAT"), ("GNNMR-ave", "MMGCN"), ("GNNMR-ave", "VBPR"),
               ("GNNMR-ave", "LightGCN"), ("GNNMR-ave", "GNNMR-con"), ("GNNMR-ave", "w/o ML: ave"),
               ("GNNMR-con", "w/o ML: con"), ("w ML: text", "w/o ML: text"), ("w ML: image", "w/o ML: image"),
               ("Early-fusion GAT", "w/o ML: text"), ("GNNMR-ave", "Popularity"),
               ("Fund GNNMR-ave", "Fund early-fusion GAT"), ("Fund GNNMR-con", "Fund early-fusion GAT")]


def chapter_data(args):
    """Section 2 of the chapter: ML-100K with text and poster features, plus the Fund attribute blocks."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_dataset(args.dataset, profile=args.profile, seed=args.split_seed)
    field = next(f for f in ("overview", "description", "title") if data.item_text and f in data.item_text)
    texts = [t if isinstance(t, str) else "" for t in data.item_text[field]]
    data.add_features("text", features.TextEncoder(args.text_model, max_length=128).encode(texts))
    modalities = ("text",)
    if data.item_images is not None:
        data.add_features("image", features.encode_images(data.item_images, backend=args.image_backend,
                                                          model=args.image_model, device=args.device))
        modalities = ("text", "image")
    domains = []
    for domain in ATTRIBUTE_DOMAINS:
        try:
            data.add_features(domain, attribute_modalities(data, [domain])[domain])
        except MissingFieldError:
            continue
        domains.append(domain)
    return data, modalities, tuple(domains)


def run(args) -> None:
    data, modalities, domains = chapter_data(args)
    print(data, f"| modalities {modalities} | Fund domains {domains}", flush=True)
    budget = dict(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                  eval_every=args.eval_every, patience=args.patience, device=args.device, progress=False)
    done = {(r["seed"], r["part"], r["row"]) for r in read(args.out)}

    def test_metrics(model) -> dict[str, float]:
        out = evaluation.evaluate_full(model, data, split="test", ks=KS, device=args.device)
        return {k: out[k] for k in METRICS}

    def emit(seed, part, row, values, seconds, epochs=None):
        record = {"seed": seed, "part": part, "row": row, **values, "seconds": round(seconds, 1), "epochs": epochs}
        with args.out.open("a") as f:
            f.write(json.dumps(record) + "\n")
        print(f"seed {seed} {part:5s} {row:28s} recall@20 {values['recall@20']:.4f}  {epochs} epochs  "
              f"{seconds:6.0f} s  load {os.getloadavg()[0]:.1f}", flush=True)

    def gnnmr(seed, mods, dim=args.dim, mutual_weight=args.mutual_weight):
        model = GNNMR(data, modalities=mods, embedding_dim=dim, mutual_weight=mutual_weight, seed=seed)
        history = train_gnnmr(model, data, seed=seed, **budget)
        return model, len(history.records)

    def read_out(seed, part, model, views, epochs, seconds, name):
        """One record per ensemble / modality view of a trained GNNMR (they share its training time)."""
        for view in views:
            model.ensemble = view
            emit(seed, part, name(view), test_metrics(model), seconds, epochs)
        model.ensemble = "ave"

    for seed in args.seeds:
        if "table" in args.parts:
            baselines = {
                "Popularity": lambda: Popularity(data),
                "LightGCN": lambda: LightGCN(data, embedding_dim=args.dim, seed=seed),
                "VBPR": lambda: VBPR(data, embedding_dim=args.dim, features=modalities, seed=seed),
                "GAT": lambda: GAT(data, embedding_dim=args.dim, seed=seed),
                "MMGCN": lambda: MMGCN(data, modalities=modalities, embedding_dim=args.dim, seed=seed),
                "Early-fusion GAT": lambda: EarlyFusionGAT(data, modalities=modalities, embedding_dim=args.dim, seed=seed),
            }
            for name, make in baselines.items():
                if (seed, "table", name) in done:
                    continue
                start, model = time.perf_counter(), make()
                history = fit(model, data, seed=seed, **budget) if model.batch_kind is not None else None
                emit(seed, "table", name, test_metrics(model), time.perf_counter() - start,
                     len(history.records) if history else 0)
            for weight, label in ((args.mutual_weight, "w ML"), (0.0, "w/o ML")):
                names = {v: (f"GNNMR-{v}" if v in ("con", "ave") else f"w ML: {v}") if label == "w ML" else f"w/o ML: {v}"
                         for v in ("con", "ave", *modalities)}
                if all((seed, "table", n) in done for n in names.values()):
                    continue
                start = time.perf_counter()
                model, epochs = gnnmr(seed, modalities, mutual_weight=weight)
                read_out(seed, "table", model, names, epochs, time.perf_counter() - start, names.get)
        if "fund" in args.parts and domains:
            names = {v: f"Fund GNNMR-{v}" if v in ("con", "ave") else f"Fund {v}" for v in ("con", "ave", *domains)}
            if not all((seed, "fund", n) in done for n in names.values()):
                start = time.perf_counter()
                model, epochs = gnnmr(seed, domains)
                read_out(seed, "fund", model, names, epochs, time.perf_counter() - start, names.get)
            if (seed, "fund", "Fund early-fusion GAT") not in done:
                start, model = time.perf_counter(), EarlyFusionGAT(data, modalities=domains, embedding_dim=args.dim, seed=seed)
                history = fit(model, data, seed=seed, **budget)
                emit(seed, "fund", "Fund early-fusion GAT", test_metrics(model), time.perf_counter() - start,
                     len(history.records))
        if "sweep" in args.parts:
            points = [(f"d={d}", d, args.mutual_weight) for d in args.dims]
            points += [(f"λ={w:g}", args.dim, w) for w in args.mutual_weights]
            for row, dim, weight in points:
                if (seed, "sweep", row) in done:
                    continue
                start = time.perf_counter()
                model, epochs = gnnmr(seed, modalities, dim=dim, mutual_weight=weight)
                emit(seed, "sweep", row, test_metrics(model), time.perf_counter() - start, epochs)


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def report(path: Path) -> None:
    records = read(path)
    if not records:
        print(f"{path}: no finished runs")
        return
    for part in ("table", "fund", "sweep"):
        chosen = [r for r in records if r["part"] == part]
        if not chosen:
            continue
        frame = pd.DataFrame([{"seed": r["seed"], "row": r["row"], "metric": m, "value": r[m]}
                              for r in chosen for m in METRICS])
        results = SeedResults(frame)
        print(f"\n## {part} (seeds {sorted({r['seed'] for r in chosen})})")
        print(results.table(digits=4).to_string())
        present = set(frame["row"])
        for a, b in COMPARISONS:
            if {a, b} <= present:
                print("-", results.compare(a, b, "recall@20"))
        times = pd.DataFrame(chosen).groupby("row")[["seconds", "epochs"]].mean().round(1)
        print("mean seconds and epochs per run\n" + times.to_string())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("gnnmr_runs.jsonl"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--parts", nargs="+", choices=("table", "fund", "sweep"), default=["table", "fund"])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--profile", default="full", help="sizes the synthetic data set (smoke: 300 x 200)")
    parser.add_argument("--split-seed", type=int, default=0, help="the seed of the 8:1:1 split, fixed over --seeds")
    parser.add_argument("--dim", type=int, default=128, help="embedding size d (the paper's 128)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument("--learning-rate", type=float, default=1e-2)
    parser.add_argument("--eval-every", type=int, default=4)
    parser.add_argument("--patience", type=int, default=3, help="evaluations without improvement before stopping")
    parser.add_argument("--mutual-weight", type=float, default=1.0, help="λ of Eq. 9")
    parser.add_argument("--dims", type=int, nargs="+", default=[16, 32, 64, 128, 256, 512])
    parser.add_argument("--mutual-weights", type=float, nargs="+", default=[0.1, 0.5, 1.0, 2.0])
    parser.add_argument("--text-model", default=None, help="default: the bundled offline MiniLM")
    parser.add_argument("--image-backend", default="auto", choices=("auto", "clip", "torchvision", "offline"))
    parser.add_argument("--image-model", default=None, help="e.g. resnet18 with --image-backend torchvision")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--report", action="store_true", help="only print the tables of --out")
    args = parser.parse_args()
    if not args.report:
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        start = time.perf_counter()
        run(args)
        print(f"\n{time.perf_counter() - start:.0f} s, torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    report(args.out)


if __name__ == "__main__":
    main()

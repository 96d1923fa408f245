"""Chapter 4's recorded run: Tables 2-4 on MovieLens-100K + TMDB over several seeds, on a fixed budget.

Builds the chapter's data exactly as ``notebooks/04_multi_kg4rec.ipynb`` does (movie KG from the
TMDB metadata, mislinked movies without TMDB facts or poster, the full profile's text and image
encoders) and trains, per seed, Popularity, BPR-MF, CKE, KGAT, MKGAT, KGCN and the six
Multi-KG4Rec variants (full, w/o t&v, w/o v, w/o t, text→visual only, visual→text only). The six
variants and the "BPR-MF" row share one budget: at most ``--epochs`` epochs at ``--batch-size``
(learning rate ``--learning-rate``, validation recall@20 after every epoch, patience
``--patience``, best epoch restored); each defaults to the full profile's ``multi_kg4rec``
setting. The KG baselines train with their own budget, the full profile's ``kg_baselines``
setting (at most 40 epochs at batch 4096, evaluated every 5, patience 3; ``--baseline-epochs``
caps it), as the chapter does: under the variants' short budget they stay below popularity, which
says nothing about the methods. Model sizes are the full profile's (``multi_kg4rec`` and
``kg_baselines`` keys of :mod:`mmrec_lite.profiles`), as in the chapter. BPR-MF is also trained to
convergence (``--bpr-epochs`` at batch 4096, row "BPR-MF (converged)"), since matrix factorisation
needs many more steps than a short budget.

Seeds run one after another and every finished model is appended to ``--out`` (JSON lines), so an
interrupted run keeps its complete seeds. ``--report`` only prints the tables of an existing file.
Usage::

    MMREC_DATA=/path/to/data python scripts/multi_kg4rec_seeds.py --out kg_runs.jsonl [--seeds 0 1 2]
    # the chapter's recorded CPU run: half the profile's steps per epoch, KG baselines capped at 20 epochs
    MMREC_DATA=/path/to/data python scripts/multi_kg4rec_seeds.py --out kg_runs.jsonl --epochs 12 \
        --batch-size 8192 --baseline-epochs 20 --device cpu
    python scripts/multi_kg4rec_seeds.py --out kg_runs.jsonl --report
    # the KG-only benchmarks the paper's data comes from (no images or texts: KG rows only)
    MMREC_DATA=/path/to/data python scripts/multi_kg4rec_seeds.py --dataset amazon-book-kg --out book.jsonl
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
import warnings
from pathlib import Path

import pandas as pd
import torch

from mmrec_lite import models
from mmrec_lite.data import load_dataset
from mmrec_lite.evaluation import evaluate_full
from mmrec_lite.experiments import SeedResults
from mmrec_lite.features import TextEncoder, encode_images
from mmrec_lite.graphs.mmkg import attribute_texts, movie_knowledge_graph, single_modal_features, trusted_tmdb_items
from mmrec_lite.models.multi_kg4rec import MultiKG4Rec
from mmrec_lite.profiles import get_profile
from mmrec_lite.training import fit

METRICS = ["recall@20", "mrr@20", "ndcg@20", "recall@10", "ndcg@10"]
VARIANTS = {"Multi-KG4Rec": {}, "w/o t&v": {"modalities": ()}, "w/o v": {"modalities": ("text",)},
            "w/o t": {"modalities": ("visual",)}, "text→visual only": {"cross": "text_to_visual"},
            "visual→text only": {"cross": "visual_to_text"}}
BASELINES = ("CKE", "KGAT", "MKGAT", "KGCN")
KG_ONLY = ("ml-1m-kg", "amazon-book-kg")
MODAL_ROWS = ("MKGAT", *(name for name in VARIANTS if name != "w/o t&v"))  # they need item images and texts


def chapter_data(hp: dict, device: str):
    """The chapter's ML-100K data, KG and single-modal features (cells of Sections 2-3)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_dataset("ml-100k", profile="full", seed=0)
    data = dataclasses.replace(data, kg=movie_knowledge_graph(data))
    trusted = trusted_tmdb_items(data)
    field = "overview" if "overview" in data.item_text else "description"
    docs = [d if isinstance(d, str) and d.strip() and ok else str(t)
            for d, t, ok in zip(data.item_text[field], data.item_text["title"], trusted)]
    images = data.item_images
    if isinstance(images, list):
        images = [p if ok else None for p, ok in zip(images, trusted)]
    encoder = TextEncoder(max_length=hp["text_max_length"], device=device)
    item_text = encoder.encode(docs)
    entity_text = encoder.encode(attribute_texts(data.kg, data.n_items))
    item_visual = encode_images(images, backend=hp["image_backend"], device=device)
    modal = single_modal_features(data.kg, data, item_visual, item_text, entity_text)
    data.features.update({"text": item_text, "image": item_visual})
    return data, modal


def kg_only_data(name: str):
    """A public KG benchmark without item images or texts (``ml-1m-kg``: KB4Rec/MKR layout,
    ``amazon-book-kg``: KGAT layout), downloaded into ``MMREC_DATA`` when missing and allowed."""
    data = load_dataset(name, seed=0)
    data.require("kg")
    return data, None


def run(args) -> None:
    profile = get_profile("full")
    hp, baselines = profile.for_chapter("multi_kg4rec"), profile.for_chapter("kg_baselines")
    if args.dataset in KG_ONLY:
        data, modal = kg_only_data(args.dataset)
        print(data, f"| KG {len(data.kg.triples)} triples | KG only: {args.dataset} has no item images or texts, so "
              f"the rows that need them ({', '.join(MODAL_ROWS)}) are not run", flush=True)
    else:
        data, modal = chapter_data(hp, args.device)
        print(data, f"| KG {len(data.kg.triples)} triples | image backend {hp['image_backend']} "
              f"(open_clip {'present' if _has_open_clip() else 'absent: offline descriptor'})", flush=True)
    done = {(r["seed"], r["row"]) for r in _read(args.out)}
    settings = {key: hp[key] if getattr(args, key) is None else getattr(args, key)
                for key in ("epochs", "batch_size", "learning_rate", "patience")}
    budget = dict(**settings, device=args.device, progress=False)
    baseline_settings = {key: baselines[key] for key in ("epochs", "batch_size", "learning_rate", "patience", "eval_every")}
    if args.baseline_epochs is not None:
        baseline_settings["epochs"] = args.baseline_epochs
    baseline_budget = dict(**baseline_settings, device=args.device, progress=False)
    print("budget of the Multi-KG4Rec variants and BPR-MF:", settings, "| of the KG baselines:", baseline_settings,
          flush=True)
    for seed in args.seeds:
        builders = {"Popularity": (lambda: models.Popularity(data), None),
                    "BPR-MF": (lambda: models.BPRMF(data, embedding_dim=64, seed=seed), budget),
                    "BPR-MF (converged)": (lambda: models.BPRMF(data, embedding_dim=64, seed=seed),
                                           {**budget, "epochs": args.bpr_epochs, "batch_size": 4096, "patience": 5})}
        for name in BASELINES:
            sizes = {**baselines.get(name, {}), **({"modalities": ()} if modal is None and name == "CKE" else {})}
            builders[name] = (lambda sizes=sizes, name=name: getattr(models, name)(data, seed=seed, **sizes),
                              baseline_budget)
        for name, changes in VARIANTS.items():
            builders[name] = (lambda changes=changes: MultiKG4Rec(data, modal, **{**hp["model"], **changes}, seed=seed),
                              budget)
        for row, (build, settings) in builders.items():
            if (seed, row) in done or (modal is None and row in MODAL_ROWS):
                continue
            start = time.perf_counter()
            model = build()
            history = fit(model, data, seed=seed, **settings) if settings else None
            scores = evaluate_full(model, data, "test", ks=(10, 20), device=args.device)
            record = {"seed": seed, "row": row, **{m: scores[m] for m in METRICS},
                      "epochs": len(history.records) if history else 0,
                      "best_epoch": history.best_epoch if history else None,
                      "seconds": round(time.perf_counter() - start, 1),
                      "epoch_seconds": [round(r["seconds"], 1) for r in history.records] if history else []}
            with open(args.out, "a") as out:
                out.write(json.dumps(record) + "\n")
            print(f"seed {seed} {row:20s} recall@20 {record['recall@20']:.4f}  {record['epochs']} epochs "
                  f"(best {record['best_epoch']})  {record['seconds']:.0f} s  load {os.getloadavg()[0]:.1f}", flush=True)


def _has_open_clip() -> bool:
    try:
        import open_clip  # noqa: F401
    except ImportError:
        return False
    return True


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def report(path: Path) -> None:
    records = _read(path)
    frame = pd.DataFrame([{"seed": r["seed"], "row": r["row"], "metric": m, "value": r[m]}
                          for r in records for m in METRICS])
    results = SeedResults(frame)
    print(results.table(digits=4).to_string())
    times = pd.DataFrame(records).groupby("row")[["seconds", "epochs"]].mean().round(1)
    print("\nmean seconds and epochs per run\n" + times.to_string())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("multi_kg4rec_runs.jsonl"))
    parser.add_argument("--dataset", default="ml-100k", choices=("ml-100k", *KG_ONLY),
                        help="ml-100k: the chapter's multimodal data; the others: KG-only rows (CKE without side "
                             "features, KGAT, KGCN, Multi-KG4Rec w/o t&v, BPR-MF, Popularity)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="default: the full profile's")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the full profile's")
    parser.add_argument("--learning-rate", type=float, default=None, help="default: the full profile's")
    parser.add_argument("--patience", type=int, default=None, help="default: the full profile's")
    parser.add_argument("--bpr-epochs", type=int, default=60)
    parser.add_argument("--baseline-epochs", type=int, default=None, help="cap the KG baselines' epochs "
                        "(default: the full profile's kg_baselines setting)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    if not args.report:
        torch.set_num_threads(args.threads)
        start = time.perf_counter()
        run(args)
        print(f"\n{time.perf_counter() - start:.0f} s on {platform.machine()}, torch {torch.__version__}, "
              f"{torch.get_num_threads()} thread(s)")
    report(args.out)


if __name__ == "__main__":
    main()

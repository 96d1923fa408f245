"""GLEM-Rec chapter, full profile over several seeds: the tables the chapter interprets, mean ± std.

The recorded runs quoted in ``notebooks/01_glem_rec.ipynb`` come from this script (a runner of
recorded runs, not a benchmark). Tables 1–3 (with the trivial rating baselines), Table 4
(ablations, including the two labelled input / normalisation choices), the cold-start table and
the λ sweep, each run written to a JSON-lines file as soon as it finishes (a killed run keeps what
it finished); ``--report`` prints the ``SeedResults`` tables and the computed comparisons::

    MMREC_DATA=<data folder> python scripts/glem_rec_seeds.py --seeds 0 1 2 --out glem_seeds.jsonl
    MMREC_DATA=<data folder> python scripts/glem_rec_seeds.py --seeds 0 1 2 --only cold-start sweep
    python scripts/glem_rec_seeds.py --report --out glem_seeds.jsonl
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd
import torch

from mmrec_lite import evaluation, metrics
from mmrec_lite.data import load_dataset
from mmrec_lite.experiments import SeedResults
from mmrec_lite.features import TextEncoder
from mmrec_lite.features.item_matrix import item_documents, item_feature_matrix, numeric_columns
from mmrec_lite.models import (BPRMF, MF, NCF, BiasBaseline, GlobalMean, GLEMRec, ItemKNN, MetadataRidge, Popularity,
                               UserKNN, UserMean)
from mmrec_lite.profiles import get_profile
from mmrec_lite.rated_candidates import niche_tail_performance, rated_coverage
from mmrec_lite.training import fit

PROXIES = "GLEM-Rec + TMDB rating columns (label proxies)"


def paper_metrics(model, data) -> dict[str, float]:
    rated = evaluation.evaluate_rated(model, data, split="test", k=10, threshold=4.0)
    beyond = evaluation.beyond_accuracy(model, data, k=10, split="test")
    return {"RMSE": rated["rmse"], "MAE": rated["mae"], "MRR": rated["mrr"], "P@10": rated["precision@10"],
            "R@10": rated["recall@10"], "NDCG@10": rated["ndcg@10"], "MAP@10": rated["map@10"],
            "coverage": rated_coverage(model, data, "test", k=10),
            "niche tail": niche_tail_performance(model, data, "test", k=10),
            "catalogue coverage@10": beyond["coverage"]}


def prepare(dataset: str, profile: str, split_seed: int, hp: dict):
    data = load_dataset(dataset, profile=profile, seed=split_seed)
    text = TextEncoder(None, pooling="max", max_length=hp["text_max_length"], batch_size=128).encode(item_documents(data))
    data.add_features("text", text)
    data.add_features("glem_meta", item_feature_matrix(data.item_meta, categories=data.item_categories).values)
    with_proxies = numeric_columns(data.item_meta, label_proxies=True)
    data.add_features("glem_meta_proxies", item_feature_matrix(data.item_meta, categories=data.item_categories,
                                                               numeric=with_proxies).values)
    return data


PAPER_LAMBDAS = {"lambda_diversity": 200.0, "lambda_personalization": 7.0, "lambda_coverage": 200.0}


def run(seed: int, data, profile_name: str, emit, glem_epochs: int | None = None,
        rows: list[str] | None = None, parts: tuple[str, ...] = ("tables", "cold-start", "sweep")) -> None:
    """One seed of every table: model initialisation, batch order and the cold items vary; the split is
    that of ``data`` (as in the chapter, which varies the seed on the split of ``SEED``). ``rows`` limits the
    rows of Tables 1-4 and of the cold-start table (to spread one seed over several processes, or to add a row); ``parts`` picks the tables."""
    profile = get_profile(profile_name)
    hp = profile.for_chapter("glem_rec")
    if glem_epochs is not None:
        hp["epochs"] = glem_epochs
    model_hp = {"embedding_dim": hp["embedding_dim"], "n_layers": hp["n_layers"], **hp["model"]}
    train_hp = {key: hp[key] for key in ("epochs", "batch_size", "learning_rate", "patience")}
    glem_variants = {
        "GLEM-Rec": {},
        "GLEM-Rec (tuned)": hp["tuned"],
        PROXIES: {"meta_feature": "glem_meta_proxies"},
        "GLEM-Rec, one merged LayerNorm": {"layer_norm": "merged"},
        "w/o semantic extractor": {"use_text": False},
        "w/o heterogeneous data processor": {"use_processor": False},
        "w/o GNN integrator": {"use_gnn": False},
    }
    builders = {
        "Global mean": lambda d: GlobalMean(d), "User mean": lambda d: UserMean(d),
        "User + item bias": lambda d: BiasBaseline(d),
        "Linear on item metadata": lambda d: MetadataRidge(d, feature="glem_meta"),
        "Popularity": lambda d: Popularity(d, predict_ratings=True),
        "User-CF": lambda d: UserKNN(d, predict_ratings=True), "Item-CF": lambda d: ItemKNN(d, predict_ratings=True),
        "MF": lambda d: MF(d, embedding_dim=hp["embedding_dim"], seed=seed),
        "BPR": lambda d: BPRMF(d, embedding_dim=hp["embedding_dim"], seed=seed),
        "NCF": lambda d: NCF(d, embedding_dim=hp["embedding_dim"] // 2, objective="rating", seed=seed),
    }
    for name, change in glem_variants.items():
        builders[name] = lambda d, change=change: GLEMRec(d, **{**model_hp, **change}, seed=seed)

    def train(name, d):
        model = builders[name](d)
        if model.batch_kind is not None:
            settings = train_hp if isinstance(model, GLEMRec) else hp["baseline"]
            fit(model, d, metric="recall@20" if name == "BPR" else "rmse", seed=seed, progress=False,
                device="cpu", **settings)
        return model

    for name in (rows or list(builders)) if "tables" in parts else ():
        start = time.perf_counter()
        values = paper_metrics(train(name, data), data)
        if name == "BPR":
            values.update(RMSE=float("nan"), MAE=float("nan"))
        emit(seed, "tables", name, values, time.perf_counter() - start)
    if "sweep" in parts:
        sweep(seed, data, hp, model_hp, train_hp, emit)
    if "cold-start" not in parts:
        return

    test_items = torch.unique(data.test.item)
    shuffled = test_items[torch.randperm(len(test_items), generator=torch.Generator().manual_seed(seed))]
    cold = shuffled[:max(1, int(hp["cold_item_share"] * len(test_items)))]
    cold_data = data.with_splits(data.train.select(~torch.isin(data.train.item, cold)),
                                 data.valid.select(~torch.isin(data.valid.item, cold)), data.test)
    is_cold = torch.isin(data.test.item, cold)
    builders["Linear on item metadata + TMDB rating columns"] = lambda d: MetadataRidge(d, feature="glem_meta_proxies")
    cold_rows = ("Global mean", "User mean", "User + item bias", "Linear on item metadata",
                 "Linear on item metadata + TMDB rating columns", "MF", "GLEM-Rec", "GLEM-Rec (tuned)", PROXIES)
    for name in (row for row in cold_rows if rows is None or row in rows):
        start = time.perf_counter()
        model = train(name, cold_data).eval()
        with torch.no_grad():
            pred = model.predict(data.test.user, data.test.item).cpu()
        emit(seed, "cold start", name, {"RMSE, cold items": metrics.rmse(pred[is_cold], data.test.rating[is_cold]),
                                        "RMSE, warm items": metrics.rmse(pred[~is_cold], data.test.rating[~is_cold]),
                                        "cold items": float(len(cold))}, time.perf_counter() - start)


def sweep(seed: int, data, hp: dict, model_hp: dict, train_hp: dict, emit) -> None:
    """The chapter's λ sweep (section 6): one λ at a time, the others at the paper's values, each point a
    run of ``hp["sweep"]["epochs"]`` epochs; validation RMSE and full-catalogue coverage / tail share."""
    done = {}
    for name, values in hp["sweep"]["grid"].items():
        for value in values:
            setting = {**PAPER_LAMBDAS, **model_hp, name: value}
            key = tuple(setting[term] for term in PAPER_LAMBDAS)
            start = time.perf_counter()
            if key not in done:                           # the paper's point appears in every row
                model = GLEMRec(data, **setting, seed=seed)
                fit(model, data, metric="rmse", seed=seed, progress=False, device="cpu",
                    **{**train_hp, "epochs": hp["sweep"]["epochs"]})
                beyond = evaluation.beyond_accuracy(model, data, k=10, split="valid")
                done[key] = {"valid RMSE": evaluation.evaluate_rated(model, data, split="valid")["rmse"],
                             "coverage@10": beyond["coverage"], "tail share": beyond["tail_share"]}
            emit(seed, "lambda sweep", f"{name}={value:g}", done[key], time.perf_counter() - start)


def report(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for table in dict.fromkeys(r["table"] for r in rows):
        long = pd.DataFrame([{"seed": r["seed"], "row": r["row"], "metric": m, "value": v}
                             for r in rows if r["table"] == table for m, v in r["values"].items()])
        results = SeedResults(long)
        print(f"\n## {table} (seeds {results.seeds})")
        print(results.table().to_string())
        present = set(results.mean().index)
        if table == "lambda sweep":
            for name, paper in PAPER_LAMBDAS.items():
                if {f"{name}=0", f"{name}={paper:g}"} <= present:
                    print("-", results.compare(f"{name}={paper:g}", f"{name}=0", "valid RMSE"))
        elif table == "tables":
            for a, b, metric in (("GLEM-Rec", "MF", "RMSE"), ("GLEM-Rec (tuned)", "MF", "RMSE"),
                                 ("GLEM-Rec", "User + item bias", "RMSE"), ("GLEM-Rec", "MF", "niche tail"),
                                 (PROXIES, "GLEM-Rec", "RMSE"), ("GLEM-Rec, one merged LayerNorm", "GLEM-Rec", "RMSE"),
                                 ("w/o semantic extractor", "GLEM-Rec", "RMSE"),
                                 ("w/o heterogeneous data processor", "GLEM-Rec", "RMSE"),
                                 ("w/o GNN integrator", "GLEM-Rec", "RMSE"), ("w/o semantic extractor", "GLEM-Rec", "niche tail")):
                if {a, b} <= present:
                    print("-", results.compare(a, b, metric))
        else:
            for a, b in (("GLEM-Rec", "MF"), ("GLEM-Rec", "User mean"), (PROXIES, "GLEM-Rec"),
                         ("GLEM-Rec (tuned)", "GLEM-Rec"), ("GLEM-Rec (tuned)", "MF"), ("GLEM-Rec (tuned)", "User mean"),
                         ("Linear on item metadata + TMDB rating columns", "User mean")):
                if {a, b} <= present:
                    print("-", results.compare(a, b, "RMSE, cold items"))
    seconds = pd.DataFrame(rows).groupby("seed")["seconds"].sum()
    print("\nseconds per seed:", seconds.round(0).to_dict())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--profile", default="full")
    parser.add_argument("--out", type=Path, default=Path("glem_rec_seeds.jsonl"))
    parser.add_argument("--split-seed", type=int, default=0, help="the seed of the 8:1:1 split, fixed over --seeds")
    parser.add_argument("--glem-epochs", type=int, default=None, help="cap GLEM-Rec's epochs (default: the profile's)")
    parser.add_argument("--rows", nargs="+", default=None, help="only these rows of Tables 1-4 and the cold-start table")
    parser.add_argument("--only", nargs="+", choices=["tables", "cold-start", "sweep"],
                        default=["tables", "cold-start", "sweep"], help="which tables to run")
    parser.add_argument("--report", action="store_true", help="only print the tables of --out")
    args = parser.parse_args()
    if args.report:
        report(args.out)
        return
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

    def emit(seed, table, row, values, seconds):
        with args.out.open("a") as f:
            f.write(json.dumps({"seed": seed, "table": table, "row": row, "values": values, "seconds": seconds}) + "\n")
        print(f"seed {seed} {table:>10} {row:<50} {seconds:7.1f} s", flush=True)

    hp = get_profile(args.profile).for_chapter("glem_rec")
    data = prepare(args.dataset, args.profile, args.split_seed, hp)       # one split and one encoding for all seeds
    for seed in args.seeds:
        run(seed, data, args.profile, emit, args.glem_epochs, args.rows, tuple(args.only))
    report(args.out)


if __name__ == "__main__":
    main()

"""SCALE chapter, section 5 as a script: the main table (SCALE and its baselines), mean ± std over seeds.

The recorded run quoted in ``notebooks/02_scale.ipynb`` is this table (a runner of recorded runs, not a
benchmark). It builds the chapter's inputs — the data of ``--dataset`` split with ``--split-seed``,
template (or ``--profile-llm``) profiles encoded with ``--text-model`` (``None``: the bundled offline
MiniLM), images through ``--image-backend``, SCALE's graphs with the paper's k_s, k_o, k_f — then trains
every model of the table once per seed (weights and batch order) and tests it under MMRec's protocol.
Each finished model is appended to a JSON-lines file (a killed run keeps what it finished); ``--report``
prints the ``SeedResults`` table and the computed comparisons::

    # the paper's budget (the full profile: up to 1,000 epochs, lr 1e-3, patience 21 = MMRec's
    # stopping_step 20); needs a GPU for the models to finish in hours rather than days
    MMREC_DATA=<data folder> python scripts/scale_full_table.py --dataset ml-100k --seeds 0 1 2 \\
        --device cuda --out scale_full.jsonl
    # the recorded CPU run of the chapter (at most 20 epochs, lr 1e-2, patience 5)
    MMREC_DATA=<data folder> OMP_NUM_THREADS=1 python scripts/scale_full_table.py --dataset ml-100k \\
        --seeds 0 1 2 --epochs 20 --learning-rate 1e-2 --patience 5 --out scale_full.jsonl
    python scripts/scale_full_table.py --report --out scale_full.jsonl
"""
from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import time
from pathlib import Path

import pandas as pd
import torch

from mmrec_lite import evaluation, features, training
from mmrec_lite.data import load_dataset
from mmrec_lite.experiments import SeedResults
from mmrec_lite.graphs.semantic import build_semantic_graphs
from mmrec_lite.models import BPRMF, LATTICE, LGMRec, LightGCN, Popularity
from mmrec_lite.models.freedom import FREEDOM
from mmrec_lite.models.scale import SCALE
from mmrec_lite.models.vbpr import VBPR
from mmrec_lite.profiles import get_profile, resolve_device

METRICS = ["recall@10", "recall@20", "ndcg@10", "ndcg@20"]
ROWS = ["Popularity", "BPR", "LightGCN", "VBPR", "FREEDOM", "LATTICE", "LGMRec", "SCALE", "SCALE (OR)"]
COMPARISONS = [("SCALE", other) for other in ("LightGCN", "FREEDOM", "LATTICE", "LGMRec", "BPR")] + [
    ("SCALE (OR)", "SCALE"), ("LGMRec", "FREEDOM"), ("LATTICE", "FREEDOM"), ("SCALE", "Popularity")]


def mean_of_items(data, item_vectors: torch.Tensor) -> torch.Tensor:
    """Each user's mean over the items of their training interactions (data without raw text)."""
    interactions = data.train_matrix().coalesce()
    ones = torch.sparse_coo_tensor(interactions.indices(), torch.ones(interactions._nnz()), interactions.shape)
    degree = torch.sparse.sum(ones, dim=1).to_dense().clamp(min=1)
    return torch.sparse.mm(ones, item_vectors) / degree[:, None]


def prepare(args, hp: dict, device: torch.device):
    """The chapter's sections 2-3: data, profiles, text and image features, SCALE's semantic graphs."""
    data = load_dataset(args.dataset, profile=args.profile, seed=args.split_seed)
    encoder = features.TextEncoder(args.text_model, max_length=hp["text_max_length"], device=device)
    if data.item_text is not None:
        generator = (features.HFProfileGenerator(args.profile_llm, device=device) if args.profile_llm
                     else features.TemplateProfileGenerator())
        item_text = encoder.encode(features.item_profiles(data, generator))
        user_text = encoder.encode(features.user_profiles(data, generator))
    else:
        item_text = data.features["text"]
        user_text = mean_of_items(data, item_text)
    if "image" in data.features:
        item_image = data.features["image"]
    elif data.item_images is not None:
        backend = args.image_backend
        if backend == "auto":
            backend = "clip" if importlib.util.find_spec("open_clip") is not None else "offline"
        item_image = features.encode_images(data.item_images, backend=backend, device=device)
    else:
        item_image = None
    data.add_features("text", item_text)
    data.add_features("text", user_text, users=True)
    if item_image is not None:
        data.add_features("image", item_image)
    defaults = {name: p.default for name, p in inspect.signature(SCALE.__init__).parameters.items()}
    semantic = build_semantic_graphs(user_text, item_text, item_image, k_s=defaults["k_s"], k_o=defaults["k_o"],
                                     k_f=defaults["k_f"], device=device)
    return data, semantic, ("text", "image") if item_image is not None else ("text",)


def builders(data, semantic, modalities, dim: int) -> dict:
    """The models of the chapter's main table, by row name (the chapter's ``builders``)."""
    return {
        "Popularity": lambda seed: Popularity(data),
        "BPR": lambda seed: BPRMF(data, embedding_dim=dim, seed=seed),
        "LightGCN": lambda seed: LightGCN(data, embedding_dim=dim, seed=seed),
        "VBPR": lambda seed: VBPR(data, embedding_dim=dim, features=modalities, seed=seed),
        "FREEDOM": lambda seed: FREEDOM(data, embedding_dim=dim, image="image" if "image" in modalities else None,
                                        seed=seed),
        "LATTICE": lambda seed: LATTICE(data, embedding_dim=dim, features=modalities, seed=seed),
        "LGMRec": lambda seed: LGMRec(data, embedding_dim=dim, features=modalities, seed=seed),
        "SCALE": lambda seed: SCALE(data, embedding_dim=dim, graphs=semantic, seed=seed),
        "SCALE (OR)": lambda seed: SCALE(data, embedding_dim=dim, graphs=semantic, combine="or", seed=seed),
    }


def report(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    results = SeedResults(pd.DataFrame([{"seed": r["seed"], "row": r["row"], "metric": m, "value": v}
                                        for r in rows for m, v in r["values"].items()]))
    print(f"## main table (seeds {results.seeds}, test under protocol='mmrec')")
    print(results.table().to_string())
    present = set(results.mean().index)
    for a, b in COMPARISONS:
        if {a, b} <= present:
            for metric in ("recall@20", "ndcg@20"):
                print("-", results.compare(a, b, metric))
    epochs = pd.DataFrame(rows).groupby("row", sort=False)[["epochs", "best_epoch", "seconds"]].mean()
    print("\nmean over seeds of the epochs run, the best (restored) epoch and the seconds:")
    print(epochs.round(1).to_string())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--profile", default="full", help="the profile whose chapter settings are the defaults")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="default: the profile's (full: 1,000)")
    parser.add_argument("--learning-rate", type=float, default=None, help="default: the profile's (full: 1e-3)")
    parser.add_argument("--patience", type=int, default=None, help="default: the profile's (full: 21)")
    parser.add_argument("--text-model", default=None, help="default: the bundled offline MiniLM")
    parser.add_argument("--profile-llm", default=None, help="a generative model id for the Eq. 1-2 profiles")
    parser.add_argument("--image-backend", default="auto", choices=["auto", "clip", "offline"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rows", nargs="+", default=ROWS, choices=ROWS)
    parser.add_argument("--out", type=Path, default=Path("scale_full.jsonl"))
    parser.add_argument("--report", action="store_true", help="only print the table of --out")
    args = parser.parse_args()
    if args.report:
        report(args.out)
        return
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    hp = get_profile(args.profile).for_chapter("scale")
    overrides = {"epochs": args.epochs, "learning_rate": args.learning_rate, "patience": args.patience}
    hp.update({key: value for key, value in overrides.items() if value is not None})
    device = resolve_device(args.device)
    start = time.perf_counter()
    data, semantic, modalities = prepare(args, hp, device)
    print(f"{data}\ninputs in {time.perf_counter() - start:.0f} s; training: epochs {hp['epochs']}, "
          f"lr {hp['learning_rate']}, patience {hp['patience']}, batch {hp['batch_size']}, device {device}", flush=True)
    build = builders(data, semantic, modalities, hp["embedding_dim"])
    for seed in args.seeds:
        for name in args.rows:
            start = time.perf_counter()
            model = build[name](seed)
            epochs = best = 0
            if model.batch_kind is not None:
                history = training.fit(model, data, epochs=hp["epochs"], batch_size=hp["batch_size"],
                                       learning_rate=hp["learning_rate"], eval_every=hp["eval_every"],
                                       patience=hp["patience"], device=device, seed=seed, progress=False)
                epochs, best = len(history), history.best_epoch
            result = evaluation.evaluate_full(model, data, split="test", ks=(10, 20), device=device, protocol="mmrec")
            record = {"seed": seed, "row": name, "values": {m: result[m] for m in METRICS}, "epochs": epochs,
                      "best_epoch": best, "seconds": time.perf_counter() - start}
            with args.out.open("a") as f:
                f.write(json.dumps(record) + "\n")
            print(f"seed {seed} {name:>10}: recall@20 {result['recall@20']:.4f}, {epochs} epochs (best {best}), "
                  f"{record['seconds']:.0f} s", flush=True)
    report(args.out)


if __name__ == "__main__":
    main()

"""The SymCERE chapter's runs: every baseline and ablation on one split, over seeds and datasets.

- :func:`prepare` loads a review dataset by name, splits it per user 8:1:1 and builds the
  training-review embeddings (the encoding is cached, so seeds and runs share it);
- :func:`run_rows` trains and evaluates every row of :data:`ROWS` on the test split;
- :func:`compare_datasets` loops over datasets and seeds (:func:`~mmrec_lite.experiments.over_seeds`)
  and returns one summary table with SymCERE's relative NDCG@10 improvement over the best other
  row, as the paper reports it;
- :func:`popularity_bias` and :func:`head_tail_ndcg`: embedding norm against item popularity, and
  accuracy on head and tail items; :func:`popularity_rows` computes both, and the top-10
  exposure's correlation with popularity, for the models of :data:`BIAS_ROWS`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from scipy import stats

from .data import load_dataset, make_synthetic, split_random
from .data.recdata import RecData
from .data.reviews import ensure_amazon_reviews, load_amazon_reviews
from .evaluation import evaluate_full, recommend
from .experiments import SeedResults, over_seeds
from .features.review_embeddings import ReviewEmbeddings, aggregate_reviews, encode_reviews
from .features.text import TextEncoder
from .models import LightGCN, Popularity
from .models.review_text import ReviewText
from .models.symcere import SymCERE
from .training import fit

__all__ = ["ROWS", "OURS", "METRICS", "BIAS_ROWS", "prepare", "build", "train_row", "run_rows", "compare_datasets",
           "Comparison", "summarise", "popularity_bias", "head_tail_ndcg", "popularity_rows"]

OURS = "SymCERE"
METRICS = ("ndcg@10", "recall@10", "recall@20", "ndcg@20")
#: row name -> SymCERE keyword arguments (None: a model of its own, built in :func:`build`)
ROWS: dict[str, dict | None] = {
    "Popularity": None,
    "Text only (review embeddings)": None,
    "LightGCN": None,
    "LightGCN + InfoNCE (false negatives kept)": {"alignment": "infonce"},
    "LightGCN + SupCon (positives in denominator)": {"alignment": "supcon"},
    "SymCERE without L2": {"normalize": False},
    "SINCERE graph→text only": {"directions": ("graph_to_text",)},
    "SINCERE text→graph only": {"directions": ("text_to_graph",)},
    "SymCERE without intra-modal": {"intra_weight": 0.0},
    "SymCERE, graph score only": {"fuse_text": False},
    OURS: {},
}


def prepare(name: str, profile: str = "smoke", seed: int = 0, encoder: TextEncoder | None = None,
            root=None, synthetic: dict | None = None, release: int | None = None) -> tuple[RecData, ReviewEmbeddings]:
    """A split review dataset and its training-review embeddings. ``name``: ``"synthetic"`` (sized by
    ``synthetic``, keyword arguments of :func:`~mmrec_lite.data.make_synthetic`, else by the
    profile) or an Amazon category (``"Musical_Instruments"``, ``"All_Beauty"``: 2014 or 2018
    layout, duplicate policy and 5-core re-check of :mod:`mmrec_lite.data.reviews`). With
    ``release`` (2014 or 2018) a missing category file is downloaded first
    (:func:`~mmrec_lite.data.reviews.ensure_amazon_reviews`, sha256 pinned where known)."""
    if name == "synthetic":
        data = (split_random(make_synthetic(**synthetic, seed=seed, images=False), seed=seed) if synthetic
                else load_dataset("synthetic", profile, seed=seed))
    else:
        if release is not None:
            ensure_amazon_reviews(name, release, root)
        data = split_random(load_amazon_reviews(name, root=root)[0], seed=seed)
    return data, aggregate_reviews(data, encode_reviews(data, encoder))


def build(row: str, data: RecData, text: ReviewEmbeddings, hp: dict, seed: int):
    """The model of one row, its weights seeded by ``seed``; ``hp["model"]`` holds SymCERE's arguments."""
    if row == "Popularity":
        return Popularity(data)
    if row.startswith("Text only"):
        return ReviewText(data, text)
    if row == "LightGCN":
        return LightGCN(data, hp["embedding_dim"], hp.get("n_layers", 3), seed=seed)
    return SymCERE(data, text, hp["embedding_dim"], hp.get("n_layers", 3), **{**hp.get("model", {}), **ROWS[row]},
                   seed=seed)


def train_row(row: str, data: RecData, text: ReviewEmbeddings, hp: dict, seed: int, device="auto",
              progress: bool = False):
    """The model of ``row`` trained on ``data.train`` (early stopping on validation NDCG@10)."""
    model = build(row, data, text, hp, seed)
    fit(model, data, epochs=hp["epochs"], batch_size=hp["batch_size"], learning_rate=hp["learning_rate"],
        patience=hp["patience"], metric="ndcg@10", device=device, seed=seed, progress=progress)
    return model


def run_rows(data: RecData, text: ReviewEmbeddings, hp: dict, seed: int, device="auto",
             rows: Sequence[str] | None = None, progress: bool = False) -> dict[str, dict[str, float]]:
    """Train and test every row; ``{row: {metric: value}}``."""
    table = {}
    for row in rows or ROWS:
        scores = evaluate_full(train_row(row, data, text, hp, seed, device, progress), data, "test", ks=(10, 20))
        table[row] = {metric: scores[metric] for metric in METRICS}
    return table


@dataclass
class Comparison:
    """Per-dataset :class:`SeedResults` and the summary table of :func:`compare_datasets`."""

    results: dict[str, SeedResults]
    summary: pd.DataFrame


def compare_datasets(names: Sequence[str], seeds: Sequence[int], hp: dict, profile: str = "smoke", device="auto",
                     rows: Sequence[str] | None = None, root=None,
                     prepare_fn: Callable[..., tuple[RecData, ReviewEmbeddings]] | None = None) -> Comparison:
    """Every row on every dataset over ``seeds`` (a new split per seed) and the :func:`summarise`
    table. Review encodings use ``hp["text_model"]`` / ``hp["text_max_length"]``; synthetic data
    is sized by ``hp["synthetic"]``; ``hp["releases"]`` names the Amazon release to download a
    missing category from."""
    if prepare_fn is None:
        encoder = TextEncoder(hp.get("text_model"), max_length=hp.get("text_max_length", 128))

        def prepare_fn(name: str, seed: int) -> tuple[RecData, ReviewEmbeddings]:
            return prepare(name, profile, seed, encoder, root, hp.get("synthetic"), hp.get("releases", {}).get(name))
    results = {}
    for name in names:
        def run(seed: int, name=name):
            data, text = prepare_fn(name, seed)
            return run_rows(data, text, hp, seed, device, rows)
        results[name] = over_seeds(run, seeds)
    return Comparison(results, summarise(results))


def summarise(results: dict[str, SeedResults], metric: str = "ndcg@10") -> pd.DataFrame:
    """One line per dataset: SymCERE's mean ``metric``, the best other row's, the relative
    improvement ``(ours − best) / best`` in percent and whether the difference exceeds the two
    spreads (:meth:`SeedResults.separated`)."""
    lines = []
    for name, result in results.items():
        mean, std = result.mean()[metric], result.std()[metric]
        best = mean.drop(OURS).idxmax()
        lines.append({"dataset": name, f"SymCERE {metric}": mean[OURS], "± (SymCERE)": std[OURS],
                      "best other row": best, f"its {metric}": mean[best], "± (best)": std[best],
                      "relative improvement %": 100 * (mean[OURS] - mean[best]) / mean[best],
                      "beyond the spread": result.separated(OURS, best, metric), "seeds": len(result.seeds)})
    return pd.DataFrame(lines).set_index("dataset")


def popularity_bias(item_embeddings: torch.Tensor, data: RecData) -> dict[str, float]:
    """Pearson and Spearman correlation between the items' embedding norms and their training
    popularity (distinct training users per item)."""
    norms = item_embeddings.detach().norm(dim=1).cpu().double().numpy()
    popularity = data.item_popularity("train").cpu().double().numpy()
    return {"pearson": float(stats.pearsonr(norms, popularity)[0]),
            "spearman": float(stats.spearmanr(norms, popularity)[0])}


def head_tail_ndcg(model, data: RecData, head_share: float = 0.2, k: int = 10) -> dict[str, float]:
    """NDCG@k over test items of the head (the ``head_share`` most popular items in training) and of
    the tail (the rest): ranking stays over the whole catalogue, the relevant set is restricted."""
    popularity = data.item_popularity("train")
    order = torch.argsort(popularity, descending=True, stable=True)
    head = torch.zeros(data.n_items, dtype=torch.bool)
    head[order[:max(1, int(round(head_share * data.n_items)))]] = True
    out = {}
    for label, keep in (("head", head), ("tail", ~head)):
        test = data.test.select(keep[data.test.item])
        part = data.with_splits(data.train, data.valid, test)
        out[f"ndcg@{k} ({label})"] = evaluate_full(model, part, "test", ks=(k,))[f"ndcg@{k}"] if len(test) else np.nan
    return out


#: the rows of the popularity-bias analysis: no L2 (the norm enters the score) against L2
BIAS_ROWS = ("LightGCN", "SymCERE without L2", OURS)


def popularity_rows(data: RecData, text: ReviewEmbeddings, hp: dict, seed: int, device="auto",
                    rows: Sequence[str] = BIAS_ROWS, trained: dict | None = None) -> tuple[dict, dict]:
    """Popularity bias of each row's trained model on the test split: ``({row: {measure: value}},
    {row: model})``. Measures: Pearson and Spearman correlation of the **raw** graph item vectors'
    norms (before any normalisation) with training popularity, Spearman correlation of each item's
    top-10 exposure (how many users get it in their top-10, training and validation items masked)
    with its popularity, and :func:`head_tail_ndcg`. ``trained`` supplies models already fitted."""
    popularity = data.item_popularity("train").numpy()
    table, models = {}, {}
    for row in rows:
        model = (trained or {}).get(row) or train_row(row, data, text, hp, seed, device)
        raw_items = LightGCN.compute_embeddings(model)[1].detach().cpu()
        top = recommend(model, data, torch.arange(data.n_users), k=10, exclude=("train", "valid"))
        exposure = torch.bincount(top[top >= 0], minlength=data.n_items).numpy()
        table[row] = {**{f"norm–popularity {k}": v for k, v in popularity_bias(raw_items, data).items()},
                      "exposure–popularity spearman": float(stats.spearmanr(exposure, popularity)[0]),
                      **head_tail_ndcg(model, data)}
        models[row] = model
    return table, models

"""The SymCERE multi-dataset runner and its popularity analyses (issue 8)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from mmrec_lite.data import make_synthetic, split_random
from mmrec_lite import evaluation
from mmrec_lite.experiments_symcere import BIAS_ROWS, compare_datasets, head_tail_ndcg, popularity_bias, popularity_rows
from mmrec_lite.features.review_embeddings import ReviewEmbeddings
from mmrec_lite.models import LightGCN, Popularity


def _prepare(name, seed):
    data = split_random(make_synthetic(n_users=40, n_items=30, n_topics=3, mean_interactions=8, seed=seed,
                                       images=False), seed=seed)
    g = torch.Generator().manual_seed(seed)
    text = ReviewEmbeddings(torch.randn(data.n_users, 6, generator=g), torch.randn(data.n_items, 6, generator=g),
                            torch.ones(data.n_users, dtype=torch.bool), torch.ones(data.n_items, dtype=torch.bool))
    return data, text


def test_compare_datasets_summary_is_computed_from_the_seed_means():
    hp = {"epochs": 1, "batch_size": 256, "learning_rate": 1e-2, "patience": 1, "embedding_dim": 8}
    comparison = compare_datasets(["a", "b"], [0, 1], hp, device="cpu", prepare_fn=_prepare,
                                  rows=["Popularity", "LightGCN", "SymCERE"])
    assert list(comparison.summary.index) == ["a", "b"]
    for name, line in comparison.summary.iterrows():
        mean = comparison.results[name].mean()["ndcg@10"]
        best = mean.drop("SymCERE").idxmax()
        assert line["best other row"] == best
        assert line["relative improvement %"] == pytest.approx(100 * (mean["SymCERE"] / mean[best] - 1))
        assert line["seeds"] == 2


def test_popularity_bias_and_head_tail_by_hand():
    data, _ = _prepare("a", 0)
    popularity = data.item_popularity("train").double()
    emb = torch.stack([popularity + 1.0, torch.zeros_like(popularity)], 1)  # norm = popularity + 1
    out = popularity_bias(emb, data)
    assert out["pearson"] == pytest.approx(1.0) and out["spearman"] == pytest.approx(1.0)
    noisy = torch.randn(data.n_items, 4, generator=torch.Generator().manual_seed(1))
    expected = stats.spearmanr(noisy.norm(dim=1).numpy(), popularity.numpy())[0]
    assert popularity_bias(noisy, data)["spearman"] == pytest.approx(expected)
    split = head_tail_ndcg(Popularity(data), data, head_share=0.2)
    assert set(split) == {"ndcg@10 (head)", "ndcg@10 (tail)"}
    assert split["ndcg@10 (head)"] > split["ndcg@10 (tail)"] >= 0.0 and np.isfinite(split["ndcg@10 (tail)"])


def test_popularity_rows_measure_the_trained_models():
    data, text = _prepare("a", 0)
    hp = {"epochs": 1, "batch_size": 256, "learning_rate": 1e-2, "patience": 1, "embedding_dim": 8}
    table, models = popularity_rows(data, text, hp, seed=0, device="cpu")
    assert list(table) == list(BIAS_ROWS) == list(models)
    popularity = data.item_popularity("train").numpy()
    for row, model in models.items():
        raw = LightGCN.compute_embeddings(model)[1].detach()
        assert table[row]["norm–popularity spearman"] == pytest.approx(
            stats.spearmanr(raw.norm(dim=1).numpy(), popularity)[0])
        top = evaluation.recommend(model, data, torch.arange(data.n_users), k=10, exclude=("train", "valid"))
        exposure = torch.bincount(top[top >= 0], minlength=data.n_items).numpy()
        assert table[row]["exposure–popularity spearman"] == pytest.approx(stats.spearmanr(exposure, popularity)[0])
    again, _ = popularity_rows(data, text, hp, seed=0, device="cpu", trained=models)
    assert again == table  # given models are measured, not retrained

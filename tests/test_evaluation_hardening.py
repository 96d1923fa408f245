"""Evaluation under hostile but fair input: masks, protocols, cut-offs, ties, stale caches, seeds.

The references here are written independently of :mod:`mmrec_lite.metrics`: plain Python loops
that sort by ``(-score, item)``, skip masked items and apply the RecBole / MMRec formulas.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmrec_lite.data import Interactions, RecData, make_synthetic, split_random
from mmrec_lite.evaluation import evaluate_full, masked_splits, recommend
from mmrec_lite.experiments import over_seeds
from mmrec_lite.metrics import topk_items, topk_metrics
from mmrec_lite.models import MF, LightGCN


class FixedModel(torch.nn.Module):
    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.register_buffer("table", table.float())

    def score(self, users):
        return self.table[users]


def _data(n_users, n_items, train, valid, test):
    parts = [Interactions.from_arrays(*zip(*rows)) if rows else Interactions.empty() for rows in (train, valid, test)]
    base = RecData("handmade", np.arange(n_users), np.arange(n_items), Interactions.concat(parts))
    return base.with_splits(*parts)


def _reference(scores, relevant_sets, masked_sets, k):
    """Per-user loops: rank the unmasked items by (-score, index), keep k; drop masked relevant items."""
    sums, n = dict.fromkeys(("recall", "ndcg", "precision", "map", "mrr", "hit"), 0.0), 0
    for u, relevant in enumerate(relevant_sets):
        relevant = set(relevant) - set(masked_sets[u])
        if not relevant:
            continue
        n += 1
        ranking = [i for i in sorted(range(scores.shape[1]), key=lambda i: (-float(scores[u, i]), i))
                   if i not in masked_sets[u]][:k]
        hits = [i in relevant for i in ranking]
        dcg = sum(1 / math.log2(r + 2) for r, h in enumerate(hits) if h)
        idcg = sum(1 / math.log2(r + 2) for r in range(min(len(relevant), k)))
        first = next((r + 1 for r, h in enumerate(hits) if h), None)
        sums["recall"] += sum(hits) / len(relevant)
        sums["precision"] += sum(hits) / k
        sums["ndcg"] += dcg / idcg
        sums["map"] += sum(sum(hits[:r + 1]) / (r + 1) for r, h in enumerate(hits) if h) / min(len(relevant), k)
        sums["mrr"] += 1 / first if first else 0.0
        sums["hit"] += float(any(hits))
    return {key: value / n for key, value in sums.items()}, n


# --- masked items are never hits, never recommendations -----------------------------------------

def test_every_item_masked_gives_no_hit_and_an_empty_list():
    # 1 user, 4 items: all in train; the test item is also (wrongly) in train -> dropped, nothing to evaluate
    data = _data(2, 4, [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0)], [], [(0, 2), (1, 1)])
    model = FixedModel(torch.arange(8.0).view(2, 4))
    with pytest.warns(UserWarning, match="1 test pairs"):
        out = evaluate_full(model, data, "test", ks=(5,))
    # user 0's only test item was masked: dropped, so only user 1 (item 1 relevant, item 0 masked) counts
    assert out["n_users"] == 1
    # user 1 ranks 3, 2, 1 (scores 7, 6, 5), item 0 masked: hit at rank 3 of a 5-place list
    assert out["recall@5"] == pytest.approx(1.0)
    assert out["precision@5"] == pytest.approx(1 / 5)
    assert out["ndcg@5"] == pytest.approx(1 / math.log2(4))
    lists = recommend(model, data, [0, 1], k=5)
    assert lists.tolist() == [[-1] * 5, [3, 2, 1, -1, -1]]


@pytest.mark.parametrize("k", [3, 4, 9])
def test_recommend_never_returns_a_masked_item(k):
    gen = torch.Generator().manual_seed(k)
    train = [(u, i) for u in range(5) for i in range(6) if torch.rand((), generator=gen) < 0.6]
    data = _data(5, 6, train, [], [])
    lists = recommend(FixedModel(torch.randint(0, 3, (5, 6), generator=gen)), data, range(5), k=k)
    assert lists.shape == (5, k)
    seen = {(u, i) for u, i in train}
    for u, row in enumerate(lists.tolist()):
        listed = [i for i in row if i >= 0]
        assert not any((u, i) in seen for i in listed)
        assert len(listed) == min(k, 6 - sum(1 for uu, _ in train if uu == u))
        assert row[len(listed):] == [-1] * (k - len(listed))


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_cut_offs_and_batch_sizes_are_errors(bad):
    data = _data(2, 3, [(0, 0)], [(0, 1)], [(1, 2)])
    model = FixedModel(torch.rand(2, 3))
    with pytest.raises(ValueError):
        evaluate_full(model, data, "valid", ks=(bad,))
    with pytest.raises(ValueError, match="batch_users"):
        evaluate_full(model, data, "valid", batch_users=bad)
    with pytest.raises(ValueError):
        recommend(model, data, [0], k=bad)


# --- protocols named for the code they match -----------------------------------------------------

def test_protocol_masks():
    assert masked_splits("test", "recbole") == ("train", "valid")
    assert masked_splits("test", "mmrec") == ("train",)
    assert masked_splits("valid", "mmrec") == masked_splits("valid", "recbole") == ("train",)
    with pytest.raises(ValueError, match="protocol"):
        masked_splits("test", "mmrec2")


def _mmrec_reference(scores, data, k):
    """MMRec's full-sort test: mask the training items only (EvalDataLoader with additional_dataset=train)."""
    history = [set() for _ in range(data.n_users)]
    for u, i in zip(data.train.user.tolist(), data.train.item.tolist()):
        history[u].add(i)
    relevant = [set() for _ in range(data.n_users)]
    for u, i in zip(data.test.user.tolist(), data.test.item.tolist()):
        relevant[u].add(i)
    return _reference(scores, relevant, history, k)


def test_mmrec_protocol_equals_a_reimplementation_and_differs_from_recbole():
    synthetic = make_synthetic(n_users=60, n_items=40, n_topics=3, mean_interactions=12, seed=1)
    data = split_random(synthetic, seed=0)
    scores = torch.randint(0, 4, (data.n_users, data.n_items), generator=torch.Generator().manual_seed(2)).float()
    model = FixedModel(scores)
    mmrec = evaluate_full(model, data, "test", ks=(10,), protocol="mmrec", batch_users=7)
    expected, n = _mmrec_reference(scores, data, 10)
    assert mmrec["n_users"] == n
    for name, value in expected.items():
        assert mmrec[f"{name}@10"] == pytest.approx(value, abs=1e-6), name
    recbole = evaluate_full(model, data, "test", ks=(10,), protocol="recbole")
    assert recbole != mmrec  # validation items compete with the test items only under MMRec's rule


# --- property-based: evaluate_full and topk_metrics against the loops ----------------------------

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 6), st.integers(1, 9), st.integers(1, 12), st.integers(0, 2**31 - 1), st.integers(1, 3))
def test_evaluate_full_matches_brute_force(n_users, n_items, k, seed, levels):
    rng = np.random.default_rng(seed)
    which = rng.integers(0, 4, (n_users, n_items))           # 0 train, 1 valid, 2 test, 3 none
    pairs = {name: [(u, i) for u, i in zip(*np.nonzero(which == code))] for code, name in enumerate(("train", "valid", "test"))}
    if not pairs["test"]:
        return
    data = _data(n_users, n_items, pairs["train"], pairs["valid"], pairs["test"])
    scores = torch.from_numpy(rng.integers(0, levels, (n_users, n_items))).float()  # heavy ties
    for protocol in ("recbole", "mmrec"):
        masked = [set() for _ in range(n_users)]
        for name in masked_splits("test", protocol):
            for u, i in pairs[name]:
                masked[u].add(int(i))
        relevant = [set() for _ in range(n_users)]
        for u, i in pairs["test"]:
            relevant[u].add(int(i))
        out = evaluate_full(FixedModel(scores), data, "test", ks=(k,), protocol=protocol, batch_users=2)
        expected, n = _reference(scores, relevant, masked, k)
        assert out["n_users"] == n
        for name, value in expected.items():
            assert out[f"{name}@{k}"] == pytest.approx(value, abs=1e-6), (protocol, name)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 7), st.integers(1, 30), st.integers(1, 40), st.integers(0, 2**31 - 1), st.integers(1, 4),
       st.integers(0, 3))
def test_topk_items_equals_a_lexicographic_sort(n_rows, n_items, k, seed, levels, margin):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, levels, (n_rows, n_items)).astype(np.float32)
    scores[rng.random((n_rows, n_items)) < 0.25] = -np.inf
    expected = []
    for row in scores:
        order = [i for i in sorted(range(n_items), key=lambda i: (-row[i], i)) if row[i] > -np.inf][:k]
        expected.append(order + [-1] * (k - len(order)))
    assert topk_items(torch.from_numpy(scores), k, margin=margin).tolist() == expected


def test_fast_top_k_equals_the_exact_rule_on_large_tied_rows():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 3, (64, 3000), generator=gen).float()   # ~1000-way ties at the cut-off
    scores[:32] = torch.rand(32, 3000, generator=gen)                   # and rows without ties
    for k in (1, 10, 50):
        reference = torch.from_numpy(np.lexsort((np.tile(np.arange(3000), (64, 1)), -scores.numpy()), axis=1)[:, :k])
        assert torch.equal(topk_items(scores, k), reference)


# --- the eval-mode cache follows the weights ------------------------------------------------------

def _tiny():
    return split_random(make_synthetic(n_users=30, n_items=20, n_topics=2, mean_interactions=8, seed=0), seed=0)


def test_cache_is_dropped_after_an_optimizer_step_in_eval_mode():
    data = _tiny()
    model = LightGCN(data, embedding_dim=8, n_layers=2, seed=0).eval()
    users = torch.arange(data.n_users)
    before = model.score(users).clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loss = model.propagate()[0].sum()        # a step taken while the model is in eval mode
    loss.backward()
    optimizer.step()
    after = model.score(users)
    assert not torch.allclose(before, after)
    user_emb, item_emb = model.propagate()
    assert torch.allclose(after, user_emb @ item_emb.T)


def test_cache_is_dropped_after_an_in_place_weight_change():
    data = _tiny()
    model = LightGCN(data, embedding_dim=8, n_layers=1, seed=0).eval()
    first = model.score(torch.arange(3)).clone()
    with torch.no_grad():
        model.user_embedding.weight.mul_(2.0)    # linear propagation: every embedding doubles,
        model.item_embedding.weight.mul_(2.0)    # so every score is multiplied by 4
    assert torch.allclose(model.score(torch.arange(3)), 4 * first)


def test_cache_is_reused_while_the_weights_do_not_change():
    data = _tiny()
    model = LightGCN(data, embedding_dim=8, n_layers=1, seed=0).eval()
    first = model.embeddings()
    assert model.embeddings() is first


# --- one seed fixes a run end to end --------------------------------------------------------------

def test_seeded_construction_fixes_the_initial_weights():
    data = _tiny()
    a, b = LightGCN(data, embedding_dim=8, seed=5), LightGCN(data, embedding_dim=8, seed=5)
    c = LightGCN(data, embedding_dim=8, seed=6)
    assert torch.equal(a.user_embedding.weight, b.user_embedding.weight)
    assert not torch.equal(a.user_embedding.weight, c.user_embedding.weight)
    torch.manual_seed(123)
    m1 = MF(data, seed=1)
    torch.manual_seed(999)                       # global state in between does not matter
    m2 = MF(data, seed=1)
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters()))


# --- the seed runner --------------------------------------------------------------------------------

def test_over_seeds_mean_std_and_separation():
    values = {0: (0.30, 0.20), 1: (0.32, 0.21), 2: (0.34, 0.22)}
    results = over_seeds(lambda s: {"A": {"ndcg": values[s][0]}, "B": {"ndcg": values[s][1]}}, seeds=(0, 1, 2))
    assert results.mean().loc["A", "ndcg"] == pytest.approx(0.32)
    assert results.std().loc["A", "ndcg"] == pytest.approx(0.02)     # sample std of 0.30, 0.32, 0.34
    assert results.std().loc["B", "ndcg"] == pytest.approx(0.01)
    assert results.table().loc["A", "ndcg"] == "0.3200 ± 0.0200"
    assert results.separated("A", "B", "ndcg")                     # 0.11 > 0.02 + 0.01
    assert "higher" in results.compare("A", "B", "ndcg")
    close = over_seeds(lambda s: {"A": {"m": 0.5 + 0.01 * s}, "B": {"m": 0.505 + 0.01 * s}}, seeds=(0, 1, 2))
    assert not close.separated("A", "B", "m")
    assert "within the seed-to-seed spread" in close.compare("A", "B", "m")
    one = over_seeds(lambda s: {"A": {"m": 0.5}, "B": {"m": 0.1}}, seeds=(0,))
    assert one.table().loc["A", "m"] == "0.5000 (1 seed)"
    assert not one.separated("A", "B", "m")


def test_fit_records_train_and_eval_time_and_both_cut_offs_in_one_pass():
    from mmrec_lite.training import fit
    data = _tiny()
    model = LightGCN(data, embedding_dim=8, n_layers=1, seed=0)
    history = fit(model, data, epochs=2, batch_size=64, learning_rate=1e-2, metric="ndcg@5", progress=False,
                  device="cpu")
    record = history.records[-1]
    assert {"valid/recall@10", "valid/ndcg@20", "valid/ndcg@5"} <= set(record)
    assert record["seconds"] == pytest.approx(record["train_seconds"] + record["eval_seconds"])
    assert record["train_seconds"] > 0 and record["eval_seconds"] > 0

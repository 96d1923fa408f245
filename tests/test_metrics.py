"""Metrics against hand-computed values and a slow plain-Python reference."""
from __future__ import annotations

import math

import pytest
import torch

from mmrec_lite.metrics import (catalogue_coverage, gini, group_metrics, mae, metrics_from_hits, novelty,
                                popularity_groups, rmse, topk_hits, topk_items, topk_metrics)

L3 = math.log2(3)  # discount of rank 2 is 1 / log2(3)

SCORES = torch.tensor([
    [0.9, 0.1, 0.8, 0.3, 0.5],   # user 0: relevant {2, 3}
    [0.5, 0.5, 0.5, 0.2, 0.5],   # user 1: four-way tie, relevant {4}
    [0.3, 0.2, 0.1, 0.0, 0.4],   # user 2: nothing relevant -> skipped
    [0.1, 0.2, 0.3, 0.4, 0.5],   # user 3: relevant {0, 3, 4}, item 4 excluded
])
RELEVANT = torch.zeros(4, 5, dtype=torch.bool)
RELEVANT[0, [2, 3]] = True
RELEVANT[1, 4] = True
RELEVANT[3, [0, 3, 4]] = True
EXCLUDE = torch.zeros(4, 5, dtype=torch.bool)
EXCLUDE[3, 4] = True


def test_topk_metrics_by_hand():
    # k = 3
    # user 0: ranking 0, 2, 4 -> hits [0, 1, 0]; |R| = 2
    #   recall 1/2, precision 1/3, hit 1, mrr 1/2
    #   ndcg = (1/log2 3) / (1 + 1/log2 3);  map = precision@2 / min(2, 3) = (1/2) / 2
    # user 1: ties at 0.5 among items 0, 1, 2, 4 -> the lower indices 0, 1, 2 win; item 4 is cut
    #   -> every metric 0
    # user 2: no relevant item -> not averaged
    # user 3: item 4 is relevant but masked, so it can never be recommended: it is dropped from
    #   R (with a warning) -> R = {0, 3}; ranking 3, 2, 1 -> hits [1, 0, 0]; |R| = 2
    #   recall 1/2, precision 1/3, hit 1, mrr 1, ndcg = 1 / (1 + 1/log2 3), map = 1 / 2
    with pytest.warns(UserWarning, match="1 relevant"):
        out = topk_metrics(SCORES, RELEVANT, 3, exclude=EXCLUDE)
    ndcg0 = (1 / L3) / (1 + 1 / L3)
    ndcg3 = 1 / (1 + 1 / L3)
    expected = {"recall": (1 / 2 + 0 + 1 / 2) / 3, "precision": (1 / 3 + 0 + 1 / 3) / 3, "hit": 2 / 3,
                "mrr": (1 / 2 + 0 + 1) / 3, "ndcg": (ndcg0 + 0 + ndcg3) / 3, "map": (1 / 4 + 0 + 1 / 2) / 3}
    assert set(out) == set(expected)
    for key, value in expected.items():
        assert out[key] == pytest.approx(value, abs=1e-6), key


def test_k_larger_than_catalogue_leaves_empty_places():
    # user 0 only, k = 10 over 5 items: ranking 0, 2, 4, 3, 1 and five empty places -> hits at ranks 2, 4
    # recall 1, precision 2/10 (a list of k places), mrr 1/2, ndcg = (1/log2 3 + 1/log2 5) / (1 + 1/log2 3),
    # map = (1/2 + 2/4) / min(2, 10)
    out = topk_metrics(SCORES[:1], RELEVANT[:1], 10)
    assert out["recall"] == pytest.approx(1.0)
    assert out["precision"] == pytest.approx(2 / 10)
    assert out["mrr"] == pytest.approx(0.5)
    assert out["ndcg"] == pytest.approx((1 / L3 + 1 / math.log2(5)) / (1 + 1 / L3))
    assert out["map"] == pytest.approx(0.5)
    at5 = topk_metrics(SCORES[:1], RELEVANT[:1], 5)
    assert {k: v for k, v in out.items() if k != "precision"} == {k: v for k, v in at5.items() if k != "precision"}


@pytest.mark.parametrize("k", [0, -1, 2.5, 3.0, True, "3"])
def test_cut_offs_must_be_positive_integers(k):
    with pytest.raises(ValueError, match="positive integer|at least 1"):
        topk_metrics(SCORES, RELEVANT, k)
    with pytest.raises(ValueError, match="positive integer|at least 1"):
        topk_items(SCORES, k)


def test_ties_go_to_lower_index_and_masked_items_rank_last():
    scores = torch.tensor([[1.0, 3.0, 3.0, 2.0, 3.0, 3.0],
                           [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                           [-torch.inf, 1.0, -torch.inf, 1.0, 0.5, 2.0]])
    assert topk_items(scores, 3).tolist() == [[1, 2, 4], [0, 1, 2], [5, 1, 3]]
    assert topk_items(scores, 6)[2].tolist() == [5, 1, 3, 4, -1, -1]  # masked items are never listed


def test_topk_items_matches_stable_sort_on_many_ties():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 4, (50, 40), generator=gen).float()
    scores[torch.rand(50, 40, generator=gen) < 0.2] = -torch.inf
    for k in (1, 7, 40):
        order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
        reference = order.masked_fill(scores.gather(1, order) == -torch.inf, -1)
        assert torch.equal(topk_items(scores, k), reference)


def test_topk_items_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        topk_items(torch.tensor([[0.0, float("nan")]]), 1)


def _reference(scores, relevant, k, exclude=None):
    """Plain loops: sort by (-score, index), then the formulas of the module docstring."""
    sums, n = dict.fromkeys(("recall", "ndcg", "precision", "map", "mrr", "hit"), 0.0), 0
    for u in range(scores.shape[0]):
        rel = {i for i in range(scores.shape[1]) if relevant[u, i]}
        if not rel:
            continue
        n += 1
        s = [(-math.inf if exclude is not None and exclude[u, i] else float(scores[u, i])) for i in range(scores.shape[1])]
        ranking = [i for i in sorted(range(len(s)), key=lambda i: (-s[i], i)) if s[i] > -math.inf][:k]
        kk = k  # a list of k places, empty ones included
        hits = [i in rel for i in ranking]
        dcg = sum(1 / math.log2(r + 2) for r, h in enumerate(hits) if h)
        idcg = sum(1 / math.log2(r + 2) for r in range(min(len(rel), kk)))
        ap = sum(sum(hits[:r + 1]) / (r + 1) for r, h in enumerate(hits) if h) / min(len(rel), kk)
        first = next((r + 1 for r, h in enumerate(hits) if h), None)
        sums["recall"] += sum(hits) / len(rel)
        sums["precision"] += sum(hits) / kk
        sums["ndcg"] += dcg / idcg
        sums["map"] += ap
        sums["mrr"] += 1 / first if first else 0.0
        sums["hit"] += float(any(hits))
    return {key: value / n for key, value in sums.items()}


@pytest.mark.parametrize("k", [1, 3, 8, 30])
def test_topk_metrics_matches_slow_reference(k):
    gen = torch.Generator().manual_seed(k)
    scores = torch.randint(0, 5, (30, 12), generator=gen).float()  # many ties
    relevant = torch.rand(30, 12, generator=gen) < 0.25
    relevant[:3] = False  # users without relevant items
    exclude = (torch.rand(30, 12, generator=gen) < 0.2) & ~relevant
    out = topk_metrics(scores, relevant, k, exclude=exclude)
    expected = _reference(scores, relevant, k, exclude)
    for key in expected:
        assert out[key] == pytest.approx(expected[key], abs=1e-6), key


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
@pytest.mark.filterwarnings("ignore:1 relevant")
def test_sparse_masks_equal_dense_masks():
    dense = topk_metrics(SCORES, RELEVANT, 3, exclude=EXCLUDE)
    assert topk_metrics(SCORES, RELEVANT.to_sparse(), 3, exclude=EXCLUDE.to_sparse()) == dense
    assert topk_metrics(SCORES, RELEVANT.to_sparse_csr(), 3, exclude=EXCLUDE) == dense


def test_topk_hits_sparse_lookup_equals_gather():
    gen = torch.Generator().manual_seed(1)
    relevant = torch.rand(20, 15, generator=gen) < 0.3
    ranked = topk_items(torch.rand(20, 15, generator=gen), 6)
    assert torch.equal(topk_hits(ranked, relevant.to_sparse()), topk_hits(ranked, relevant))
    empty = torch.zeros(20, 15, dtype=torch.bool).to_sparse()
    assert not topk_hits(ranked, empty).any()


def test_metrics_from_hits_cut_offs_and_list_lengths():
    hits = torch.tensor([[False, True, True, False]])
    n_relevant = torch.tensor([3])
    at2 = metrics_from_hits(hits, n_relevant, k=2)
    assert at2["recall"].item() == pytest.approx(1 / 3)
    assert at2["precision"].item() == pytest.approx(1 / 2)
    # map@2 = precision@2 / min(3, 2)
    assert at2["map"].item() == pytest.approx(0.5 / 2)
    # a list with only 3 real items: precision@4 = 2 hits / 3 items
    short = metrics_from_hits(hits, n_relevant, list_lengths=torch.tensor([3]))
    assert short["precision"].item() == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="at least one relevant"):
        metrics_from_hits(hits, torch.tensor([0]))


def test_no_relevant_user_at_all_raises():
    with pytest.raises(ValueError, match="no user"):
        topk_metrics(SCORES, torch.zeros(4, 5, dtype=torch.bool), 3)


def test_rating_errors():
    pred = torch.tensor([3.0, 4.5, 2.0])
    target = torch.tensor([5.0, 4.0, 2.0])
    # errors -2, 0.5, 0 -> rmse sqrt(4.25 / 3), mae 2.5 / 3
    assert rmse(pred, target) == pytest.approx(math.sqrt(4.25 / 3))
    assert mae(pred, target) == pytest.approx(2.5 / 3)
    with pytest.raises(ValueError):
        rmse(pred, target[:2])


def test_coverage_novelty_gini_by_hand():
    topk = torch.tensor([[0, 1], [0, 2]])
    assert catalogue_coverage(topk, 5) == pytest.approx(3 / 5)
    popularity = torch.tensor([4, 2, 1, 1, 0])
    # p_i = pop_i / n_users with 8 users: -log2(4/8) = 1, -log2(2/8) = 2, -log2(1/8) = 3
    assert novelty(topk, popularity, n_users=8) == pytest.approx((1 + 2 + 1 + 3) / 4)
    # p_i = pop_i / total interactions (8 as well here)
    assert novelty(topk, popularity) == pytest.approx((1 + 2 + 1 + 3) / 4)
    # counts per item [2, 1, 1, 0, 0] sorted [0, 0, 1, 1, 2], n = 5, total 4:
    # Σ (2j - 6) c_(j) = (-4)(0) + (-2)(0) + 0(1) + 2(1) + 4(2) = 10 -> G = 10 / (5 * 4)
    assert gini(topk, 5) == pytest.approx(0.5)
    assert gini(torch.tensor([[0, 1, 2, 3]]), 4) == pytest.approx(0.0)
    assert gini(torch.tensor([[3], [3], [3]]), 4) == pytest.approx(3 / 4)


def test_novelty_of_unseen_items_is_finite():
    assert math.isfinite(novelty(torch.tensor([[4]]), torch.tensor([1, 1, 1, 1, 0]), n_users=4))


def test_popularity_groups_split_items_by_rank():
    popularity = torch.tensor([5, 50, 1, 9, 30, 0, 2, 7, 3, 3])
    groups = popularity_groups(popularity)
    # ranking by count: 1(50) 4(30) | 3(9) 7(7) 0(5) | 8(3) 9(3) 6(2) 2(1) 5(0)
    # head = round(0.2 * 10) = 2 items, tail = round(0.5 * 10) = 5 items, torso the other 3
    assert groups.tolist() == [1, 0, 2, 1, 0, 2, 2, 1, 2, 2]
    with pytest.raises(ValueError):
        popularity_groups(popularity, head=0.6, tail=0.5)


def test_group_metrics_by_hand():
    groups = torch.tensor([0, 1, 2, 2])
    topk = torch.tensor([[0, 2], [0, 1]])
    relevant = torch.tensor([[True, False, False, True],
                             [False, True, True, False]])
    out = group_metrics(topk, relevant, groups)
    # head: user 0 relevant {0}, hit -> 1; user 1 has no head item -> skipped
    assert out["head_recall"] == pytest.approx(1.0)
    # torso: user 1 relevant {1}, recommended -> 1
    assert out["torso_recall"] == pytest.approx(1.0)
    # tail: user 0 relevant {3} not hit -> 0; user 1 relevant {2} not hit -> 0
    assert out["tail_recall"] == pytest.approx(0.0)
    # 4 slots: items 0, 2, 0, 1 -> head 2/4, torso 1/4, tail 1/4
    assert (out["head_share"], out["torso_share"], out["tail_share"]) == pytest.approx((0.5, 0.25, 0.25))
    assert group_metrics(topk, relevant.to_sparse(), groups) == out
    only_head = group_metrics(topk, torch.tensor([[True, False, False, False]] * 2), groups)
    assert math.isnan(only_head["tail_recall"])

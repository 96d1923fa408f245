"""Each loss against its equation written out naively (loops, explicit sums)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mmrec_lite.losses import (bpr_loss, coverage_loss, diversity_loss, info_nce, l2_regularization,
                               personalization_loss, popularity_weighted_mse, relation_alignment_loss,
                               sincere_loss, symmetric_sincere_loss)


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _cos(x, y):
    return float(x @ y / (x.norm() * y.norm()))


def test_bpr_loss_by_hand():
    pos, neg = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 3.0])
    # -log σ(1) and -log σ(-3), averaged
    expected = (-math.log(1 / (1 + math.exp(-1))) - math.log(1 / (1 + math.exp(3)))) / 2
    assert bpr_loss(pos, neg).item() == pytest.approx(expected, rel=1e-6)
    many = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
    assert bpr_loss(pos, many).item() == pytest.approx(F.softplus(many - pos[:, None]).mean().item())
    assert torch.isfinite(bpr_loss(torch.tensor([-500.0]), torch.tensor([500.0])))


def test_info_nce_equals_its_sum_and_cross_entropy_form():
    a, b, t = _randn(6, 4, seed=1), _randn(6, 4, seed=2), 0.3
    total = 0.0
    for i in range(6):
        logits = [_cos(a[i], b[j]) / t for j in range(6)]
        total += -logits[i] + math.log(sum(math.exp(x) for x in logits))
    assert info_nce(a, b, t).item() == pytest.approx(total / 6, rel=1e-9)
    sims = F.cosine_similarity(a[:, None], b[None], dim=2) / t
    assert info_nce(a, b, t).item() == pytest.approx(F.cross_entropy(sims, torch.arange(6)).item(), rel=1e-9)


def test_relation_alignment_loss_is_scale_eq_10():
    anchor, positive, negatives, t = _randn(5, 3, seed=3), _randn(5, 3, seed=4), _randn(5, 2, 3, seed=5), 0.2
    total = 0.0
    for p in range(5):
        pos = math.exp(_cos(anchor[p], positive[p]) / t)
        neg = sum(math.exp(_cos(anchor[p], negatives[p, v]) / t) for v in range(2))
        total += -math.log(pos / (pos + neg))
    assert relation_alignment_loss(anchor, positive, negatives, t).item() == pytest.approx(total / 5, rel=1e-9)
    with pytest.raises(ValueError, match="negatives"):
        relation_alignment_loss(anchor, positive, negatives[:, :, :2], t)


def _sincere_naive(z_a, z_c, mask, t):
    per_anchor = []
    for i in range(len(z_a)):
        positives = [p for p in range(len(z_c)) if mask[i, p]]
        negatives = [n for n in range(len(z_c)) if not mask[i, n]]
        if not positives:
            continue
        losses = []
        for p in positives:
            s_ip = _cos(z_a[i], z_c[p]) / t
            denominator = math.exp(s_ip) + sum(math.exp(_cos(z_a[i], z_c[n]) / t) for n in negatives)
            losses.append(-s_ip + math.log(denominator))
        per_anchor.append(sum(losses) / len(losses))
    return sum(per_anchor) / len(per_anchor)


def test_sincere_loss_matches_the_definition():
    anchors, candidates, t = _randn(5, 4, seed=6), _randn(7, 4, seed=7), 0.5
    mask = torch.rand(5, 7, generator=torch.Generator().manual_seed(8)) < 0.35
    mask[0] = False                 # anchor without positives: skipped
    mask[1] = True                  # anchor without negatives: loss 0 for its pairs
    mask[2] = False
    mask[2, 3] = True
    expected = _sincere_naive(anchors, candidates, mask, t)
    assert sincere_loss(anchors, candidates, mask, t).item() == pytest.approx(expected, rel=1e-9)


def test_sincere_loss_has_finite_gradients_and_guards_no_positives():
    anchors = _randn(4, 3, seed=9).requires_grad_()
    candidates = _randn(4, 3, seed=10).requires_grad_()
    mask = torch.eye(4, dtype=torch.bool)
    mask[3] = True                  # a row without negatives
    sincere_loss(anchors, candidates, mask, 0.1).backward()
    assert torch.isfinite(anchors.grad).all() and torch.isfinite(candidates.grad).all()
    none = sincere_loss(anchors, candidates, torch.zeros(4, 4, dtype=torch.bool), 0.1)
    assert none.item() == 0.0 and none.requires_grad


def test_sincere_is_stable_at_low_temperature():
    anchors, candidates = _randn(3, 8, seed=11).float(), _randn(6, 8, seed=12).float()
    mask = torch.zeros(3, 6, dtype=torch.bool)
    mask[:, 0] = True
    assert torch.isfinite(sincere_loss(anchors, candidates, mask, 1e-3))


def test_sincere_with_one_positive_per_row_is_info_nce():
    # a diagonal mask leaves the usual InfoNCE denominator: the positive plus every other candidate
    a, b = _randn(6, 4, seed=13), _randn(6, 4, seed=14)
    mask = torch.eye(6, dtype=torch.bool)
    assert sincere_loss(a, b, mask, 0.4).item() == pytest.approx(info_nce(a, b, 0.4).item(), rel=1e-9)


def test_symmetric_sincere_is_the_average_of_both_directions():
    x, y, t = _randn(4, 3, seed=15), _randn(6, 3, seed=16), 0.3
    mask = torch.rand(4, 6, generator=torch.Generator().manual_seed(17)) < 0.4
    expected = (_sincere_naive(x, y, mask, t) + _sincere_naive(y, x, mask.T, t)) / 2
    assert symmetric_sincere_loss(x, y, mask, t).item() == pytest.approx(expected, rel=1e-9)


def test_diversity_loss_linear_form_equals_pairwise_definition():
    emb = _randn(9, 5, seed=18)
    emb[4] = 0.0  # a zero row: its cosines count as 0
    n = len(emb)
    pairwise = sum(F.cosine_similarity(emb[i], emb[j], dim=0).item()
                   for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    assert diversity_loss(emb).item() == pytest.approx(pairwise, abs=1e-12)
    with pytest.raises(ValueError):
        diversity_loss(emb[:1])


def test_personalization_loss_by_hand():
    u_liked = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    e_liked = torch.tensor([[1.0, 1.0], [0.0, 1.0]])   # cosines 1/sqrt(2), 1
    u_disliked = torch.tensor([[1.0, 0.0]])
    e_disliked = torch.tensor([[-1.0, 1.0]])           # cosine -1/sqrt(2) -> max(0, .) = 0
    expected = 1 - (1 / math.sqrt(2) + 1) / 2
    assert personalization_loss(u_liked, e_liked, u_disliked, e_disliked).item() == pytest.approx(expected, rel=1e-6)
    e_close = torch.tensor([[1.0, 1.0]])               # cosine 1/sqrt(2) counts in full
    assert (personalization_loss(u_liked, e_liked, u_disliked, e_close).item()
            == pytest.approx(expected + 1 / math.sqrt(2), rel=1e-6))
    empty = torch.zeros(0, 2)
    assert personalization_loss(empty, empty, u_disliked, e_close).item() == pytest.approx(1 / math.sqrt(2), rel=1e-6)
    assert personalization_loss(u_liked, e_liked, empty, empty).item() == pytest.approx(expected, rel=1e-6)


def test_coverage_loss_is_population_std_of_norms():
    emb = torch.tensor([[3.0, 4.0], [0.0, 1.0], [0.0, 3.0]])   # norms 5, 1, 3
    # mean 3, variance (4 + 4 + 0) / 3
    assert coverage_loss(emb).item() == pytest.approx(math.sqrt(8 / 3), rel=1e-6)
    same = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    coverage_loss(same).backward()
    assert torch.isfinite(same.grad).all()


def test_l2_regularization_is_half_squared_norm_per_batch_row():
    u, i = torch.tensor([[1.0, 2.0], [0.0, 1.0]]), torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    # (1 + 4 + 0 + 1 + 9 + 0 + 1 + 1) / 2 / 2
    assert l2_regularization(u, i).item() == pytest.approx(17 / 4)


def test_popularity_weighted_mse_by_hand():
    pred, target = torch.tensor([3.0, 4.0, 2.0]), torch.tensor([4.0, 4.0, 5.0])
    counts = torch.tensor([10.0, 5.0, 2.0])
    # ω = 10/10, 10/5, 10/2 = 1, 2, 5; squared errors 1, 0, 9 -> (1 + 0 + 45) / 3
    assert popularity_weighted_mse(pred, target, counts).item() == pytest.approx(46 / 3)
    # with the catalogue maximum 20: ω = 2, 4, 10 -> (2 + 0 + 90) / 3
    assert popularity_weighted_mse(pred, target, counts, max_count=20).item() == pytest.approx(92 / 3)
    with pytest.raises(ValueError):
        popularity_weighted_mse(pred, target, counts[:2])


def test_l2_regularization_styles_against_their_formulas():
    from mmrec_lite.losses import l2_regularization
    a = torch.tensor([[3.0, 4.0], [0.0, 0.0]])          # batch of 2 rows; ||a||_F = 5
    b = torch.tensor([[1.0, 0.0], [0.0, 1.0]])          # ||b||_F = sqrt(2)
    assert float(l2_regularization(a, b)) == pytest.approx((25 + 2) / 2 / 2)             # Σ ||t||² / (2B)
    assert float(l2_regularization(a, b, style="mmrec")) == pytest.approx((5 + 2 ** 0.5) / 2)  # Σ ||t||_F / B
    with pytest.raises(ValueError, match="reg_style"):
        l2_regularization(a, style="l1")

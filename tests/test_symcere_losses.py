"""SINCERE, symmetric SINCERE and SupCon against their formulas written out with loops (issue 8)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mmrec_lite.losses import info_nce, sincere_loss, supcon_loss, symmetric_sincere_loss


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _cos(x, y):
    return float(x @ y / (x.norm() * y.norm()))


def _naive(anchors, candidates, mask, t, supcon=False):
    """mean over anchors with a positive of the mean over positives of -log(e^s_ip / denominator)."""
    per_anchor = []
    for i in range(len(anchors)):
        s = [_cos(anchors[i], candidates[c]) / t for c in range(len(candidates))]
        positives = [c for c in range(len(candidates)) if mask[i, c]]
        negatives = [c for c in range(len(candidates)) if not mask[i, c]]
        if not positives:
            continue
        terms = []
        for p in positives:
            rest = range(len(candidates)) if supcon else [p] + negatives
            terms.append(-s[p] + math.log(sum(math.exp(s[c]) for c in rest)))
        per_anchor.append(sum(terms) / len(terms))
    return sum(per_anchor) / len(per_anchor)


# 5 anchors x 7 candidates: several positives, one anchor with none, one with a single one
MASK = torch.tensor([[1, 1, 0, 0, 1, 0, 0],
                     [0, 0, 0, 0, 0, 0, 0],
                     [0, 1, 0, 0, 0, 0, 0],
                     [1, 0, 1, 1, 0, 0, 1],
                     [0, 0, 0, 1, 1, 1, 0]], dtype=torch.bool)


@pytest.mark.parametrize("t", [0.07, 0.5, 1.0])
def test_sincere_matches_the_formula_on_a_non_square_mask(t):
    anchors, candidates = _randn(5, 4, seed=1), _randn(7, 4, seed=2)
    assert sincere_loss(anchors, candidates, MASK, t).item() == pytest.approx(_naive(anchors, candidates, MASK, t),
                                                                              rel=1e-9)


def test_supcon_matches_the_formula_and_exceeds_sincere():
    anchors, candidates = _randn(5, 4, seed=3), _randn(7, 4, seed=4)
    supcon = supcon_loss(anchors, candidates, MASK, 0.2).item()
    assert supcon == pytest.approx(_naive(anchors, candidates, MASK, 0.2, supcon=True), rel=1e-9)
    assert supcon > sincere_loss(anchors, candidates, MASK, 0.2).item()  # more terms in every denominator


def test_symmetric_is_the_mean_of_both_directions():
    x, y = _randn(5, 3, seed=5), _randn(7, 3, seed=6)
    both = (_naive(x, y, MASK, 0.3) + _naive(y, x, MASK.T, 0.3)) / 2
    assert symmetric_sincere_loss(x, y, MASK, 0.3).item() == pytest.approx(both, rel=1e-9)


def test_one_positive_per_anchor_without_shared_labels_is_info_nce():
    a, b = _randn(6, 5, seed=7), _randn(6, 5, seed=8)
    eye = torch.eye(6, dtype=torch.bool)
    assert sincere_loss(a, b, eye, 0.2).item() == pytest.approx(info_nce(a, b, 0.2).item(), rel=1e-9)
    assert supcon_loss(a, b, eye, 0.2).item() == pytest.approx(info_nce(a, b, 0.2).item(), rel=1e-9)


def test_history_items_never_enter_a_denominator():
    """Moving a positive's embedding changes only its own term: no other pair's denominator has it."""
    anchors, candidates = _randn(1, 4, seed=9), _randn(5, 4, seed=10)
    mask = torch.tensor([[1, 1, 0, 0, 0]], dtype=torch.bool)
    moved = candidates.clone()
    moved[1] = -candidates[0] * 3  # positive 1 now far from the anchor
    s = lambda c: F.normalize(anchors, dim=1) @ F.normalize(c, dim=1).T / 0.5  # noqa: E731
    def term0(c):  # ℓ(0, candidate 0) written out: its denominator is itself plus the negatives 2..4
        logits = s(c)[0]
        return float(-logits[0] + torch.logsumexp(logits[[0, 2, 3, 4]], 0))
    change = (sincere_loss(anchors, moved, mask, 0.5) - sincere_loss(anchors, candidates, mask, 0.5)).item() * 2
    own = (-s(moved)[0, 1] + torch.logsumexp(s(moved)[0, [1, 2, 3, 4]], 0)
           - (-s(candidates)[0, 1] + torch.logsumexp(s(candidates)[0, [1, 2, 3, 4]], 0))).item()
    assert term0(moved) == pytest.approx(term0(candidates))
    assert change == pytest.approx(own, rel=1e-9)
    # the gradient of the loss w.r.t. a positive's logit, from other positives' terms, is zero:
    logits = (s(candidates)).clone().requires_grad_(True)
    # with unit temperature on precomputed logits: only its own term touches positive 1
    z = torch.eye(5, dtype=torch.float64)
    value = sincere_loss(logits, z, mask, 1.0, normalize=False)
    value.backward()
    p = torch.softmax(logits.detach()[0, [0, 2, 3, 4]], 0)
    assert logits.grad[0, 1].item() == pytest.approx(-(1 - torch.softmax(logits.detach()[0, [1, 2, 3, 4]], 0)[0].item()) / 2)
    assert logits.grad[0, 0].item() == pytest.approx(-(1 - p[0].item()) / 2)


def test_anchor_without_positive_gives_finite_gradient_and_is_excluded():
    anchors = _randn(5, 4, seed=11).requires_grad_(True)
    candidates = _randn(7, 4, seed=12).requires_grad_(True)
    loss = sincere_loss(anchors, candidates, MASK, 0.1)
    loss.backward()
    assert torch.isfinite(anchors.grad).all() and torch.isfinite(candidates.grad).all()
    assert torch.count_nonzero(anchors.grad[1]) == 0  # anchor 1 has no positive: it is not in the mean
    keep = [0, 2, 3, 4]
    assert loss.item() == pytest.approx(sincere_loss(anchors[keep], candidates, MASK[keep], 0.1).item(), rel=1e-12)
    none = sincere_loss(anchors, candidates, torch.zeros_like(MASK), 0.1)
    none.backward()
    assert none.item() == 0.0 and torch.isfinite(anchors.grad).all()
    all_positive = supcon_loss(anchors, candidates, torch.ones_like(MASK), 0.1)
    assert torch.isfinite(all_positive) and torch.isfinite(sincere_loss(anchors, candidates, torch.ones_like(MASK), 0.1))


def test_infonce_pushes_a_true_positive_away_and_sincere_does_not():
    """Anchor 0 has two positives; InfoNCE (one positive) treats the second as a negative."""
    anchor = F.normalize(_randn(1, 4, seed=13), dim=1)
    candidates = torch.cat([anchor, anchor + 0.1 * _randn(1, 4, seed=14), _randn(2, 4, seed=15)]).requires_grad_(True)
    one = torch.tensor([[1, 0, 0, 0]], dtype=torch.bool)
    sincere_loss(anchor, candidates, one | torch.tensor([[0, 1, 0, 0]], dtype=torch.bool), 0.2).backward()
    sincere_grad = candidates.grad[1].clone()
    candidates.grad = None
    sincere_loss(anchor, candidates, one, 0.2).backward()  # InfoNCE view: candidate 1 is a negative
    info_grad = candidates.grad[1].clone()
    direction = anchor[0]  # a gradient step -grad moves candidate 1 along -grad: toward or away from the anchor
    assert float(-info_grad @ direction) < 0 < float(-sincere_grad @ direction)


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="positive_mask"):
        sincere_loss(_randn(3, 2), _randn(4, 2), torch.ones(4, 3, dtype=torch.bool), 0.1)
    with pytest.raises(ValueError, match="candidates"):
        supcon_loss(_randn(3, 2), _randn(4, 5), torch.ones(3, 4, dtype=torch.bool), 0.1)

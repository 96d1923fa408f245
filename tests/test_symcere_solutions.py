"""The reference solutions of the SymCERE chapter's exercises, run outside the notebook and tested
against hand computations and the library."""
from __future__ import annotations

import math
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from mmrec_lite import losses

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "03_symcere.ipynb"
SOLUTIONS = ("sincere", "supcon", "norm_popularity", "history_mask")


@pytest.fixture(scope="module")
def solutions() -> dict:
    namespace = {"torch": torch, "F": F, "np": np, "stats": stats, "model": None, "SEED": 0}
    for cell in nbformat.read(NOTEBOOK, as_version=4).cells:
        if cell.cell_type == "code" and "solution" in cell.metadata.get("tags", []):
            exec(compile(cell.source, f"{NOTEBOOK.name}:solution", "exec"), namespace)
    return namespace


def test_the_notebook_has_at_least_four_checked_exercises(solutions):
    cells = nbformat.read(NOTEBOOK, as_version=4).cells
    assert all(callable(solutions[name]) for name in SOLUTIONS)
    assert sum("check" in c.metadata.get("tags", []) for c in cells) >= 4


def _unit_logits(cosines: list[list[float]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchors and candidates in 2-d whose cosines are the given (one anchor row per list)."""
    anchors = torch.tensor([[1.0, 0.0]] * len(cosines))
    candidates = torch.tensor([[c, math.sqrt(1 - c * c)] for c in cosines[0]])
    return anchors, candidates


def test_sincere_by_hand(solutions):
    # one anchor, cosines (0.8, 0.2, -0.5) with the candidates, positives 0 and 1, tau = 0.5
    anchors, candidates = _unit_logits([[0.8, 0.2, -0.5]])
    mask = torch.tensor([[True, True, False]])
    s = [1.6, 0.4, -1.0]
    by_hand = np.mean([-s[p] + math.log(math.exp(s[p]) + math.exp(s[2])) for p in (0, 1)])
    assert float(solutions["sincere"](anchors, candidates, mask, 0.5)) == pytest.approx(by_hand, rel=1e-5)
    assert float(losses.sincere_loss(anchors, candidates, mask, 0.5)) == pytest.approx(by_hand, rel=1e-5)


def test_sincere_skips_anchors_without_a_positive_and_matches_the_library(solutions):
    g = torch.Generator().manual_seed(3)
    a, c = torch.randn(5, 4, generator=g), torch.randn(7, 4, generator=g)
    mask = torch.rand(5, 7, generator=g) < 0.4
    mask[1] = False
    mask[2, :] = True                                    # a row with no negative at all
    mine = solutions["sincere"](a, c, mask, 0.3)
    assert torch.isfinite(mine)
    torch.testing.assert_close(mine, losses.sincere_loss(a, c, mask, 0.3))
    assert float(solutions["sincere"](a, c, torch.zeros(5, 7, dtype=torch.bool), 0.3)) == 0.0


def test_supcon_by_hand_and_never_below_sincere(solutions):
    anchors, candidates = _unit_logits([[0.8, 0.2, -0.5]])
    mask = torch.tensor([[True, True, False]])
    s = [1.6, 0.4, -1.0]
    denominator = math.log(sum(math.exp(x) for x in s))
    by_hand = np.mean([denominator - s[p] for p in (0, 1)])
    assert float(solutions["supcon"](anchors, candidates, mask, 0.5)) == pytest.approx(by_hand, rel=1e-5)
    g = torch.Generator().manual_seed(4)
    a, c = torch.randn(6, 4, generator=g), torch.randn(5, 4, generator=g)
    m = torch.rand(6, 5, generator=g) < 0.5
    torch.testing.assert_close(solutions["supcon"](a, c, m, 0.2), losses.supcon_loss(a, c, m, 0.2))
    assert float(solutions["supcon"](a, c, m, 0.2)) >= float(solutions["sincere"](a, c, m, 0.2))


def test_norm_popularity_by_hand(solutions):
    popularity = torch.tensor([1, 5, 2, 9, 4])
    norms = torch.tensor([0.5, 2.0, 1.0, 3.0, 1.5])      # same order as popularity: Spearman 1
    embeddings = torch.stack([norms, torch.zeros(5)], 1)
    pearson, spearman = solutions["norm_popularity"](embeddings, popularity)
    assert spearman == pytest.approx(1.0)
    assert pearson == pytest.approx(stats.pearsonr(norms.numpy(), popularity.numpy())[0])
    ties = torch.stack([torch.tensor([1.0, 1.0, 2.0, 3.0, 0.5]), torch.zeros(5)], 1)
    assert solutions["norm_popularity"](ties, popularity)[1] == pytest.approx(
        stats.spearmanr([1.0, 1.0, 2.0, 3.0, 0.5], popularity.numpy())[0])


def test_history_mask_by_hand(solutions):
    train_user, train_item = torch.tensor([0, 0, 1, 2]), torch.tensor([3, 1, 1, 0])
    mask = solutions["history_mask"](train_user, train_item, torch.tensor([0, 2]), torch.tensor([1, 0, 3]), 4)
    assert mask.tolist() == [[True, False, True], [False, True, False]]

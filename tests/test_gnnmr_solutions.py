"""The reference solutions of the GNNMR chapter's exercises, run outside the notebook and tested
against hand computations and the library."""
from __future__ import annotations

import math
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F

from mmrec_lite import losses
from mmrec_lite.data import make_synthetic, split_random
from mmrec_lite.models import GNNMR

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "05_gnnmr.ipynb"


@pytest.fixture(scope="module")
def solutions() -> dict:
    namespace = {"torch": torch, "F": F}
    for cell in nbformat.read(NOTEBOOK, as_version=4).cells:
        if cell.cell_type == "code" and "solution" in cell.metadata.get("tags", []):
            exec(compile(cell.source, f"{NOTEBOOK.name}:solution", "exec"), namespace)
    return namespace


def test_mutual_kl_by_hand_and_against_the_library(solutions):
    student, teacher = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    p = 1 / (1 + math.e)                                   # softmax([0, 1])[0]
    by_hand = p * math.log(p / (1 - p)) + (1 - p) * math.log((1 - p) / p)
    assert float(solutions["mutual_kl"](student, teacher)) == pytest.approx(by_hand, rel=1e-6)
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(7, 3, generator=g), torch.randn(7, 3, generator=g, requires_grad=True)
    assert float(solutions["mutual_kl"](s, t, 0.7)) == pytest.approx(float(losses.mutual_learning_kl(s, t, 0.7)), rel=1e-5)
    s.requires_grad_()
    solutions["mutual_kl"](s, t).backward()
    assert t.grad is None


def test_teacher_scores_is_the_detached_mean_of_the_others(solutions):
    scores = {"a": torch.tensor([[1.0, 2.0]]), "b": torch.tensor([[3.0, 0.0]], requires_grad=True),
              "c": torch.tensor([[5.0, 4.0]])}
    out = solutions["teacher_scores"](scores, "a")
    assert out.tolist() == [[4.0, 2.0]] and not out.requires_grad


@pytest.fixture(scope="module")
def data():
    d = split_random(make_synthetic(n_users=40, n_items=30, n_topics=3, mean_interactions=8, seed=1,
                                    reviews=False, images=False), seed=1)
    g = torch.Generator().manual_seed(1)
    d.add_features("text", torch.randn(d.n_items, 5, generator=g))
    d.add_features("image", torch.randn(d.n_items, 4, generator=g))
    return d


def test_user_mean_by_hand_and_against_the_library(solutions, data):
    user, item = torch.tensor([0, 0, 2]), torch.tensor([1, 2, 0])
    x = torch.tensor([[1.0, 0.0], [2.0, 2.0], [4.0, 0.0]])
    assert solutions["user_mean"](user, item, x, 3).tolist() == [[3.0, 1.0], [0.0, 0.0], [1.0, 0.0]]
    model = GNNMR(data, modalities=("text",), embedding_dim=4, user_init="mean", seed=0)
    torch.testing.assert_close(solutions["user_mean"](data.train.user, data.train.item, data.features["text"],
                                                      data.n_users), model.encoders["text"].user_inputs())


def test_concat_scores_equals_the_con_ensemble(solutions, data):
    model = GNNMR(data, modalities=("text", "image"), embedding_dim=4, ensemble="con", seed=0).eval()
    pairs = [model.modality_embeddings(m) for m in model.modalities]
    users = torch.arange(data.n_users)
    torch.testing.assert_close(solutions["concat_scores"]([u for u, _ in pairs], [i for _, i in pairs], users),
                               model.score(users), rtol=1e-5, atol=1e-5)

"""SymCERE model: the history mask, the named terms against the loss functions, switches (issue 8)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mmrec_lite.data import make_synthetic, split_random
from mmrec_lite.features.review_embeddings import ReviewEmbeddings
from mmrec_lite.losses import bpr_loss, symmetric_sincere_loss
from mmrec_lite.models.symcere import SymCERE


@pytest.fixture(scope="module")
def setup():
    data = split_random(make_synthetic(n_users=40, n_items=30, n_topics=3, mean_interactions=8, seed=0,
                                       images=False), seed=0)
    g = torch.Generator().manual_seed(0)
    text = ReviewEmbeddings(torch.randn(data.n_users, 12, generator=g), torch.randn(data.n_items, 12, generator=g),
                            torch.ones(data.n_users, dtype=torch.bool), torch.ones(data.n_items, dtype=torch.bool))
    batch = {"user": data.train.user[:64], "pos": data.train.item[:64], "neg": torch.randint(0, data.n_items, (64,),
                                                                                            generator=g)}
    return data, text, batch


def test_history_mask_is_the_full_training_history(setup):
    data, text, _ = setup
    model = SymCERE(data, text, 8, seed=0)
    users, items = torch.arange(data.n_users), torch.arange(data.n_items)
    assert torch.equal(model.history_mask(users, items), data.train_matrix().to_dense() > 0)


def test_cross_term_is_the_mean_of_two_symmetric_sincere_losses(setup):
    data, text, batch = setup
    model = SymCERE(data, text, 8, cross_weight=0.3, intra_weight=0.2, seed=0)
    terms = model.loss(batch)
    g_u, g_i, t_u, t_i = model.modalities()
    u = torch.unique(batch["user"])
    i = torch.unique(torch.cat([batch["pos"], batch["neg"]]))
    mask = model.history_mask(u, i)
    cross = (symmetric_sincere_loss(g_u[u], t_i[i], mask, 0.2) + symmetric_sincere_loss(t_u[u], g_i[i], mask, 0.2)) / 2
    intra = (symmetric_sincere_loss(g_u[u], g_i[i], mask, 0.2) + symmetric_sincere_loss(t_u[u], t_i[i], mask, 0.2)) / 2
    torch.testing.assert_close(terms["cross"], cross)
    torch.testing.assert_close(terms["intra"], intra)
    score = lambda a, b: ((g_u[a] * g_i[b]).sum(1) + (t_u[a] * t_i[b]).sum(1)) / 0.2  # noqa: E731
    torch.testing.assert_close(terms["bpr"], bpr_loss(score(batch["user"], batch["pos"]),
                                                      score(batch["user"], batch["neg"])))
    torch.testing.assert_close(terms["loss"], terms["bpr"] + 0.3 * cross + 0.2 * intra + terms["reg"])
    terms["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_switches(setup):
    data, text, batch = setup
    normalized = SymCERE(data, text, 8, seed=1)
    g_u, g_i, t_u, t_i = normalized.modalities()
    torch.testing.assert_close(g_u.norm(dim=1), torch.ones(data.n_users))
    raw = SymCERE(data, text, 8, normalize=False, seed=1)
    assert not torch.allclose(raw.modalities()[0].norm(dim=1), torch.ones(data.n_users))
    one_way = SymCERE(data, text, 8, directions=("graph_to_text",), seed=1)
    assert torch.isfinite(one_way.loss(batch)["cross"])
    for alignment in ("supcon", "infonce"):
        assert torch.isfinite(SymCERE(data, text, 8, alignment=alignment, seed=1).loss(batch)["loss"])
    graph_only = SymCERE(data, text, 8, fuse_text=False, seed=1).eval()
    users, items = graph_only.embeddings()
    assert users.shape[1] == 8 and items.shape[1] == 8
    with pytest.raises(ValueError):
        SymCERE(data, text, 8, alignment="triplet")

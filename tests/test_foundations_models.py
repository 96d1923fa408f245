"""Foundations models against known results: LightGCN with 0 layers is BPR-MF with the same weights."""
import pytest
import torch

from mmrec_lite.data import make_synthetic, split_random
from mmrec_lite.evaluation import evaluate_full
from mmrec_lite.models import BPRMF, LightGCN


@pytest.fixture(scope="module")
def data():
    return split_random(make_synthetic(n_users=60, n_items=40, mean_interactions=8, images=False, reviews=False))


@pytest.mark.parametrize("reg_style", ["squared", "mmrec"])
def test_lightgcn_without_layers_is_bprmf_with_the_same_weights(data, reg_style):
    lightgcn = LightGCN(data, embedding_dim=8, n_layers=0, reg_weight=0.1, reg_style=reg_style, seed=0)
    bprmf = BPRMF(data, embedding_dim=8, reg_weight=0.1, reg_style=reg_style, seed=1)
    bprmf.user_embedding.weight.data.copy_(lightgcn.user_embedding.weight.data)
    bprmf.item_embedding.weight.data.copy_(lightgcn.item_embedding.weight.data)
    users = torch.arange(data.n_users)
    torch.testing.assert_close(lightgcn.eval().score(users), bprmf.eval().score(users))
    batch = {"user": data.train.user[:32], "pos": data.train.item[:32], "neg": torch.arange(32) % data.n_items}
    lightgcn.train(), bprmf.train()
    got, want = lightgcn.loss(batch), bprmf.loss(batch)
    torch.testing.assert_close(got["loss"], want["loss"])
    lightgcn.eval(), bprmf.eval()
    assert evaluate_full(lightgcn, data, split="test") == evaluate_full(bprmf, data, split="test")


def test_the_two_regularisers_by_hand(data):
    """squared: λ Σ‖e‖² / (2B); mmrec: λ Σ_t ‖E_t‖_F / B (MMRec's EmbLoss), on the batch's layer-0 rows."""
    model = BPRMF(data, embedding_dim=4, reg_weight=0.5, seed=0)
    batch = {"user": torch.tensor([0, 1]), "pos": torch.tensor([2, 3]), "neg": torch.tensor([4, 5])}
    rows = [model.user_embedding.weight[[0, 1]].detach(), model.item_embedding.weight[[2, 3]].detach(),
            model.item_embedding.weight[[4, 5]].detach()]
    squared = 0.5 * sum(float((r ** 2).sum()) for r in rows) / (2 * 2)
    frobenius = 0.5 * sum(float((r ** 2).sum()) ** 0.5 for r in rows) / 2
    assert float(model.loss(batch)["reg"].detach()) == pytest.approx(squared, rel=1e-6)
    model.reg_style = "mmrec"
    assert float(model.loss(batch)["reg"].detach()) == pytest.approx(frobenius, rel=1e-6)

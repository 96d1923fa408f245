"""NCF / NeuMF: learns a toy matrix (ratings and implicit), full scoring equals pairwise prediction."""
import numpy as np
import pytest
import torch

from mmrec_lite.data import Interactions, RecData
from mmrec_lite.models.ncf import NCF
from mmrec_lite.training import fit


def _toy(implicit: bool = False) -> RecData:
    """A rank-2 matrix of 24 users × 16 items, fully observed; train = valid = test = everything."""
    gen = torch.Generator().manual_seed(0)
    users, items = torch.meshgrid(torch.arange(24), torch.arange(16), indexing="ij")
    affinity = torch.randn(24, 2, generator=gen) @ torch.randn(2, 16, generator=gen)
    user, item = users.flatten(), items.flatten()
    if implicit:
        keep = affinity.flatten() > 0
        inter = Interactions.from_arrays(user[keep], item[keep])
    else:
        rating = (3 + 1.5 * torch.tanh(affinity)).flatten().round()
        inter = Interactions.from_arrays(user, item, rating)
    data = RecData("toy", np.arange(24), np.arange(16), inter, implicit=implicit)
    return data.with_splits(inter, inter, inter)


def test_ncf_learns_a_toy_rating_matrix():
    data = _toy()
    torch.manual_seed(0)
    model = NCF(data, embedding_dim=8, mlp_layers=(16, 8))
    assert model.batch_kind == "pointwise"
    fit(model, data, epochs=60, batch_size=64, learning_rate=1e-2, eval_every=0, progress=False)
    train = data.train
    with torch.no_grad():
        rmse = float((model.predict(train.user, train.item) - train.rating).square().mean().sqrt())
    assert rmse < 0.5 * float(train.rating.std())


def test_ncf_learns_a_toy_implicit_matrix():
    data = _toy(implicit=True)
    torch.manual_seed(0)
    model = NCF(data, embedding_dim=8, mlp_layers=(16, 8))
    assert model.objective == "bce" and model.batch_kind == "pairwise"
    fit(model, data, epochs=40, batch_size=64, learning_rate=1e-2, eval_every=0, progress=False)
    scores = model.score(torch.arange(24))
    positive = data.train.dense_mask(24, 16)
    auc = (scores[:, :, None] > scores[:, None, :]) & positive[:, :, None] & ~positive[:, None, :]
    pairs = positive[:, :, None] & ~positive[:, None, :]
    assert float(auc.sum() / pairs.sum()) > 0.9


def test_score_equals_predict_and_tower_split():
    data = _toy()
    torch.manual_seed(1)
    model = NCF(data, embedding_dim=4, mlp_layers=(8, 4)).eval()
    users = torch.tensor([0, 3, 7])
    scores = model.score(users)
    assert scores.shape == (3, 16)
    grid_u, grid_i = users.repeat_interleave(16), torch.arange(16).repeat(3)
    torch.testing.assert_close(scores.flatten(), model.predict(grid_u, grid_i))
    # NeuMF by hand for one pair: GMF product and MLP tower on the concatenation
    u, i = torch.tensor([3]), torch.tensor([5])
    gmf = model.user_gmf(u) * model.item_gmf(i)
    hidden = torch.cat([model.user_mlp(u), model.item_mlp(i)], 1)
    for layer in model.tower:
        hidden = torch.relu(layer(hidden))
    expected = data.train.rating.mean() + model.output(torch.cat([gmf, hidden], 1)).squeeze(-1)
    torch.testing.assert_close(model.predict(u, i), expected)


def test_bad_objectives():
    with pytest.raises(ValueError, match="implicit"):
        NCF(_toy(implicit=True), objective="rating")
    with pytest.raises(ValueError, match="objective"):
        NCF(_toy(), objective="hinge")
    terms = NCF(_toy(), objective="bce").loss({"user": torch.tensor([0, 1]), "pos": torch.tensor([2, 3]),
                                               "neg": torch.tensor([4, 5])})
    assert set(terms) == {"loss", "bce", "reg"} and torch.isfinite(terms["loss"])

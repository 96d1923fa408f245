"""Rating-scale predictions of the counting and neighbourhood baselines (GLEM-Rec Table 1):
item means, and mean-centred user- and item-based neighbourhood averages, against hand
computations and dense reference formulas."""
import numpy as np
import pytest
import torch

from mmrec_lite.data import Interactions, RecData
from mmrec_lite.models import ItemKNN, Popularity, UserKNN
from mmrec_lite.models.itemknn import deviation_matrix, mean_ratings


def _data(user, item, rating, n_users, n_items) -> RecData:
    inter = Interactions.from_arrays(user, item, rating)
    data = RecData("toy", np.arange(n_users), np.arange(n_items), inter)
    return data.with_splits(inter, Interactions.empty(), Interactions.empty())


# 4 users x 4 items (item 3 unrated):  u0 {0:5, 1:3}, u1 {0:4, 1:2}, u2 {1:1, 2:5}, u3 {0:2}
TOY = _data([0, 0, 1, 1, 2, 2, 3], [0, 1, 0, 1, 1, 2, 0], [5.0, 3, 4, 2, 1, 5, 2], 4, 4)


def test_popularity_predicts_item_means():
    model = Popularity(TOY, predict_ratings=True)
    got = model.predict(torch.tensor([0, 1, 2, 3]), torch.tensor([0, 1, 2, 3]))
    global_mean = 22 / 7
    torch.testing.assert_close(got, torch.tensor([11 / 3, 2.0, 5.0, global_mean]))
    ranking = Popularity(TOY).predict(torch.tensor([0]), torch.tensor([0]))       # default: the count
    assert float(ranking) == 3.0


def test_mean_ratings_and_deviation_matrix():
    torch.testing.assert_close(mean_ratings(torch.tensor([0, 0, 2]), torch.tensor([1.0, 3, 5]), 4),
                               torch.tensor([2.0, 3.0, 5.0, 3.0]))
    twice = Interactions.from_arrays([0, 0, 1], [1, 1, 0], [4.0, 2.0, 5.0])      # (0, 1) rated twice
    dev = deviation_matrix(twice, torch.tensor([1.0, 2.0]), "user", (2, 2)).to_dense()
    torch.testing.assert_close(dev, torch.tensor([[0.0, 2.0], [3.0, 0.0]]))
    dev_t = deviation_matrix(twice, torch.tensor([1.0, 2.0]), "user", (2, 2), transpose=True).to_dense()
    torch.testing.assert_close(dev_t, dev.T)


def test_userknn_is_resnick_by_hand():
    # binary rows: u0 = u1 = {0, 1}, u2 = {1, 2}, u3 = {0}; shrink 0 cosines:
    # s(0,1) = 1, s(0,2) = 1/2, s(0,3) = 1/sqrt(2), s(2,3) = 0. User means: 4, 3, 3, 2.
    model = UserKNN(TOY, k=3, shrink=0.0, predict_ratings=True)
    s02, s03 = 0.5, 2 ** -0.5
    # u0, item 0: neighbours who rated it: u1 (dev 1), u3 (dev 0) -> 4 + (1 * 1 + s03 * 0) / (1 + s03)
    # u0, item 2: only u2 (dev 2)                                  -> 4 + 2
    # u3, item 1: u0 (dev -1, s 1/sqrt2), u1 (dev -1, s 1/sqrt2)   -> 2 - 1
    # u0, item 3: nobody rated it                                   -> u0's mean 4
    got = model.predict(torch.tensor([0, 0, 3, 0]), torch.tensor([0, 2, 1, 3]))
    torch.testing.assert_close(got, torch.tensor([4 + 1 / (1 + s03), 6.0, 1.0, 4.0]))
    assert s02 > 0  # u2 is u0's neighbour: it is what makes item 2 predictable


def test_itemknn_is_mean_centred_by_hand():
    # binary columns: i0 = {u0,u1,u3}, i1 = {u0,u1,u2}, i2 = {u2}; shrink 0 cosines:
    # s(0,1) = 2/3, s(1,2) = 1/sqrt(3), s(0,2) = 0. Item means: 11/3, 2, 5, (global 22/7).
    model = ItemKNN(TOY, k=2, shrink=0.0, predict_ratings=True)
    # u2, item 0: rated neighbour i1 (dev 1 - 2 = -1)      -> 11/3 - 1
    # u3, item 1: rated neighbour i0 (dev 2 - 11/3 = -5/3) -> 2 - 5/3
    # u3, item 2: no rated neighbour                        -> item mean 5
    got = model.predict(torch.tensor([2, 3, 3]), torch.tensor([0, 1, 2]))
    torch.testing.assert_close(got, torch.tensor([11 / 3 - 1, 2 - 5 / 3, 5.0]))


def _dense_reference(ratings: torch.Tensor, rated: torch.Tensor, similarity: torch.Tensor, by: str) -> torch.Tensor:
    """The mean-centred neighbourhood formula on dense matrices (similarity: [n, n] top-k, zeros elsewhere)."""
    if by == "user":
        mean = (ratings * rated).sum(1) / rated.sum(1)
        dev = (ratings - mean[:, None]) * rated
        weighted, weight = similarity @ dev, similarity @ rated
        return mean[:, None] + torch.where(weight > 0, weighted / weight.clamp_min(1e-12), 0.0)
    mean = (ratings * rated).sum(0) / rated.sum(0)
    dev = (ratings - mean[None, :]) * rated
    weighted, weight = dev @ similarity.T, rated @ similarity.T
    return mean[None, :] + torch.where(weight > 0, weighted / weight.clamp_min(1e-12), 0.0)


@pytest.mark.parametrize("model_class,by", [(UserKNN, "user"), (ItemKNN, "item")])
def test_knn_ratings_equal_the_dense_formula(model_class, by):
    g = torch.Generator().manual_seed(0)
    rated = torch.rand(30, 20, generator=g) < 0.35
    rated[:, 0] = rated[0] = True                                   # every user and item has a rating
    ratings = torch.randint(1, 6, (30, 20), generator=g).float() * rated
    user, item = rated.nonzero().T
    data = _data(user, item, ratings[user, item], 30, 20)
    model = model_class(data, k=5, shrink=2.0, predict_ratings=True)
    similarity = model.similarity.to_dense()
    expected = _dense_reference(ratings, rated.float(), similarity, by)
    users = torch.arange(30).repeat_interleave(20)
    items = torch.arange(20).repeat(30)
    torch.testing.assert_close(model.predict(users, items, batch_users=7), expected.flatten(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model.predict(users, items, batch_users=7),
                               model.predict(users, items, batch_users=1024))


# ---- the trivial rating predictors (models.rating_baselines), by hand on TOY ----------------------
from mmrec_lite.models import BiasBaseline, GlobalMean, MetadataRidge, UserMean  # noqa: E402


def test_global_and_user_means_by_hand():
    users, items = torch.tensor([0, 1, 2, 3]), torch.tensor([3, 3, 0, 1])
    torch.testing.assert_close(GlobalMean(TOY).predict(users, items), torch.full((4,), 22 / 7))
    torch.testing.assert_close(UserMean(TOY).predict(users, items), torch.tensor([4.0, 3.0, 3.0, 2.0]))
    torch.testing.assert_close(UserMean(TOY).score(torch.tensor([2])), torch.full((1, 4), 3.0))


def test_bias_baseline_by_hand():
    mu = 22 / 7
    # item biases with shrinkage 1: item 0 {5,4,2}, item 1 {3,2,1}, item 2 {5}, item 3 none
    b_i = torch.tensor([(11 - 3 * mu) / 4, (6 - 3 * mu) / 4, (5 - mu) / 2, 0.0], dtype=torch.float64)
    # user 0 rated items 0 (5) and 1 (3); user biases with shrinkage 2
    b_0 = ((5 - mu - b_i[0]) + (3 - mu - b_i[1])) / 4
    model = BiasBaseline(TOY, item_shrinkage=1.0, user_shrinkage=2.0)
    got = model.predict(torch.tensor([0, 0]), torch.tensor([2, 3]))
    torch.testing.assert_close(got, torch.tensor([mu + b_0 + b_i[2], mu + b_0], dtype=torch.float32))
    no_shrink = BiasBaseline(TOY, item_shrinkage=0.0, user_shrinkage=0.0)
    torch.testing.assert_close(no_shrink.item_part - no_shrink.item_part[3],
                               torch.tensor([11 / 3, 2.0, 5.0, mu]) - mu)


def test_metadata_ridge_is_least_squares_on_the_ratings():
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, -1.0]])
    model = MetadataRidge(TOY, features=features, ridge=1e-3)
    user_mean = torch.tensor([4.0, 3.0, 3.0, 2.0], dtype=torch.float64)
    x = torch.cat([features.double(), torch.ones(4, 1, dtype=torch.float64)], 1)
    design = x[TOY.train.item]                                   # one row per rating
    target = TOY.train.rating.double() - user_mean[TOY.train.user]
    w = torch.linalg.solve(design.T @ design + 1e-3 * torch.eye(3, dtype=torch.float64), design.T @ target)
    torch.testing.assert_close(model.weight.double(), w, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model.predict(torch.tensor([1]), torch.tensor([3])),
                               (user_mean[1] + x[3] @ w).float().reshape(1), atol=1e-5, rtol=1e-5)
    with pytest.raises(Exception, match="glem_meta"):
        MetadataRidge(TOY)

"""Trivial rating predictors that every rating table needs beside its models (closed form, no training).

    GlobalMean:      r̂_ui = μ
    UserMean:        r̂_ui = μ_u                       (μ for a user without ratings)
    BiasBaseline:    r̂_ui = μ + b_u + b_i             (Koren, TKDD 2010, Sec. 2.1)
        b_i = Σ_{u ∈ R(i)} (r_ui − μ) / (λ_i + |R(i)|),   b_u = Σ_{i ∈ R(u)} (r_ui − μ − b_i) / (λ_u + |R(u)|)
    MetadataRidge:   r̂_ui = μ_u + x_i · w             (a linear model on the item features)
        w = argmin_w Σ_(u,i) (r_ui − μ_u − x_i · w)² + λ ‖w‖²
          = (Xᵀ N X + λ I)⁻¹ Xᵀ s,   N = diag(|R(i)|),  s_i = Σ_{u ∈ R(i)} (r_ui − μ_u)

``μ`` is the mean training rating, ``μ_u`` the user's. All of them are fitted at construction from
``data.train``; ``score`` gives the predicted rating of every item, so they rank too.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..data.recdata import DataError, MissingFieldError, RecData
from .base import Recommender
from .itemknn import mean_ratings

__all__ = ["GlobalMean", "UserMean", "BiasBaseline", "MetadataRidge"]


def _global_mean(data: RecData) -> Tensor:
    if len(data.train) == 0:
        raise DataError(f"{data.name}: the training split has no ratings")
    return data.train.rating.double().mean()


class _RatingBaseline(Recommender):
    """Shared ``predict`` / ``score`` of ``user_part[u] + item_part[i]``."""

    batch_kind = None

    def _store(self, user_part: Tensor, item_part: Tensor) -> None:
        self.register_buffer("user_part", user_part.float())
        self.register_buffer("item_part", item_part.float())

    def predict(self, users: Tensor, items: Tensor, batch_users: int = 1024) -> Tensor:
        return self.user_part[users.to(self.device)] + self.item_part[items.to(self.device)]

    def score(self, users: Tensor) -> Tensor:
        return self.user_part[users.to(self.device), None] + self.item_part[None, :]


class GlobalMean(_RatingBaseline):
    """``r̂_ui = μ`` for every pair."""

    def __init__(self, data: RecData):
        super().__init__(data)
        self._store(_global_mean(data).expand(data.n_users), torch.zeros(data.n_items))


class UserMean(_RatingBaseline):
    """``r̂_ui = μ_u``, the user's mean training rating (``μ`` without ratings)."""

    def __init__(self, data: RecData):
        super().__init__(data)
        _global_mean(data)
        self._store(mean_ratings(data.train.user, data.train.rating, data.n_users), torch.zeros(data.n_items))


class BiasBaseline(_RatingBaseline):
    """``r̂_ui = μ + b_u + b_i`` with shrunk item biases first, then user biases (module docstring)."""

    def __init__(self, data: RecData, item_shrinkage: float = 25.0, user_shrinkage: float = 10.0):
        super().__init__(data)
        if item_shrinkage < 0 or user_shrinkage < 0:
            raise ValueError(f"shrinkage must be >= 0, got {item_shrinkage}, {user_shrinkage}")
        train, mu = data.train, _global_mean(data)
        rating = train.rating.double()
        item_sum = torch.zeros(data.n_items, dtype=torch.float64).index_add_(0, train.item, rating - mu)
        item_count = torch.bincount(train.item, minlength=data.n_items).double()
        item_bias = item_sum / (item_shrinkage + item_count).clamp_min(1e-12)
        user_sum = torch.zeros(data.n_users, dtype=torch.float64).index_add_(
            0, train.user, rating - mu - item_bias[train.item])
        user_count = torch.bincount(train.user, minlength=data.n_users).double()
        user_bias = user_sum / (user_shrinkage + user_count).clamp_min(1e-12)
        self._store(mu + user_bias, item_bias)


class MetadataRidge(_RatingBaseline):
    """``r̂_ui = μ_u + x_i · w``: ridge regression of the user-centred rating on item features.

    ``features`` ``[n_items, d]`` (e.g. the GLEM-Rec item matrix, or
    ``data.features[feature]``) are used as given, with a constant column appended (not penalised
    differently: ``λ`` is small against the number of ratings).
    """

    def __init__(self, data: RecData, features: Tensor | None = None, feature: str = "glem_meta",
                 ridge: float = 10.0):
        super().__init__(data)
        if features is None:
            if feature not in data.features:
                raise MissingFieldError(f"dataset {data.name!r} has no features[{feature!r}]; pass features=")
            features = data.features[feature]
        if features.ndim != 2 or features.shape[0] != data.n_items:
            raise DataError(f"features have shape {tuple(features.shape)}; expected [{data.n_items}, d]")
        train = data.train
        _global_mean(data)
        user_mean = mean_ratings(train.user, train.rating, data.n_users).double()
        x = torch.cat([features.detach().double().cpu(), torch.ones(data.n_items, 1, dtype=torch.float64)], 1)
        count = torch.bincount(train.item, minlength=data.n_items).double()
        residual = torch.zeros(data.n_items, dtype=torch.float64).index_add_(
            0, train.item, train.rating.double() - user_mean[train.user])
        gram = x.T @ (count[:, None] * x) + ridge * torch.eye(x.shape[1], dtype=torch.float64)
        self.register_buffer("weight", torch.linalg.solve(gram, x.T @ residual).float())
        self._store(user_mean, x @ self.weight.double())

"""The model protocol every recommender of the course follows.

A model is built from a :class:`~mmrec_lite.data.RecData` and its hyper-parameters, trains on
batches of named tensors, and scores users against the whole catalogue:

- ``batch_kind``: what :func:`mmrec_lite.training.fit` feeds to :meth:`Recommender.loss` —
  ``"pairwise"`` (``user``, ``pos``, ``neg``), ``"pointwise"`` (``user``, ``item``, ``rating``) or
  ``None`` (nothing to train: counting and neighbourhood baselines);
- ``loss(batch)``: named loss terms, ``"loss"`` being the total that is minimised;
- ``score(users)``: ``[len(users), n_items]`` scores for full ranking;
- ``predict(users, items)``: one score (or rating) per pair;
- ``on_epoch_start(epoch)``: per-epoch work such as edge pruning.

Graph models propagate embeddings over the whole graph; in eval mode :meth:`Recommender.cached`
keeps the result so that scoring every user propagates once. The cache is keyed on the version
counters of every parameter and buffer, so any change of the weights — ``optimizer.step()``, an
in-place edit, ``load_state_dict`` — makes the next call recompute; switching mode or device drops it too.

Construction takes an optional ``seed``: ``LightGCN(data, seed=3)`` seeds Python, NumPy and torch
*before* the weights are created (:func:`~mmrec_lite.profiles.seed_everything`), so one seed fixes a
run end to end together with ``fit(seed=3)``.
"""
from __future__ import annotations

import inspect
from abc import ABCMeta, abstractmethod
from itertools import chain
from typing import Any, Callable

import torch
from torch import Tensor

from ..data.recdata import RecData
from ..profiles import seed_everything

__all__ = ["Recommender", "EmbeddingRecommender"]


class _SeededConstruction(ABCMeta):
    """``Model(..., seed=s)`` seeds every generator before ``__init__`` creates the weights.

    ``inspect.signature(Model)`` (and so ``help`` and IDE hints) shows the model's own ``__init__``
    parameters followed by the keyword-only ``seed``; a property of the metaclass, so each subclass
    reports its own parameters and instances are not affected.
    """

    def __call__(cls, *args, seed: int | None = None, **kwargs):
        if seed is not None:
            seed_everything(int(seed))
        return super().__call__(*args, **kwargs)

    @property
    def __signature__(cls) -> inspect.Signature:
        own = list(inspect.signature(cls.__init__).parameters.values())[1:]          # without ``self``
        seed = inspect.Parameter("seed", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="int | None")
        last = len(own) - (bool(own) and own[-1].kind is inspect.Parameter.VAR_KEYWORD)
        return inspect.Signature(own[:last] + [seed] + own[last:])


class Recommender(torch.nn.Module, metaclass=_SeededConstruction):
    """Base class: stores ``n_users`` / ``n_items`` and the eval-mode cache."""

    batch_kind: str | None = "pairwise"

    def __init__(self, data: RecData):
        super().__init__()
        self.n_users = data.n_users
        self.n_items = data.n_items
        self._cache: dict[str, Any] = {}

    @property
    def device(self) -> torch.device:
        """The device of the model's parameters or buffers (CPU for an empty model)."""
        for tensor in chain(self.parameters(), self.buffers()):
            return tensor.device
        return torch.device("cpu")

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Named loss terms of a batch; ``"loss"`` is the total. Models with ``batch_kind=None``
        have nothing to minimise."""
        raise TypeError(f"{type(self).__name__} is not trained by gradient descent (batch_kind=None)")

    @abstractmethod
    def score(self, users: Tensor) -> Tensor:
        """Scores ``[len(users), n_items]`` of every item for each user (higher = recommend first)."""

    def predict(self, users: Tensor, items: Tensor, batch_users: int = 1024) -> Tensor:
        """Score of each ``(users[j], items[j])`` pair, gathered from :meth:`score` of the distinct
        users, ``batch_users`` of them at a time (memory ``batch_users × n_items``)."""
        distinct, row = torch.unique(users, return_inverse=True)
        out = None
        for start in range(0, len(distinct), batch_users):
            scores = self.score(distinct[start:start + batch_users])
            if out is None:
                out = torch.empty(len(users), dtype=scores.dtype, device=scores.device)
                row, items = row.to(scores.device), items.to(scores.device)
            chosen = (row >= start) & (row < start + batch_users)
            out[chosen] = scores[row[chosen] - start, items[chosen]]
        return out if out is not None else torch.empty(0, device=self.device)

    def on_epoch_start(self, epoch: int) -> None:
        """Called by the trainer before each epoch; nothing to do by default."""

    def _weights_version(self) -> tuple:
        """The version counter of every parameter and buffer: it moves with each in-place change."""
        return tuple((id(t), t._version) for t in chain(self.parameters(), self.buffers()))

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` in training mode; in eval mode computed once without gradients and kept
        until a parameter or buffer changes."""
        if self.training:
            return compute()
        version = self._weights_version()
        hit = self._cache.get(key)
        if hit is None or hit[0] != version:
            with torch.no_grad():
                hit = (version, compute())
            self._cache[key] = hit
        return hit[1]

    def train(self, mode: bool = True) -> "Recommender":
        self._cache.clear()
        return super().train(mode)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        self._cache.clear()
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def _apply(self, fn, *args, **kwargs):  # .to(), .cuda(), .float() ... move or cast: drop the cache
        self._cache.clear()
        return super()._apply(fn, *args, **kwargs)


class EmbeddingRecommender(Recommender):
    """A model whose score is the dot product of a user and an item embedding, ``ŷ_ui = e_u · e_i``.

    Subclasses implement :meth:`compute_embeddings`; scoring and prediction use the cached result
    in eval mode.
    """

    @abstractmethod
    def compute_embeddings(self) -> tuple[Tensor, Tensor]:
        """Final user ``[n_users, d]`` and item ``[n_items, d]`` embeddings."""

    def embeddings(self) -> tuple[Tensor, Tensor]:
        return self.cached("embeddings", self.compute_embeddings)

    def score(self, users: Tensor) -> Tensor:
        user_emb, item_emb = self.embeddings()
        return user_emb[users.to(user_emb.device)] @ item_emb.T

    def score_into(self, users: Tensor, out: Tensor) -> Tensor:
        """:meth:`score` written into ``out`` (the evaluator's reused buffer): no new ``[B, I]`` tensor."""
        user_emb, item_emb = self.embeddings()
        if user_emb.dtype != out.dtype or user_emb.device != out.device:
            return out.copy_(self.score(users))
        return torch.matmul(user_emb[users.to(user_emb.device)], item_emb.T, out=out)

    def predict(self, users: Tensor, items: Tensor) -> Tensor:
        user_emb, item_emb = self.embeddings()
        return (user_emb[users.to(user_emb.device)] * item_emb[items.to(item_emb.device)]).sum(-1)

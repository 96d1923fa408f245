"""Evaluators: full ranking over the catalogue, ranking of the rated candidates, beyond accuracy.

- :func:`evaluate_full`: each user's whole catalogue is ranked with the items of earlier splits
  masked out, and the held-out items are the relevant ones. Two masking protocols, named after
  the code they match (they differ only on the test split):

  - ``protocol="recbole"`` (default): at test time the training **and** validation items are
    masked, as RecBole's full-sort evaluation does (its sampler accumulates the items used in
    earlier phases);
  - ``protocol="mmrec"``: only the training items are masked, as MMRec does
    (``EvalDataLoader(config, test_dataset, additional_dataset=train_dataset)``); a user's
    validation items stay in the ranking and compete with the test items. Use it wherever a
    table sits beside numbers produced with MMRec.

  A masked item is never recommended and never a hit; a relevant item that is also masked is
  dropped from the user's relevant set with a warning (it could never be recommended).
- :func:`evaluate_rated` is how the course evaluates GLEM-Rec: only the items a user rated in the
  test split are ranked, "relevant" means a rating at or above a threshold, and RMSE / MAE come
  from the same predictions. The paper does not state its ranking protocol; this one is the
  course's reading.
- :func:`beyond_accuracy` gives coverage, novelty, Gini and head / torso / tail figures.

Users are processed in batches: memory is bounded by ``batch_users × n_items``, never ``U × I``,
and one score buffer of that size is reused across batches.
"""
from __future__ import annotations

import warnings
from itertools import chain
from typing import Iterable, Sequence

import torch
from torch import Tensor

from .data.recdata import DataError, Interactions, RecData
from .metrics import (RANKING_METRICS, catalogue_coverage, check_k, gini, group_metrics, key_hits, mae,
                      metrics_from_hits, novelty, popularity_groups, rmse, topk_hits, topk_items)

__all__ = ["evaluate_full", "evaluate_rated", "recommend", "beyond_accuracy", "PROTOCOLS", "masked_splits"]

_SPLIT_ORDER = ("train", "valid", "test")
PROTOCOLS = ("recbole", "mmrec")


def _model_device(model: torch.nn.Module, device) -> torch.device:
    """The requested device (the model is moved there), else the device of the model's tensors."""
    if device is not None:
        device = torch.device(device)
        model.to(device)
        return device
    first = next(chain(model.parameters(), model.buffers()), None)
    return torch.device("cpu") if first is None else first.device


def _split(data: RecData, name: str) -> Interactions:
    if name not in _SPLIT_ORDER:
        raise ValueError(f"unknown split {name!r}; choose one of {_SPLIT_ORDER}")
    return getattr(data, name)


def masked_splits(split: str, protocol: str = "recbole") -> tuple[str, ...]:
    """The splits whose items are masked when ranking for ``split`` under ``protocol``.

    ``"recbole"``: every earlier split (nothing for train, train for valid, train + valid for
    test). ``"mmrec"``: train only (for valid and test).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    if split not in _SPLIT_ORDER:
        raise ValueError(f"unknown split {split!r}; choose one of {_SPLIT_ORDER}")
    earlier = _SPLIT_ORDER[:_SPLIT_ORDER.index(split)]
    return earlier if protocol == "recbole" else earlier[:1]


def _check_batch_users(batch_users) -> int:
    return check_k(batch_users, "batch_users")


class _UserRows:
    """Distinct (user, item) pairs as sorted keys ``user · n_items + item`` (CSR rows per user)."""

    def __init__(self, keys: Tensor, n_users: int, n_items: int):
        self.keys, self.n_items = keys, n_items
        self.items = keys % n_items
        counts = torch.bincount(keys // n_items, minlength=n_users)
        self.crow = torch.cat([counts.new_zeros(1), counts.cumsum(0)])

    @classmethod
    def of(cls, parts: Iterable[Interactions], n_users: int, n_items: int, device: torch.device) -> "_UserRows":
        parts = list(parts)
        users = torch.cat([p.user for p in parts]) if parts else torch.zeros(0, dtype=torch.long)
        items = torch.cat([p.item for p in parts]) if parts else torch.zeros(0, dtype=torch.long)
        return cls(torch.unique(users * n_items + items).to(device), n_users, n_items)  # sorted, merged

    def without(self, other: "_UserRows") -> tuple["_UserRows", int]:
        """These pairs minus ``other``'s, and how many were removed."""
        shared = key_hits(other.keys, self.keys)
        n = int(shared.sum())
        return (self if n == 0 else _UserRows(self.keys[~shared], len(self.crow) - 1, self.n_items)), n

    def count(self, users: Tensor) -> Tensor:
        return self.crow[users + 1] - self.crow[users]

    def gather(self, users: Tensor) -> tuple[Tensor, Tensor]:
        """Row positions within the batch and item ids of every pair of ``users``."""
        lengths = self.count(users)
        rows = torch.repeat_interleave(torch.arange(len(users), device=users.device), lengths)
        batch_starts = lengths.cumsum(0) - lengths
        offset = torch.arange(int(lengths.sum()), device=users.device) - batch_starts[rows]
        return rows, self.items[self.crow[users][rows] + offset]


def _score_into(model, users: Tensor, out: Tensor) -> Tensor:
    """``model.score(users)`` written into ``out`` (a reused ``[len(users), n_items]`` float buffer)."""
    score_into = getattr(model, "score_into", None)
    if score_into is not None:
        return score_into(users, out)
    scores = model.score(users)
    if scores.shape != out.shape:
        raise ValueError(f"model.score returned shape {tuple(scores.shape)}; expected {list(out.shape)}")
    return out.copy_(scores)


def _ranked_batches(model, users: Tensor, masked: _UserRows, n_items: int, k: int, batch_users: int, device):
    """Yield ``(user batch, top-k items)``, masked items never listed (``-1`` pads short lists).

    The model runs in eval mode under ``inference_mode`` (its mode is restored afterwards); one
    score buffer ``[batch_users, n_items]`` serves every batch.
    """
    batch_users = _check_batch_users(batch_users)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            buffer = torch.empty(min(batch_users, max(len(users), 1)), n_items, device=device)
            minus_inf = torch.tensor(-torch.inf, device=device)
            for start in range(0, len(users), batch_users):
                batch = users[start:start + batch_users]
                scores = _score_into(model, batch, buffer[:len(batch)])
                scores.index_put_(masked.gather(batch), minus_inf)
                yield batch, topk_items(scores, k)
    finally:
        model.train(was_training)


def evaluate_full(model, data: RecData, split: str = "valid", ks: Sequence[int] = (10, 20), batch_users: int = 1024,
                  device=None, exclude: Sequence[str] | None = None, protocol: str = "recbole") -> dict[str, float]:
    """Full-ranking evaluation: ``recall@k``, ``ndcg@k``, ``precision@k``, ``map@k``, ``mrr@k``, ``hit@k``.

    Evaluates the users with at least one item in ``split``; those items are the relevant set.
    Items of the splits in ``exclude`` are masked before ranking; by default the splits that
    ``protocol`` masks (:func:`masked_splits`: ``"recbole"`` train + valid at test time,
    ``"mmrec"`` train only). A masked item is never a hit; relevant items that are also masked
    are dropped from the relevant sets with a warning. Per batch of users: ``model.score`` on the
    model's device (or ``device``), one deterministic top-``max(ks)`` ranking (ties: lower item
    index), hits looked up by binary search, summed into per-user metrics (formulas in
    :mod:`mmrec_lite.metrics`; precision always divides by ``k``). ``"n_users"`` is the number of
    users evaluated. The model's train / eval mode is restored afterwards.
    """
    if not ks:
        raise ValueError("ks must name at least one cut-off")
    ks = tuple(check_k(k, "ks") for k in ks)
    batch_users = _check_batch_users(batch_users)
    target = _split(data, split)
    exclude = masked_splits(split, protocol) if exclude is None else tuple(exclude)
    device = _model_device(model, device)
    masked = _UserRows.of([_split(data, name) for name in exclude], data.n_users, data.n_items, device)
    relevant, n_dropped = _UserRows.of([target], data.n_users, data.n_items, device).without(masked)
    if n_dropped:
        warnings.warn(f"{data.name}: {n_dropped} {split} pairs are also in the masked splits {exclude}; they can "
                      "never be recommended and are dropped from the relevant sets", stacklevel=2)
    users = torch.nonzero(relevant.count(torch.arange(data.n_users, device=device))).flatten()
    if len(users) == 0:
        raise DataError(f"{data.name}: split {split!r} has no interactions to evaluate")
    totals = {f"{name}@{k}": torch.zeros((), dtype=torch.float64, device=device)
              for name in RANKING_METRICS for k in ks}
    for batch, ranked in _ranked_batches(model, users, masked, data.n_items, max(ks), batch_users, device):
        hits = key_hits(relevant.keys, batch.unsqueeze(1) * data.n_items + ranked.clamp_min(0)) & (ranked >= 0)
        n_relevant = relevant.count(batch)
        for k in ks:
            for name, values in metrics_from_hits(hits, n_relevant, k).items():
                totals[f"{name}@{k}"] += values.sum()
    out = {key: float(total) / len(users) for key, total in totals.items()}
    out["n_users"] = len(users)
    return out


def evaluate_rated(model, data: RecData, split: str = "test", k: int = 10, threshold: float = 4.0,
                   device=None) -> dict[str, float]:
    """GLEM-Rec protocol: rank each user's rated items of ``split`` by ``model.predict``.

    Every (user, item) pair of the split is predicted in one call. Per user the rated items are
    ranked by prediction (padded ``[U, max_rated]`` matrix, ties by position in the split);
    relevant = ``rating >= threshold``. Returns ``precision@k`` (hits over ``min(k, rated)``, the
    list the user actually has), ``recall@k``, ``ndcg@k``, ``map@k``, ``mrr`` (first relevant
    item over the whole list), averaged over users with at least one relevant item, plus
    ``rmse`` and ``mae`` over all pairs and ``n_users``.
    """
    part = _split(data, split)
    if len(part) == 0:
        raise DataError(f"{data.name}: split {split!r} has no interactions to evaluate")
    device = _model_device(model, device)
    users, items, ratings = part.user.to(device), part.item.to(device), part.rating.to(device)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            pred = model.predict(users, items).to(device=device, dtype=torch.float32).flatten()
    finally:
        model.train(was_training)
    if pred.shape != ratings.shape:
        raise ValueError(f"model.predict returned {pred.numel()} values for {len(ratings)} pairs")
    order = torch.sort(users, stable=True).indices
    users, pred_sorted, rel_sorted = users[order], pred[order], ratings[order] >= threshold
    rated_users, n_rated = torch.unique_consecutive(users, return_counts=True)
    row = torch.repeat_interleave(torch.arange(len(rated_users), device=device), n_rated)
    column = torch.arange(len(users), device=device) - (n_rated.cumsum(0) - n_rated)[row]
    width = int(n_rated.max())
    padded = torch.full((len(rated_users), width), -torch.inf, device=device)
    padded[row, column] = pred_sorted
    is_relevant = torch.zeros(len(rated_users), width, dtype=torch.bool, device=device)
    is_relevant[row, column] = rel_sorted
    n_relevant = is_relevant.sum(1)
    keep = n_relevant > 0
    ranking_names = ("precision", "recall", "ndcg", "map")
    if keep.any():
        hits = topk_hits(topk_items(padded[keep], width), is_relevant[keep])
        at_k = metrics_from_hits(hits, n_relevant[keep], k, list_lengths=n_rated[keep])
        whole_list = metrics_from_hits(hits, n_relevant[keep])
        out = {f"{name}@{k}": float(at_k[name].mean()) for name in ranking_names}
        out["mrr"] = float(whole_list["mrr"].mean())
    else:  # nobody rated anything at or above the threshold
        out = dict.fromkeys([f"{name}@{k}" for name in ranking_names] + ["mrr"], float("nan"))
    out["rmse"] = rmse(pred, ratings)
    out["mae"] = mae(pred, ratings)
    out["n_users"] = int(keep.sum())
    return out


def recommend(model, data: RecData, users, k: int = 10, exclude: Sequence[str] = ("train",),
              batch_users: int = 1024, device=None) -> Tensor:
    """Top-``k`` item ids ``[len(users), k]`` (CPU) per user, items of the ``exclude`` splits masked.

    Ties go to the lower item index. A masked item is never recommended: when a user has fewer
    than ``k`` unmasked items (or ``k`` exceeds the catalogue) the row is padded with ``-1``.
    """
    k = check_k(k)
    device = _model_device(model, device)
    users = torch.as_tensor(users, dtype=torch.long).to(device).flatten()
    if len(users) and (int(users.min()) < 0 or int(users.max()) >= data.n_users):
        raise ValueError(f"users must be dense ids in 0..{data.n_users - 1}")
    masked = _UserRows.of([_split(data, name) for name in exclude], data.n_users, data.n_items, device)
    chunks = [ranked.cpu() for _, ranked in _ranked_batches(model, users, masked, data.n_items, k, batch_users,
                                                              device)]
    return torch.cat(chunks) if chunks else torch.zeros(0, k, dtype=torch.long)


def beyond_accuracy(model, data: RecData, k: int = 10, split: str = "test", batch_users: int = 1024,
                    device=None) -> dict[str, float]:
    """Coverage, novelty, Gini and popularity-group figures of the top-``k`` lists (GLEM-Rec Sec. 3.2).

    Lists are made for the users with at least one item in ``split``, masking the earlier splits.
    Popularity is the number of distinct training users per item; novelty uses
    ``p_i = |U_i| / |U|`` (GLEM-Rec); groups are :func:`~mmrec_lite.metrics.popularity_groups`
    (head 20 % / torso / tail 50 % of the items). Keys: ``coverage``, ``novelty``, ``gini`` and
    ``<group>_recall`` / ``<group>_share`` for head, torso, tail (see
    :func:`~mmrec_lite.metrics.group_metrics`).
    """
    target = _split(data, split)
    users = torch.unique(target.user)
    if len(users) == 0:
        raise DataError(f"{data.name}: split {split!r} has no interactions to evaluate")
    lists = recommend(model, data, users, k, masked_splits(split), batch_users, device)
    train_pairs = torch.unique(data.train.user * data.n_items + data.train.item)
    popularity = torch.bincount(train_pairs % data.n_items, minlength=data.n_items)
    row_of_user = torch.full((data.n_users,), -1, dtype=torch.long)
    row_of_user[users] = torch.arange(len(users))
    relevant = torch.sparse_coo_tensor(torch.stack([row_of_user[target.user], target.item]),
                                       torch.ones(len(target)), (len(users), data.n_items),
                                       check_invariants=True)
    out = {"coverage": catalogue_coverage(lists, data.n_items),
           "novelty": novelty(lists, popularity, n_users=data.n_users),
           "gini": gini(lists, data.n_items)}
    out.update(group_metrics(lists, relevant, popularity_groups(popularity)))
    return out

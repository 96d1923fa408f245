"""Train / validation / test splits of ``data.interactions`` (deterministic for a given seed).

Each splitter returns a copy of the dataset carrying ``splits`` that are disjoint and together
hold every interaction, each split in the original interaction order. All three are vectorised
(NumPy): interactions are sorted by (user, random key or time) once and each row's position
inside its user's group decides its split; there is no loop over users. The seeded random keys
come from a ``torch.Generator``.

Cold start is reported, never silent: a split whose valid/test part holds users or items with no
training interaction emits a :class:`~mmrec_lite.data.recdata.ColdStartWarning` naming the counts
(``RecData.cold_start_users(split)`` lists them). The per-user splitters never create such users;
the global time cut can. Neither is an ordering by time without timestamps: when every interaction
has the same timestamp (``0`` is what loaders store when the source has none) the time-based
splitters warn that the order is the input order (temporal) or random (leave-one-out).
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import torch

from .recdata import DataError, RecData

__all__ = ["split_random", "split_leave_one_out", "split_temporal"]

_EPS = 1e-9


def _check_ratios(ratios: Sequence[float]) -> tuple[float, float, float]:
    if len(ratios) != 3 or any(r < 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6 or ratios[0] <= 0:
        raise ValueError(f"ratios must be three non-negative numbers (train > 0) summing to 1, got {tuple(ratios)}")
    return tuple(float(r) for r in ratios)


def _grouped_order(user: np.ndarray, *keys: np.ndarray) -> np.ndarray:
    """Row order sorted by user, then by each key in turn (the last key is the least significant)."""
    return np.lexsort([*reversed(keys), user])


def _random_keys(n: int, seed: int) -> np.ndarray:
    """A seeded random permutation used as tie-free sort keys."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()


def _per_user(user: np.ndarray, n_users: int, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows in ``order`` (grouped by user): the user's interaction count and the row's rank
    inside its user."""
    counts = np.bincount(user, minlength=n_users)
    starts = np.cumsum(counts) - counts
    grouped = user[order]
    return counts[grouped], np.arange(len(order)) - starts[grouped]


def _with_labels(data: RecData, order: np.ndarray, label_in_order: np.ndarray) -> RecData:
    """Copy of ``data`` whose splits are the rows labelled 0 (train), 1 (valid), 2 (test)."""
    label = np.empty(len(order), dtype=np.int64)
    label[order] = label_in_order
    parts = [data.interactions.select(torch.from_numpy(np.flatnonzero(label == code))) for code in range(3)]
    split = data.with_splits(*parts)
    split.warn_cold_start(stacklevel=4)
    return split


def _warn_without_time(data: RecData, fallback: str) -> None:
    times = data.interactions.timestamp
    if len(times) > 1 and bool((times == times[0]).all()):
        warnings.warn(f"{data.name}: all {len(times):,} interactions have the timestamp {int(times[0])} (no times "
                      f"in the source?), so this time-based split {fallback}", UserWarning, stacklevel=3)


def _interactions(data: RecData) -> tuple[np.ndarray, int]:
    n = len(data.interactions)
    if n == 0:
        raise DataError(f"{data.name}: no interactions to split")
    return data.interactions.user.numpy(), n


def split_random(data: RecData, ratios: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> RecData:
    """Per-user random split (the MMRec protocol, 8:1:1 by default).

    A user with ``n >= 3`` interactions gets ``floor(n * valid_ratio)`` validation and
    ``floor(n * test_ratio)`` test interactions, at least one of each when that ratio is positive,
    and the rest for training: with 8:1:1, users with fewer than 10 interactions get ``n-2 / 1 / 1``.
    Users with fewer than 3 interactions keep them all in training.
    """
    _, valid_ratio, test_ratio = _check_ratios(ratios)
    user, n = _interactions(data)
    order = _grouped_order(user, _random_keys(n, seed))
    count, rank = _per_user(user, data.n_users, order)
    eligible = count >= 3
    n_valid = np.maximum(np.floor(count * valid_ratio + _EPS).astype(np.int64), int(valid_ratio > 0)) * eligible
    n_test = np.maximum(np.floor(count * test_ratio + _EPS).astype(np.int64), int(test_ratio > 0)) * eligible
    n_test = np.minimum(n_test, count - 1 - n_valid)
    n_train = count - n_valid - n_test
    return _with_labels(data, order, (rank >= n_train).astype(np.int64) + (rank >= n_train + n_valid))


def split_leave_one_out(data: RecData, seed: int = 0, by_time: bool = True) -> RecData:
    """Each user's last interaction to test and the one before to validation.

    ``by_time``: "last" by timestamp (ties broken at random with ``seed``); otherwise a random
    interaction. Users with fewer than 3 interactions keep them all in training.
    """
    user, n = _interactions(data)
    if by_time:
        _warn_without_time(data, "picks each user's last interactions at random")
    random_key = _random_keys(n, seed)
    keys = (data.interactions.timestamp.numpy(), random_key) if by_time else (random_key,)
    order = _grouped_order(user, *keys)
    count, rank = _per_user(user, data.n_users, order)
    from_end = count - 1 - rank
    return _with_labels(data, order, np.where((count >= 3) & (from_end < 2), 2 - from_end, 0))


def split_temporal(data: RecData, ratios: Sequence[float] = (0.8, 0.1, 0.1)) -> RecData:
    """One global time cut: the earliest interactions train, the next validate, the latest test.

    Sizes are ``floor(N * valid_ratio)`` and ``floor(N * test_ratio)``, the rest trains; equal
    timestamps keep their input order. Users or items may appear only after the cut (cold start).
    """
    _, valid_ratio, test_ratio = _check_ratios(ratios)
    _, n = _interactions(data)
    _warn_without_time(data, "follows the input order")
    order = np.argsort(data.interactions.timestamp.numpy(), kind="stable")
    n_valid, n_test = int(n * valid_ratio + _EPS), int(n * test_ratio + _EPS)
    position = np.arange(n)
    return _with_labels(data, order, (position >= n - n_valid - n_test).astype(np.int64) + (position >= n - n_test))

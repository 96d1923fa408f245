"""GLEM-Rec's Table 3 metrics on the rated candidates: coverage and "performance on niche tail movies".

Both rank each user's rated ``split`` items by ``model.predict`` (the rated-candidates protocol of
:func:`~mmrec_lite.evaluation.evaluate_rated`, the course's reading of the paper, which does not
state its protocol). They live outside :mod:`mmrec_lite.models` because models never import the
evaluator.
"""
from __future__ import annotations

import torch

from .data.recdata import DataError, RecData
from .evaluation import evaluate_rated
from .metrics import popularity_groups

__all__ = ["niche_tail_performance", "rated_coverage"]


def niche_tail_performance(model, data: RecData, split: str = "test", k: int = 10, threshold: float = 4.0,
                           tail: float = 0.5, device=None) -> float:
    """GLEM-Rec's "performance on niche tail movies" (Table 3), which the paper does not define.

    Defined here as **tail recall@k on the rated candidates**: each user's rated ``split`` items
    are ranked by ``model.predict`` (the protocol of
    :func:`~mmrec_lite.evaluation.evaluate_rated`); the relevant items are those rated
    ``>= threshold`` that lie in the popularity tail — the least popular ``tail`` share of the
    catalogue by number of distinct training users
    (:func:`~mmrec_lite.metrics.popularity_groups`, head 20 %); the score is
    ``|top-k ∩ relevant tail| / |relevant tail|`` averaged over the users with at least one
    relevant tail item. Implemented by re-labelling the split's non-tail ratings as not
    relevant and reusing ``evaluate_rated``.
    """
    part = getattr(data, split)
    pairs = torch.unique(data.train.user * data.n_items + data.train.item)
    popularity = torch.bincount(pairs % data.n_items, minlength=data.n_items)
    in_tail = popularity_groups(popularity, head=0.2, tail=tail)[part.item] == 2
    below = torch.full_like(part.rating, threshold - 1.0)
    relabelled = type(part)(part.user, part.item, torch.where(in_tail, part.rating, below), part.timestamp)
    splits = {**data.splits, split: relabelled}
    result = evaluate_rated(model, data.with_splits(splits["train"], splits["valid"], splits["test"]),
                            split=split, k=k, threshold=threshold, device=device)
    return result[f"recall@{k}"]


def rated_coverage(model, data: RecData, split: str = "test", k: int = 10) -> float:
    """GLEM-Rec's coverage (Sec. 3.2, Table 3) ``|∪_u Rec_u^k| / |I|`` on the rated candidates.

    ``Rec_u^k`` is the top-``k`` of user ``u``'s rated ``split`` items ranked by
    ``model.predict`` (the protocol of :func:`~mmrec_lite.evaluation.evaluate_rated`; ties keep
    the order of the split), so only items someone rated in ``split`` can be covered.
    :func:`~mmrec_lite.evaluation.beyond_accuracy` gives the full-catalogue coverage instead.
    """
    part = getattr(data, split)
    if len(part) == 0:
        raise DataError(f"{data.name}: split {split!r} has no interactions")
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            pred = model.predict(part.user.to(model.device), part.item.to(model.device)).float().cpu()
    finally:
        model.train(was_training)
    best_first = torch.argsort(-pred, stable=True)
    order = best_first[torch.argsort(part.user[best_first], stable=True)]       # by user, best first
    _, counts = torch.unique_consecutive(part.user[order], return_counts=True)
    rank = torch.arange(len(order)) - torch.repeat_interleave(counts.cumsum(0) - counts, counts)
    return len(torch.unique(part.item[order][rank < k])) / data.n_items

"""Ranking, rating and beyond-accuracy metrics: pure functions on tensors.

Ranking metrics follow the RecBole / MMRec definitions. For one user with relevant set ``R``
and top-``k`` list ``i_1 .. i_k`` let ``hit_j = 1[i_j ∈ R]``:

- ``recall@k    = Σ_j hit_j / |R|``
- ``precision@k = Σ_j hit_j / k``
- ``hit@k       = 1[Σ_j hit_j > 0]``
- ``mrr@k       = 1 / (rank of the first hit)``, 0 without a hit in the top ``k``
- ``ndcg@k      = DCG / IDCG`` with ``DCG = Σ_j hit_j / log2(j + 1)`` and
  ``IDCG = Σ_{j=1}^{min(|R|, k)} 1 / log2(j + 1)``
- ``map@k       = Σ_j hit_j · precision@j / min(|R|, k)``

Each is averaged over the users with at least one relevant item; users without any are
skipped, not counted as zeros.

Ties are broken deterministically: among items with equal scores the lower item index ranks
first (:func:`topk_items`). ``torch.topk`` alone gives no such guarantee.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import Tensor

__all__ = ["RANKING_METRICS", "GROUP_NAMES", "check_k", "topk_items", "topk_hits", "key_hits", "metrics_from_hits",
           "topk_metrics",
           "rmse", "mae", "catalogue_coverage", "novelty", "gini", "popularity_groups", "group_metrics"]

RANKING_METRICS = ("recall", "ndcg", "precision", "map", "mrr", "hit")
GROUP_NAMES = ("head", "torso", "tail")


def _dense_bool(mask: Tensor, shape: torch.Size, name: str) -> Tensor:
    """A dense boolean copy of a dense or sparse ``[U, I]`` mask, checked against ``shape``."""
    if mask.shape != shape:
        raise ValueError(f"{name} has shape {tuple(mask.shape)}; expected {tuple(shape)}")
    if mask.layout != torch.strided:
        mask = mask.to_dense()
    return mask.bool()


def check_k(k, name: str = "k") -> int:
    """``k`` as a positive ``int``; a float, bool or non-positive cut-off is an error, never truncated."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"{name} must be a positive integer, got {k!r}")
    if int(k) < 1:
        raise ValueError(f"{name} must be at least 1, got {k}")
    return int(k)


def _exact_topk(scores: Tensor, k: int) -> Tensor:
    """Slow, exact tie rule on whole rows: items strictly above the ``k``-th score, then the
    lowest-indexed items tied with it; ordered by score, ties by index."""
    kth = torch.topk(scores, k, dim=1).values[:, -1:]
    above = scores > kth
    tied = scores == kth
    chosen = above | (tied & (tied.cumsum(1) <= k - above.sum(1, keepdim=True)))
    index = chosen.nonzero()[:, 1].view(-1, k)  # row-major: ascending item index within each row
    order = torch.sort(scores.gather(1, index), dim=1, descending=True, stable=True).indices
    return index.gather(1, order)


def topk_items(scores: Tensor, k: int, margin: int = 8) -> Tensor:
    """Indices ``[U, k]`` of the ``k`` highest scores per row, best first; ``-1`` where no item is left.

    Equal scores are ordered by item index (lower first), also at the cut-off. A ``-inf`` score
    marks an item that must not be recommended (masked): it never appears in the output; when a
    row has fewer than ``k`` finite scores (or ``k`` exceeds the number of items) the list is
    padded with ``-1``. ``k`` must be a positive integer.

    Speed: one ``torch.topk`` of ``k + margin`` candidates, the tie rule applied among them; only
    rows whose last candidate still ties with the ``k``-th score (ties that may reach beyond the
    candidates) are re-ranked exactly on the whole row.
    """
    if scores.ndim != 2:
        raise ValueError(f"scores must be [U, I], got shape {tuple(scores.shape)}")
    k = check_k(k)
    n_rows, n_items = scores.shape
    if n_items == 0:
        raise ValueError("there are no items to rank")
    kk = min(k, n_items)
    width = min(kk + max(int(margin), 0), n_items)
    values, index = torch.topk(scores, width, dim=1)             # sorted, best first
    if torch.isnan(values).any():                                # topk ranks NaN above every number
        raise ValueError("scores contain NaN")
    by_index = torch.sort(index, dim=1).indices                  # candidates by ascending item index,
    index, values = index.gather(1, by_index), values.gather(1, by_index)
    order = torch.sort(values, dim=1, descending=True, stable=True).indices[:, :kk]  # then by score
    top, top_values = index.gather(1, order), values.gather(1, order)
    if width < n_items:
        kth = top_values[:, -1]
        ambiguous = (values.min(1).values == kth) & (kth > -torch.inf)
        if ambiguous.any():
            rows = ambiguous.nonzero().flatten()
            top[rows] = _exact_topk(scores[rows], kk)
            top_values[rows] = scores[rows].gather(1, top[rows])
    top = top.masked_fill(top_values == -torch.inf, -1)
    if kk < k:
        top = torch.cat([top, top.new_full((n_rows, k - kk), -1)], dim=1)
    return top


def topk_hits(topk: Tensor, relevant: Tensor) -> Tensor:
    """Boolean ``[U, k]``: whether each recommended item is relevant to its user (``-1``: never).

    ``relevant`` is a ``[U, I]`` boolean mask, dense or sparse; a sparse mask is looked up by
    binary search over its sorted ``user · I + item`` keys, never densified.
    """
    if relevant.ndim != 2 or relevant.shape[0] != topk.shape[0]:
        raise ValueError(f"relevant has shape {tuple(relevant.shape)}; expected [{topk.shape[0]}, n_items]")
    listed = topk >= 0
    if relevant.layout == torch.strided:
        return relevant.bool().gather(1, topk.clamp_min(0)) & listed
    n_items = relevant.shape[1]
    coo = relevant.to_sparse_coo().coalesce()
    keys = coo.indices()[0] * n_items + coo.indices()[1]
    keys = keys[coo.values().bool()]
    rows = torch.arange(topk.shape[0], device=topk.device).unsqueeze(1)
    return key_hits(keys.to(topk.device), rows * n_items + topk.clamp_min(0)) & listed


def key_hits(sorted_keys: Tensor, queries: Tensor) -> Tensor:
    """Whether each query key occurs in ``sorted_keys`` (ascending), by binary search."""
    if len(sorted_keys) == 0:
        return torch.zeros(queries.shape, dtype=torch.bool, device=queries.device)
    pos = torch.searchsorted(sorted_keys, queries).clamp_max(len(sorted_keys) - 1)
    return sorted_keys[pos] == queries


def metrics_from_hits(hits: Tensor, n_relevant: Tensor, k: int | None = None,
                      list_lengths: Tensor | None = None) -> dict[str, Tensor]:
    """Per-user ranking metrics ``[U]`` from the hit matrix of a ranked list (formulas: module doc).

    ``hits`` is ``[U, K]`` (from :func:`topk_hits`); only its first ``k`` columns are used (all by
    default), so one top-``max(ks)`` ranking serves every cut-off; a ``k`` above ``K`` counts the
    missing places as misses (precision still divides by ``k``). ``n_relevant`` ``[U]`` is
    ``|R|`` and must be at least 1 for every row. ``list_lengths`` ``[U]`` is the number of
    candidates each user actually has, for protocols that rank a short list of rated items
    (precision then divides by ``min(k, length)``); default ``k``.
    Returning per-user values lets an evaluator sum them over batches of users.
    """
    k = hits.shape[1] if k is None else check_k(k)
    if k > hits.shape[1]:
        hits = torch.cat([hits, hits.new_zeros(hits.shape[0], k - hits.shape[1])], dim=1)
    hits = hits[:, :k].float()
    n_relevant = n_relevant.to(hits.device).float()
    if len(n_relevant) != len(hits):
        raise ValueError(f"n_relevant has {len(n_relevant)} rows for {len(hits)} ranked lists")
    if (n_relevant < 1).any():
        raise ValueError("every user needs at least one relevant item; drop the others first")
    positions = torch.arange(1, k + 1, device=hits.device, dtype=torch.float32)
    discount = 1.0 / torch.log2(positions + 1)
    n_hits = hits.sum(1)
    ideal_length = n_relevant.clamp_max(k).long()
    idcg = discount.cumsum(0)[ideal_length - 1]
    precision_at = hits.cumsum(1) / positions
    first_hit = torch.where(n_hits > 0, hits.argmax(1).float() + 1, torch.inf)
    length = positions[-1] if list_lengths is None else list_lengths.to(hits.device).float().clamp(1, k)
    return {
        "recall": n_hits / n_relevant,
        "ndcg": (hits * discount).sum(1) / idcg,
        "precision": n_hits / length,
        "map": (precision_at * hits).sum(1) / n_relevant.clamp_max(k),
        "mrr": 1.0 / first_hit,
        "hit": (n_hits > 0).float(),
    }


def topk_metrics(scores: Tensor, relevant: Tensor, k: int, exclude: Tensor | None = None) -> dict[str, float]:
    """Recall, NDCG, precision, MAP, MRR and hit rate at ``k`` (formulas: module doc).

    ``scores`` ``[U, I]``; ``relevant`` ``[U, I]`` bool (dense or sparse); ``exclude`` ``[U, I]``
    bool (dense or sparse) marks items set to ``-inf`` before ranking (e.g. training items): a
    masked item is never recommended, so never a hit. A relevant item that is also excluded can
    never be recommended: it is dropped from that user's relevant set with a warning (users left
    without a relevant item are skipped). ``k`` above the number of items leaves the remaining
    places empty (precision still divides by ``k``). Averages over users with at least one
    relevant item.
    """
    if scores.ndim != 2:
        raise ValueError(f"scores must be [U, I], got shape {tuple(scores.shape)}")
    relevant = _dense_bool(relevant, scores.shape, "relevant").to(scores.device)
    if exclude is not None:
        exclude = _dense_bool(exclude, scores.shape, "exclude").to(scores.device)
        scores = scores.masked_fill(exclude, -torch.inf)
        relevant = drop_excluded_relevant(relevant, exclude)
    n_relevant = relevant.sum(1)
    keep = n_relevant > 0
    if not keep.any():
        raise ValueError("no user has a relevant item")
    hits = topk_hits(topk_items(scores[keep], k), relevant[keep])
    per_user = metrics_from_hits(hits, n_relevant[keep])
    return {name: float(value.mean()) for name, value in per_user.items()}


def drop_excluded_relevant(relevant: Tensor, exclude: Tensor) -> Tensor:
    """``relevant & ~exclude``, warning with the count when a relevant item is also excluded."""
    both = int((relevant & exclude).sum())
    if both:
        warnings.warn(f"{both} relevant (user, item) pairs are also excluded from ranking; they can never be "
                      "recommended and are dropped from the relevant sets", stacklevel=3)
        return relevant & ~exclude
    return relevant


def _check_pairs(pred: Tensor, target: Tensor) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"pred has shape {tuple(pred.shape)}, target {tuple(target.shape)}")
    if pred.numel() == 0:
        raise ValueError("no predictions to compare")


def rmse(pred: Tensor, target: Tensor) -> float:
    """Root mean squared error ``sqrt(mean((r̂ - r)²))``."""
    _check_pairs(pred, target)
    return float(torch.sqrt(torch.mean((pred.float() - target.float()) ** 2)))


def mae(pred: Tensor, target: Tensor) -> float:
    """Mean absolute error ``mean(|r̂ - r|)``."""
    _check_pairs(pred, target)
    return float(torch.mean((pred.float() - target.float()).abs()))


def catalogue_coverage(topk: Tensor, n_items: int) -> float:
    """Share of the catalogue recommended to anyone: ``|∪_u Rec_u^k| / |I|`` (GLEM-Rec Sec. 3.2).
    Empty places (``-1``) are not items."""
    return len(torch.unique(topk[topk >= 0])) / n_items


def novelty(topk: Tensor, item_popularity: Tensor, n_users: int | None = None) -> float:
    """Mean self-information of the recommended items, ``mean_u mean_{i∈Rec_u} −log2 p_i``.

    ``p_i = pop_i / n_users`` when ``n_users`` is given, the GLEM-Rec definition (Sec. 3.2,
    ``|U_i| / |U|`` with ``pop_i`` the number of users who interacted with ``i``); otherwise
    ``p_i = pop_i / Σ_j pop_j``, the share of all interactions. Items never seen are counted as
    seen once so that the value stays finite. Empty places (``-1``) are skipped; a user's list
    counts by its real items.
    """
    popularity = item_popularity.to(topk.device).float().clamp_min(1.0)
    total = float(n_users) if n_users is not None else float(item_popularity.float().sum())
    listed = topk >= 0
    information = -torch.log2(popularity[topk.clamp_min(0)] / total) * listed
    per_user = information.sum(1) / listed.sum(1).clamp_min(1)
    has_list = listed.any(1)
    return float(per_user[has_list].mean()) if has_list.any() else math.nan


def gini(topk: Tensor, n_items: int) -> float:
    """Gini index of how often each item is recommended: 0 = every item equally, (n−1)/n = one item only.

    With the counts sorted ascending ``c_(1) <= .. <= c_(n)``:
    ``G = Σ_j (2j − n − 1) c_(j) / (n Σ_j c_(j))``.
    """
    counts = torch.bincount(topk[topk >= 0], minlength=n_items).float().sort().values
    j = torch.arange(1, n_items + 1, device=counts.device, dtype=torch.float32)
    return float(((2 * j - n_items - 1) * counts).sum() / (n_items * counts.sum()))


def popularity_groups(item_popularity: Tensor, head: float = 0.2, tail: float = 0.5) -> Tensor:
    """Popularity group per item: 0 head, 1 torso, 2 tail (GLEM-Rec Sec. 3.2).

    Items are ranked by popularity, most popular first (equal counts: lower index first). The
    first ``round(head · I)`` items form the head, the last ``round(tail · I)`` the tail (the
    least popular half by default), the rest the torso. The split counts items, not interactions.
    """
    if not (0 <= head and 0 <= tail and head + tail <= 1):
        raise ValueError(f"head={head} and tail={tail} must be shares with head + tail <= 1")
    n = len(item_popularity)
    n_head, n_tail = round(head * n), round(tail * n)
    order = torch.sort(item_popularity, descending=True, stable=True).indices
    by_rank = torch.ones(n, dtype=torch.long, device=item_popularity.device)
    by_rank[:n_head] = 0
    by_rank[n - n_tail:] = 2
    groups = torch.empty_like(by_rank)
    groups[order] = by_rank
    return groups


def group_metrics(topk: Tensor, relevant: Tensor, groups: Tensor, k: int | None = None) -> dict[str, float]:
    """Recall and share of recommendations per popularity group (head / torso / tail).

    ``<group>_recall``: recall@k with the relevant set restricted to the group's items, averaged
    over users with at least one relevant item in the group (NaN if none has). ``<group>_share``:
    the fraction of all recommended items (empty ``-1`` places excluded) from the group. ``topk`` ``[U, K]`` (first
    ``k`` columns used), ``relevant`` ``[U, I]`` dense or sparse, ``groups`` ``[I]`` from
    :func:`popularity_groups`.
    """
    topk = topk if k is None else topk[:, :k]
    groups = groups.to(topk.device)
    hits = topk_hits(topk, relevant)
    if relevant.layout == torch.strided:
        rel_users, rel_items = relevant.bool().nonzero(as_tuple=True)
    else:
        coo = relevant.to_sparse_coo().coalesce()
        rel_users, rel_items = coo.indices()[:, coo.values().bool()]
    rel_users, rel_items = rel_users.to(topk.device), rel_items.to(topk.device)
    n_users = topk.shape[0]
    listed = topk >= 0
    rec_groups = torch.where(listed, groups[topk.clamp_min(0)], -1)  # -1: an empty place
    out = {}
    for g, name in enumerate(GROUP_NAMES):
        n_relevant = torch.bincount(rel_users[groups[rel_items] == g], minlength=n_users).float()
        n_hits = (hits & (rec_groups == g)).sum(1).float()
        has = n_relevant > 0
        out[f"{name}_recall"] = float((n_hits[has] / n_relevant[has]).mean()) if has.any() else math.nan
        out[f"{name}_share"] = float((rec_groups == g).sum() / listed.sum().clamp_min(1))
    return out

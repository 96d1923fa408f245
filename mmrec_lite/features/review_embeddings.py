"""Review-text embeddings of users and items from their **training** reviews (SymCERE's text side).

Each review is encoded once with a :class:`~mmrec_lite.features.TextEncoder` (cached on disk, so
every split and seed reuses the encoding). A user's text embedding is the mean of the
L2-normalised embeddings of the reviews they wrote on training interactions; an item's, the mean
over the training reviews it received:

    t_u = mean_{(u,i) ∈ train, review r_ui} ê(r_ui),     t_i = mean_{(u,i) ∈ train, review r_ui} ê(r_ui)

Reviews of validation and test interactions never enter an embedding (they would leak the
held-out items into the text side). Users or items without a training review get a zero row and
``False`` in the returned mask.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.recdata import RecData
from .text import TextEncoder

__all__ = ["ReviewEmbeddings", "encode_reviews", "aggregate_reviews", "train_review_rows"]


@dataclass
class ReviewEmbeddings:
    """Per-user and per-item text embeddings and which rows have at least one training review."""

    user: Tensor        # [n_users, d]
    item: Tensor        # [n_items, d]
    user_has_text: Tensor   # [n_users] bool
    item_has_text: Tensor   # [n_items] bool


def encode_reviews(data: RecData, encoder: TextEncoder | None = None) -> Tensor:
    """One embedding ``[n_reviews, d]`` per row of ``data.reviews`` (train, valid and test alike:
    :func:`aggregate_reviews` picks the training rows), encoded with ``encoder`` (default: the
    offline MiniLM, mean pooling, 128 tokens)."""
    data.require("reviews")
    encoder = encoder or TextEncoder(max_length=128)
    return encoder.encode([str(t) for t in data.reviews["text"].tolist()])


def train_review_rows(data: RecData) -> np.ndarray:
    """Indices of the rows of ``data.reviews`` whose (user, item) pair is a training interaction."""
    data.require("reviews")
    key = data.reviews["user"].to_numpy(np.int64) * data.n_items + data.reviews["item"].to_numpy(np.int64)
    train_key = data.train.user.numpy().astype(np.int64) * data.n_items + data.train.item.numpy()
    return np.flatnonzero(np.isin(key, train_key))


def aggregate_reviews(data: RecData, review_embeddings: Tensor) -> ReviewEmbeddings:
    """Mean of the L2-normalised training-review embeddings per user and per item (module docstring)."""
    if len(review_embeddings) != len(data.reviews):
        raise ValueError(f"{len(review_embeddings)} review embeddings for {len(data.reviews)} reviews")
    rows = torch.from_numpy(train_review_rows(data))
    unit = F.normalize(review_embeddings.float(), dim=1)[rows]
    out = []
    for column, n in (("user", data.n_users), ("item", data.n_items)):
        owner = torch.from_numpy(data.reviews[column].to_numpy(np.int64, copy=True))[rows]
        total = torch.zeros(n, unit.shape[1]).index_add_(0, owner, unit)
        count = torch.bincount(owner, minlength=n)
        out += [total / count.clamp_min(1).unsqueeze(1), count > 0]
    return ReviewEmbeddings(user=out[0], item=out[2], user_has_text=out[1], item_has_text=out[3])

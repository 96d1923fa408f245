"""A text-only recommender: the cosine between a user's and an item's review embeddings.

``ŷ_ui = t_u · t_i / (||t_u|| ||t_i||)`` with ``t`` from
:func:`~mmrec_lite.features.review_embeddings.aggregate_reviews` (training reviews only).
Nothing is trained; users or items without a training review score 0. The SymCERE chapter's
"review embeddings alone" baseline.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ..data.recdata import RecData
from ..features.review_embeddings import ReviewEmbeddings
from .base import EmbeddingRecommender

__all__ = ["ReviewText"]


class ReviewText(EmbeddingRecommender):
    """Scores by the cosine of the aggregated review embeddings of the user and the item."""

    batch_kind = None

    def __init__(self, data: RecData, text: ReviewEmbeddings):
        super().__init__(data)
        self.register_buffer("user_text", F.normalize(text.user.float(), dim=1), persistent=False)
        self.register_buffer("item_text", F.normalize(text.item.float(), dim=1), persistent=False)

    def compute_embeddings(self) -> tuple[Tensor, Tensor]:
        return self.user_text, self.item_text

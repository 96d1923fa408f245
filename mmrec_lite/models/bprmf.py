"""BPR-MF: matrix factorisation trained with Bayesian Personalised Ranking (Rendle et al., UAI 2009).

    ŷ_ui = e_u · e_i
    L = mean_(u,i,j) −ln σ(ŷ_ui − ŷ_uj) + λ Σ ||e||² / (2B)          (the BPR-Opt criterion)

``(u, i, j)``: a user, one of their training items and a sampled item they did not interact with.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..data.recdata import RecData
from ..losses import bpr_loss, l2_regularization
from .base import EmbeddingRecommender

__all__ = ["BPRMF"]


class BPRMF(EmbeddingRecommender):
    """One free embedding per user and per item, ranked by dot product."""

    batch_kind = "pairwise"

    def __init__(self, data: RecData, embedding_dim: int = 64, reg_weight: float = 1e-4, reg_style: str = "squared"):
        super().__init__(data)
        self.reg_weight, self.reg_style = reg_weight, reg_style
        self.user_embedding = torch.nn.Embedding(data.n_users, embedding_dim)
        self.item_embedding = torch.nn.Embedding(data.n_items, embedding_dim)
        torch.nn.init.xavier_normal_(self.user_embedding.weight)
        torch.nn.init.xavier_normal_(self.item_embedding.weight)

    def compute_embeddings(self) -> tuple[Tensor, Tensor]:
        return self.user_embedding.weight, self.item_embedding.weight

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        user = self.user_embedding(batch["user"])
        pos, neg = self.item_embedding(batch["pos"]), self.item_embedding(batch["neg"])
        bpr = bpr_loss((user * pos).sum(-1), (user * neg).sum(-1))
        reg = self.reg_weight * l2_regularization(user, pos, neg, style=self.reg_style)
        return {"loss": bpr + reg, "bpr": bpr, "reg": reg}

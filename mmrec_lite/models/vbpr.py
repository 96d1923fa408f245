"""VBPR (He & McAuley, AAAI 2016): matrix factorisation plus a visual preference factor.

    ŷ_ui = β_i + γ_u·γ_i + θ_u·(E f_i) + β'·f_i                          (Eq. 2; α, β_u cancel in BPR)
    L = mean −ln σ(ŷ_ui − ŷ_uj) + λ ||γ_u, θ_u, γ_i, γ_j, β_i, β_j||² / (2B)

``f_i`` are fixed item content features: the concatenation of the named feature matrices (the
paper's CNN image features; MMRec appends the text features too). ``E`` projects them to the
``embedding_dim``-dimensional visual space; ``β'`` is the visual bias. Written as one dot
product, ``e_u = [γ_u, θ_u, 1]`` and ``e_i = [γ_i, E f_i, β_i + β'·f_i]``.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from ..data.recdata import RecData
from ..losses import bpr_loss, l2_regularization
from .base import EmbeddingRecommender

__all__ = ["VBPR"]


class VBPR(EmbeddingRecommender):
    """VBPR on the item features ``data.features[name]`` for ``name`` in ``features``."""

    batch_kind = "pairwise"

    def __init__(self, data: RecData, embedding_dim: int = 64, features: Sequence[str] = ("image", "text"),
                 reg_weight: float = 1e-4, reg_style: str = "squared"):
        super().__init__(data)
        if not features:
            raise ValueError("VBPR needs at least one item feature matrix name")
        data.require(*(f"features:{name}" for name in features))
        self.reg_weight, self.reg_style = reg_weight, reg_style
        self.register_buffer("content", torch.cat([data.features[name] for name in features], dim=1))
        width = self.content.shape[1]
        self.gamma_user = torch.nn.Embedding(data.n_users, embedding_dim)     # γ_u
        self.theta_user = torch.nn.Embedding(data.n_users, embedding_dim)     # θ_u
        self.gamma_item = torch.nn.Embedding(data.n_items, embedding_dim)     # γ_i
        self.item_bias = torch.nn.Embedding(data.n_items, 1)                  # β_i
        self.projection = torch.nn.Linear(width, embedding_dim, bias=False)   # E
        self.visual_bias = torch.nn.Linear(width, 1, bias=False)              # β'
        for table in (self.gamma_user, self.theta_user, self.gamma_item):
            torch.nn.init.xavier_normal_(table.weight)
        torch.nn.init.zeros_(self.item_bias.weight)

    def compute_embeddings(self) -> tuple[Tensor, Tensor]:
        ones = torch.ones(self.n_users, 1, device=self.content.device)
        users = torch.cat([self.gamma_user.weight, self.theta_user.weight, ones], dim=1)
        bias = self.item_bias.weight + self.visual_bias(self.content)
        items = torch.cat([self.gamma_item.weight, self.projection(self.content), bias], dim=1)
        return users, items

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        users, items = self.compute_embeddings()
        user, pos, neg = batch["user"], batch["pos"], batch["neg"]
        bpr = bpr_loss((users[user] * items[pos]).sum(-1), (users[user] * items[neg]).sum(-1))
        reg = self.reg_weight * l2_regularization(self.gamma_user(user), self.theta_user(user), self.gamma_item(pos),
                                                  self.gamma_item(neg), self.item_bias(pos), self.item_bias(neg),
                                                  style=self.reg_style)
        return {"loss": bpr + reg, "bpr": bpr, "reg": reg}

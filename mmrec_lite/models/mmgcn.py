"""MMGCN (Wei et al., ACM MM 2019): one GCN per modality over the user–item graph, summed per node.

For each modality ``m``, users start from a preference vector ``p_u^m`` and items from their
projected features ``x_i^m = LeakyReLU(W^m f_i^m)``; each of ``L`` layers is

    a_u = LeakyReLU(W_agg^(m,l) · mean_{i∈N(u)} h_i)                    (aggregation, mean)
    h_u ← a_u + LeakyReLU(W_com^(m,l) h_u + e_u^id)                     (combination, "add")

(items alike over their users), with one ID embedding ``e^id`` shared by every modality. The
final representation sums the modalities, ``e_u = Σ_m h_u^m`` and ``e_i = Σ_m h_i^m``;
``ŷ_ui = e_u · e_i``, trained with BPR plus weight decay on the batch's ID embeddings.

Unlike the original code and MMRec's port, which create the preference and ID embeddings as
plain tensors that are never handed to the optimiser (so they stay at their random
initialisation), both are registered here as parameters and trained.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.recdata import RecData
from ..graphs import unique_pairs
from ..losses import bpr_loss, l2_regularization
from .base import EmbeddingRecommender

__all__ = ["MMGCN"]


def _mean_operator(rows: Tensor, cols: Tensor, n_rows: int, n_cols: int) -> Tensor:
    """Sparse CSR ``[n_rows, n_cols]`` with ``1 / degree`` per row: ``M @ X`` averages neighbours."""
    degree = torch.bincount(rows, minlength=n_rows).clamp_min(1).float()
    return torch.sparse_coo_tensor(torch.stack([rows, cols]), 1.0 / degree[rows], (n_rows, n_cols),
                                   check_invariants=True).coalesce().to_sparse_csr()


class _ModalityGCN(torch.nn.Module):
    def __init__(self, n_users: int, feature_width: int, dim: int, n_layers: int):
        super().__init__()
        self.preference = torch.nn.Parameter(torch.nn.init.xavier_normal_(torch.empty(n_users, dim)))
        self.project = torch.nn.Linear(feature_width, dim)
        self.aggregate = torch.nn.ModuleList(torch.nn.Linear(dim, dim) for _ in range(n_layers))
        self.combine = torch.nn.ModuleList(torch.nn.Linear(dim, dim) for _ in range(n_layers))

    def forward(self, features: Tensor, id_user: Tensor, id_item: Tensor, user_mean: Tensor, item_mean: Tensor):
        h_user, h_item = self.preference, F.leaky_relu(self.project(features))
        for aggregate, combine in zip(self.aggregate, self.combine):
            a_user = F.leaky_relu(aggregate(user_mean @ h_item))
            a_item = F.leaky_relu(aggregate(item_mean @ h_user))
            h_user = a_user + F.leaky_relu(combine(h_user) + id_user)
            h_item = a_item + F.leaky_relu(combine(h_item) + id_item)
        return h_user, h_item


class MMGCN(EmbeddingRecommender):
    """MMGCN over the item feature matrices ``data.features[name]`` for ``name`` in ``modalities``."""

    batch_kind = "pairwise"

    def __init__(self, data: RecData, modalities: Sequence[str] = ("text", "image"), embedding_dim: int = 64,
                 n_layers: int = 2, reg_weight: float = 1e-4):
        super().__init__(data)
        if not modalities:
            raise ValueError("MMGCN needs at least one modality")
        data.require(*(f"features:{name}" for name in modalities))
        self.modalities, self.reg_weight = tuple(modalities), reg_weight
        for name in modalities:
            self.register_buffer(f"features_{name}", data.features[name].float())
        self.id_embedding = torch.nn.Embedding(data.n_users + data.n_items, embedding_dim)
        torch.nn.init.xavier_normal_(self.id_embedding.weight)
        self.towers = torch.nn.ModuleDict({name: _ModalityGCN(data.n_users, data.features[name].shape[1],
                                                              embedding_dim, n_layers) for name in modalities})
        user, item = unique_pairs(data.train.user, data.train.item, data.n_items)
        self.register_buffer("user_mean", _mean_operator(user, item, data.n_users, data.n_items), persistent=False)
        self.register_buffer("item_mean", _mean_operator(item, user, data.n_items, data.n_users), persistent=False)

    def compute_embeddings(self) -> tuple[Tensor, Tensor]:
        id_user, id_item = self.id_embedding.weight[:self.n_users], self.id_embedding.weight[self.n_users:]
        users, items = 0, 0
        for name, tower in self.towers.items():
            h_user, h_item = tower(getattr(self, f"features_{name}"), id_user, id_item, self.user_mean, self.item_mean)
            users, items = users + h_user, items + h_item
        return users, items

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        users, items = self.compute_embeddings()
        user, pos, neg = batch["user"], batch["pos"], batch["neg"]
        e_user = users.index_select(0, user)
        bpr = bpr_loss((e_user * items.index_select(0, pos)).sum(-1), (e_user * items.index_select(0, neg)).sum(-1))
        reg = self.reg_weight * l2_regularization(self.id_embedding(user), self.id_embedding(pos + self.n_users),
                                                  self.id_embedding(neg + self.n_users))
        return {"loss": bpr + reg, "bpr": bpr, "reg": reg}

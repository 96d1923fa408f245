"""FREEDOM (Zhou & Shen, "A Tale of Two Graphs", ACM MM 2023): a frozen item–item graph and a
denoised user–item graph.

    S_m = D^{-1/2} kNN_k(x^m) D^{-1/2},   S = λ_v S_v + (1 − λ_v) S_t    (frozen, built once)
    h_i = (S^{L_m} E_item)_i                                             (item–item convolution)
    [ẽ_u; ẽ_i] = mean_{l=0..L} Â_ρ^l [E_user; E_item]                    (LightGCN, pruned Â_ρ)
    e_u = ẽ_u,  e_i = ẽ_i + h_i,  ŷ_ui = e_u · e_i
    L = BPR(e) + λ Σ_m BPR(e_u, W_m x^m_i)                               (modality BPR terms)
        + λ_reg · reg(E^(0)_batch)                                       (optional; 0 by default)

``Â_ρ`` is the training graph after degree-sensitive pruning: each epoch keeps ``(1 − ρ)`` of the
edges, edge ``(u, i)`` drawn with probability ∝ ``1/sqrt(d_u d_i)``; evaluation uses the whole
graph. As in the authors' MMRec code: an item's own row counts among its ``k`` neighbours (a
self-loop), the raw modality features are fine-tuned together with their projections ``W_m``,
and the defaults are ``k = 10``, ``λ_v = 0.1``, ``L_m = 1``, ``L = 2``, ``ρ = 0.8``.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..data.recdata import RecData
from ..graphs import (knn_adjacency, knn_graph, normalized_adjacency, pruned_adjacency, symmetric_spmm,
                      to_csr, unique_pairs)
from ..losses import bpr_loss, l2_regularization
from .base import EmbeddingRecommender

__all__ = ["FREEDOM", "freedom_item_graph"]


def freedom_item_graph(features: dict[str, Tensor], weights: dict[str, float], k: int = 10) -> Tensor:
    """``Σ_m w_m D^{-1/2} kNN_k(x^m) D^{-1/2}`` as sparse CSR ``[N, N]`` (self included in the kNN)."""
    total = None
    for name, x in features.items():
        neighbours, _ = knn_graph(x, k, exclude_self=False)
        graph = weights[name] * knn_adjacency(neighbours, len(x), symmetric_norm=True, layout="coo")
        total = graph if total is None else total + graph
    return to_csr(total.coalesce())


class FREEDOM(EmbeddingRecommender):
    """FREEDOM on the item features ``data.features[text]`` and ``data.features[image]`` (either may be ``None``)."""

    batch_kind = "pairwise"

    def __init__(self, data: RecData, embedding_dim: int = 64, knn_k: int = 10, image_weight: float = 0.1,
                 n_item_layers: int = 1, n_ui_layers: int = 2, prune_ratio: float = 0.8,
                 feature_weight: float = 1e-4, text: str | None = "text", image: str | None = "image",
                 reg_weight: float = 0.0, reg_style: str = "squared"):
        super().__init__(data)
        names = [name for name in (text, image) if name]
        if not names:
            raise ValueError("FREEDOM needs at least one modality: give text and/or image feature names")
        data.require(*(f"features:{name}" for name in names))
        self.n_item_layers, self.n_ui_layers = n_item_layers, n_ui_layers
        self.prune_ratio, self.feature_weight = prune_ratio, feature_weight
        self.reg_weight, self.reg_style = reg_weight, reg_style
        self.user_embedding = torch.nn.Embedding(data.n_users, embedding_dim)
        self.item_embedding = torch.nn.Embedding(data.n_items, embedding_dim)
        torch.nn.init.xavier_uniform_(self.user_embedding.weight)
        torch.nn.init.xavier_uniform_(self.item_embedding.weight)
        self.features = torch.nn.ParameterDict({name: torch.nn.Parameter(data.features[name].clone())
                                                for name in names})
        self.projections = torch.nn.ModuleDict({name: torch.nn.Linear(data.features[name].shape[1], embedding_dim)
                                                for name in names})
        weights = {text: 1.0 - image_weight, image: image_weight} if len(names) == 2 else {names[0]: 1.0}
        self.register_buffer("item_graph", freedom_item_graph({n: data.features[n] for n in names}, weights, knn_k),
                             persistent=False)
        user, item = unique_pairs(data.train.user, data.train.item, data.n_items)
        self.register_buffer("edge_user", user, persistent=False)
        self.register_buffer("edge_item", item, persistent=False)
        self.register_buffer("adjacency", normalized_adjacency(user, item, self.n_users, self.n_items),
                             persistent=False)
        self.train_adjacency: Tensor | None = None

    def on_epoch_start(self, epoch: int) -> None:
        """Redraw the degree-sensitive pruning of the user–item graph."""
        if self.prune_ratio > 0:
            self.train_adjacency = pruned_adjacency(self.edge_user, self.edge_item, self.n_users, self.n_items,
                                                    self.prune_ratio)

    def compute_embeddings(self) -> tuple[Tensor, Tensor]:
        h = self.item_embedding.weight
        for _ in range(self.n_item_layers):
            h = torch.sparse.mm(self.item_graph, h)                          # item–item convolution
        use_pruned = self.training and self.train_adjacency is not None
        adjacency = self.train_adjacency if use_pruned else self.adjacency
        layer = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        total = layer
        for _ in range(self.n_ui_layers):
            layer = symmetric_spmm(adjacency, layer)                         # LightGCN on Â_ρ
            total = total + layer
        final = total / (self.n_ui_layers + 1)
        return final[:self.n_users], final[self.n_users:] + h

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        users, items = self.compute_embeddings()
        user, pos, neg = batch["user"], batch["pos"], batch["neg"]
        # index_select, not advanced indexing: its backward is deterministic on multi-threaded CPUs
        u = users.index_select(0, user)
        bpr = bpr_loss((u * items.index_select(0, pos)).sum(-1), (u * items.index_select(0, neg)).sum(-1))
        modal = sum(bpr_loss((u * self.projections[m](self.features[m][pos])).sum(-1),
                             (u * self.projections[m](self.features[m][neg])).sum(-1)) for m in self.features)
        reg = self.reg_weight * l2_regularization(self.user_embedding(user), self.item_embedding(pos),
                                                  self.item_embedding(neg), style=self.reg_style)
        return {"loss": bpr + self.feature_weight * modal + reg, "bpr": bpr, "modal_bpr": modal, "reg": reg}

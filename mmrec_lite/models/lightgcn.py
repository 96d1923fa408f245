"""LightGCN (He et al., SIGIR 2020): linear propagation of ID embeddings on the user–item graph.

    E^(k+1) = Â E^(k),   Â = D^{-1/2} A D^{-1/2}                    (Eq. 7, matrix form of Eq. 3)
    E = (E^(0) + E^(1) + ... + E^(K)) / (K + 1)                     (Eq. 8, α_k = 1 / (K + 1))
    ŷ_ui = e_u · e_i                                                (Eq. 5)
    L = mean −ln σ(ŷ_ui − ŷ_uj) + λ ||E^(0)_batch||² / (2B)         (Eq. 15, BPR on the batch;
                                                                 reg_style="mmrec": λ ||E^(0)_batch||_F / B)

``E^(0)`` (Xavier-uniform initialised, as in RecBole) is the only trainable tensor; the
regulariser acts on the layer-0 embeddings of the batch's users, positives and negatives. The
graph is propagated once per training batch with one sparse CSR product per layer (whose
backward reuses the symmetric Â), and once per evaluation (cached in eval mode). Optional edge
dropout redraws a uniform subgraph each epoch.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..data.recdata import RecData
from ..graphs import normalized_adjacency, symmetric_spmm, uniform_edge_pruning, unique_pairs
from ..losses import bpr_loss, l2_regularization
from .base import EmbeddingRecommender

__all__ = ["LightGCN"]


class LightGCN(EmbeddingRecommender):
    """LightGCN with ``n_layers`` propagation layers of ``embedding_dim``-dimensional embeddings."""

    batch_kind = "pairwise"

    def __init__(self, data: RecData, embedding_dim: int = 64, n_layers: int = 3, reg_weight: float = 1e-4,
                 edge_dropout: float = 0.0, reg_style: str = "squared"):
        super().__init__(data)
        if n_layers < 0 or not 0.0 <= edge_dropout < 1.0:
            raise ValueError(f"need n_layers >= 0 and 0 <= edge_dropout < 1, got {n_layers}, {edge_dropout}")
        self.n_layers, self.reg_weight, self.edge_dropout = n_layers, reg_weight, edge_dropout
        self.reg_style = reg_style
        self.user_embedding = torch.nn.Embedding(data.n_users, embedding_dim)
        self.item_embedding = torch.nn.Embedding(data.n_items, embedding_dim)
        torch.nn.init.xavier_uniform_(self.user_embedding.weight)
        torch.nn.init.xavier_uniform_(self.item_embedding.weight)
        user, item = unique_pairs(data.train.user, data.train.item, data.n_items)
        self.register_buffer("edge_user", user, persistent=False)
        self.register_buffer("edge_item", item, persistent=False)
        self.register_buffer("adjacency", self._adjacency(user, item), persistent=False)
        self.train_adjacency: Tensor | None = None  # the epoch's subgraph under edge dropout

    def _adjacency(self, user: Tensor, item: Tensor) -> Tensor:
        return normalized_adjacency(user, item, self.n_users, self.n_items)

    def on_epoch_start(self, epoch: int) -> None:
        """Redraw the edge-dropout subgraph (keeps ``1 - edge_dropout`` of the edges)."""
        if self.edge_dropout > 0:
            keep = uniform_edge_pruning(len(self.edge_user), self.edge_dropout, device=self.edge_user.device)
            self.train_adjacency = self._adjacency(self.edge_user[keep], self.edge_item[keep])

    def propagate(self, adjacency: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Final user and item embeddings: the mean of layers ``0..K`` of ``E^(k+1) = Â E^(k)``.

        ``adjacency`` (symmetric; default: the full normalised training graph) is applied with
        :func:`~mmrec_lite.graphs.symmetric_spmm`, one sparse product per layer.
        """
        adjacency = self.adjacency if adjacency is None else adjacency
        layer = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        total = layer
        for _ in range(self.n_layers):
            layer = symmetric_spmm(adjacency, layer)
            total = total + layer
        final = total / (self.n_layers + 1)
        return final[:self.n_users], final[self.n_users:]

    def compute_embeddings(self) -> tuple[Tensor, Tensor]:
        if self.training and self.train_adjacency is not None:
            return self.propagate(self.train_adjacency)
        return self.propagate()

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        users, items = self.compute_embeddings()
        user, pos, neg = batch["user"], batch["pos"], batch["neg"]
        # index_select, not users[user]: its backward is deterministic on multi-threaded CPUs
        e_user, e_pos, e_neg = users.index_select(0, user), items.index_select(0, pos), items.index_select(0, neg)
        bpr = bpr_loss((e_user * e_pos).sum(-1), (e_user * e_neg).sum(-1))
        reg = self.reg_weight * l2_regularization(self.user_embedding(user), self.item_embedding(pos),
                                                  self.item_embedding(neg), style=self.reg_style)
        return {"loss": bpr + reg, "bpr": bpr, "reg": reg}

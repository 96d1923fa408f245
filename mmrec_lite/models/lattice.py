"""LATTICE (Zhang et al., ACM MM 2021, "Mining Latent Structures for Multimedia Recommendation"):
an item–item graph learned from the modality features, mixed with the initial kNN graph.

    S^m_ij = cos(x^m_i, x^m_j),  Ŝ^m = kNN_k(S^m) (values kept),  S̃^m = D^{-1/2} Ŝ^m D^{-1/2}   (initial, frozen)
    x̃^m = W_m x^m + b_m,         Â^m = D^{-1/2} kNN_k(cos(x̃^m)) D^{-1/2}                 (learned structure)
    A^m = (1 − λ) Â^m + λ S̃^m,   A = Σ_m softmax(α)_m A^m                               (skip connection, fusion)
    h = A^L E_item                                                                        (item–item convolution)
    [e_u; ẽ_i] = LightGCN(E_user, E_item),  e_i = ẽ_i + h_i / ||h_i||,  ŷ_ui = e_u · e_i
    L = BPR(e) + λ_reg · reg(e_u, e_i, e_j)

``D`` holds the row sums of the kNN graph (an item's own row is among its ``k`` neighbours, as in
MMRec's ``build_knn_neighbourhood``). As in the MMRec code, the learned graph is rebuilt with
gradients on the first batch of every epoch and reused, detached, for the rest of the epoch;
evaluation rebuilds it. Choices of this implementation: the modality features stay fixed (MMRec
fine-tunes them), the mixing follows the paper (per modality, then the softmax fusion; MMRec
fuses the kNN graphs before normalising), and the user–item graph is LightGCN's symmetric
``Â`` (MMRec's LATTICE uses ``D^{-1}(A + I)``). Graphs are stored as ``[N, k]`` neighbour lists, so
memory is ``O(N k)``, never ``N × N``. Defaults are MMRec's: ``k = 10``, ``λ = 0.9``, ``L = 1``, two
LightGCN layers; the regulariser acts on the final embeddings of the batch.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.recdata import RecData
from ..graphs import cosine_topk, normalized_adjacency, symmetric_spmm, unique_pairs
from ..losses import bpr_loss, l2_regularization
from .base import EmbeddingRecommender

__all__ = ["LATTICE", "knn_neighbourhood", "apply_neighbourhood"]


def knn_neighbourhood(x: Tensor, k: int, chunk_size: int = 1024) -> tuple[Tensor, Tensor]:
    """``D^{-1/2} kNN_k(cos(x)) D^{-1/2}`` as neighbour lists ``(indices [N, k], weights [N, k])``.

    The kNN keeps the cosine values (self included); ``D`` are the row sums of the kept values.
    The weights are differentiable in ``x``: the top-k positions are chosen without gradient, the
    similarities at those positions are recomputed from ``x``.
    """
    with torch.no_grad():
        indices, _ = cosine_topk(x.detach(), x.detach(), k, chunk_size=chunk_size)
    unit = F.normalize(x, dim=1)
    similarity = (unit.unsqueeze(1) * unit[indices]).sum(-1)                   # S_ij at the kept j
    inv_sqrt = similarity.sum(1).clamp(min=1e-12).rsqrt()
    return indices, similarity * inv_sqrt[:, None] * inv_sqrt[indices]


def apply_neighbourhood(indices: Tensor, weights: Tensor, x: Tensor) -> Tensor:
    """``(A X)_i = Σ_j A_ij X_j`` for a graph given as neighbour lists, in one gather."""
    return (weights.unsqueeze(-1) * x[indices]).sum(1)


class LATTICE(EmbeddingRecommender):
    """LATTICE on the item features ``data.features[name]`` for ``name`` in ``features``."""

    batch_kind = "pairwise"

    def __init__(self, data: RecData, embedding_dim: int = 64, features: Sequence[str] = ("image", "text"),
                 feat_embed_dim: int = 64, knn_k: int = 10, lambda_coeff: float = 0.9, n_item_layers: int = 1,
                 n_ui_layers: int = 2, reg_weight: float = 1e-5, reg_style: str = "squared"):
        super().__init__(data)
        if not features:
            raise ValueError("LATTICE needs at least one item feature matrix name")
        if not 0.0 <= lambda_coeff <= 1.0 or n_item_layers < 0 or n_ui_layers < 0:
            raise ValueError("need 0 <= lambda_coeff <= 1 and layer counts >= 0")
        data.require(*(f"features:{name}" for name in features))
        self.names = list(features)
        self.knn_k, self.lambda_coeff = knn_k, lambda_coeff
        self.n_item_layers, self.n_ui_layers = n_item_layers, n_ui_layers
        self.reg_weight, self.reg_style = reg_weight, reg_style
        self.user_embedding = torch.nn.Embedding(data.n_users, embedding_dim)
        self.item_embedding = torch.nn.Embedding(data.n_items, embedding_dim)
        torch.nn.init.xavier_uniform_(self.user_embedding.weight)
        torch.nn.init.xavier_uniform_(self.item_embedding.weight)
        self.transforms = torch.nn.ModuleDict()                                       # W_m, b_m
        for m, name in enumerate(self.names):
            x = data.features[name].float()
            self.register_buffer(f"feature_{m}", x, persistent=False)
            indices, weights = knn_neighbourhood(x, knn_k)                             # S̃^m
            self.register_buffer(f"initial_{m}_indices", indices, persistent=False)
            self.register_buffer(f"initial_{m}_weights", weights, persistent=False)
            self.transforms[str(m)] = torch.nn.Linear(x.shape[1], feat_embed_dim)
        self.modal_weight = torch.nn.Parameter(torch.full((len(self.names),), 1.0 / len(self.names)))   # α
        user, item = unique_pairs(data.train.user, data.train.item, data.n_items)
        self.register_buffer("adjacency", normalized_adjacency(user, item, self.n_users, self.n_items),
                             persistent=False)
        self._learned: list[tuple[Tensor, Tensor]] | None = None      # this epoch's Â^m, detached

    def on_epoch_start(self, epoch: int) -> None:
        """Rebuild the learned graph (with gradients) on the epoch's first batch."""
        self._learned = None

    def learned_graphs(self) -> list[tuple[Tensor, Tensor]]:
        """``Â^m`` for every modality: kNN graphs of the transformed features ``W_m x^m + b_m``."""
        return [knn_neighbourhood(self.transforms[str(m)](getattr(self, f"feature_{m}")), self.knn_k)
                for m in range(len(self.names))]

    def item_convolution(self, learned: list[tuple[Tensor, Tensor]]) -> Tensor:
        """``h = A^L E_item`` with ``A = Σ_m softmax(α)_m ((1 − λ) Â^m + λ S̃^m)``, applied by linearity."""
        alpha = torch.softmax(self.modal_weight, dim=0)
        h = self.item_embedding.weight
        for _ in range(self.n_item_layers):
            h = sum(alpha[m] * ((1 - self.lambda_coeff) * apply_neighbourhood(*learned[m], h)
                                + self.lambda_coeff * apply_neighbourhood(getattr(self, f"initial_{m}_indices"),
                                                                          getattr(self, f"initial_{m}_weights"), h))
                    for m in range(len(self.names)))
        return h

    def propagate(self, learned: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        layer = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        total = layer
        for _ in range(self.n_ui_layers):
            layer = symmetric_spmm(self.adjacency, layer)                       # LightGCN
            total = total + layer
        final = total / (self.n_ui_layers + 1)
        h = self.item_convolution(learned)
        return final[:self.n_users], final[self.n_users:] + F.normalize(h, dim=1)

    def compute_embeddings(self) -> tuple[Tensor, Tensor]:
        return self.propagate(self.learned_graphs())

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        if self._learned is None:
            learned = self.learned_graphs()                                     # with gradients
            self._learned = [(i, w.detach()) for i, w in learned]
        else:
            learned = self._learned
        users, items = self.propagate(learned)
        user, pos, neg = batch["user"], batch["pos"], batch["neg"]
        e_user, e_pos, e_neg = users.index_select(0, user), items.index_select(0, pos), items.index_select(0, neg)
        bpr = bpr_loss((e_user * e_pos).sum(-1), (e_user * e_neg).sum(-1))
        reg = self.reg_weight * l2_regularization(e_user, e_pos, e_neg, style=self.reg_style)
        return {"loss": bpr + reg, "bpr": bpr, "reg": reg}

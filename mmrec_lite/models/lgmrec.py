"""LGMRec (Guo et al., AAAI 2024, "LGMRec: Local and Global Graph Learning for Multimodal
Recommendation"): local graph embeddings plus a global hypergraph embedding.

    E^c = mean_{l=0..L} Â^l [E_user; E_item]                                  (collaborative, LightGCN)
    F^m_I = X^m W_m,  F^m_U = D_U^{-1} R F^m_I,  E^m = Â^{L_m} [F^m_U; F^m_I]      (modality graph embedding)
    E^local = E^c + Σ_m E^m / ||E^m||
    H^m_I = GumbelSoftmax_τ(X^m V_m),  H^m_U = GumbelSoftmax_τ(R X^m V_m)       (item / user → A hyperedges)
    Λ^m = (H^m_I)ᵀ E^c_I,  G^m_I = H^m_I Λ^m,  G^m_U = H^m_U Λ^m                 (one hypergraph layer; repeated)
    E = E^local + α · G / ||G||,  G = Σ_m [G^m_U; G^m_I];  ŷ_ui = e_u · e_i
    L = BPR(e) + λ_cl [InfoNCE_τ(G^v_U, G^t_U) + InfoNCE_τ(G^v_I, G^t_I)] + λ_reg reg(e_u, e_i, e_j)

``R`` is the binary training interaction matrix, ``Â`` LightGCN's symmetric normalised graph.
Dropout with keep rate ``keep_rate`` acts on the hyperedge memberships ``H`` during training. As in
MMRec's ``lgmrec.py``: the hypergraph contrast compares the two modalities' hyperedge embeddings of
the batch's users (positives) against all users (and the same for the batch's positive items), with
the sum over the batch, not the mean; the regulariser is ``reg_style="mmrec"``'s Frobenius norm of
the final batch embeddings by default. A choice of this implementation: in eval mode the
memberships are the plain softmax ``softmax(X V / τ)`` (MMRec draws Gumbel noise at test time too,
so its scores are random). Defaults are MMRec's Baby configuration: two LightGCN and two modality
layers, one hypergraph layer, ``A = 4`` hyperedges, keep rate 0.5, ``α = 0.3``, ``λ_cl = 1e-4``,
``λ_reg = 1e-6``, ``τ = 0.2``.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.recdata import RecData
from ..graphs import normalized_adjacency, sparse_matrix, symmetric_spmm, transposed_spmm, unique_pairs
from ..losses import bpr_loss, l2_regularization
from .base import EmbeddingRecommender

__all__ = ["LGMRec", "hypergraph_layer", "hyperedge_contrast"]


def hypergraph_layer(item_membership: Tensor, user_membership: Tensor, item_embeddings: Tensor,
                     n_layers: int = 1) -> tuple[Tensor, Tensor]:
    """``n_layers`` hypergraph passes: ``Λ = H_Iᵀ E_I`` (hyperedge embeddings), then ``E_I ← H_I Λ``
    and ``E_U = H_U Λ``. ``H_I [N, A]``, ``H_U [M, A]``; returns ``(E_U [M, d], E_I [N, d])``."""
    items, users = item_embeddings, None
    for _ in range(n_layers):
        hyperedges = item_membership.T @ items
        items, users = item_membership @ hyperedges, user_membership @ hyperedges
    return users, items


def hyperedge_contrast(anchor: Tensor, positive: Tensor, candidates: Tensor, tau: float) -> Tensor:
    """``Σ_b −log( e^{s(a_b, p_b)/τ} / Σ_c e^{s(a_b, c)/τ} )`` with cosine ``s``; ``candidates``
    holds every entity (the positives among them), as in MMRec's ``ssl_triple_loss``."""
    a, p, c = F.normalize(anchor, dim=1), F.normalize(positive, dim=1), F.normalize(candidates, dim=1)
    return (torch.logsumexp(a @ c.T / tau, dim=1) - (a * p).sum(1) / tau).sum()


class LGMRec(EmbeddingRecommender):
    """LGMRec on the item features ``data.features[name]`` for ``name`` in ``features`` (one or two)."""

    batch_kind = "pairwise"

    def __init__(self, data: RecData, embedding_dim: int = 64, features: Sequence[str] = ("image", "text"),
                 n_ui_layers: int = 2, n_mm_layers: int = 2, n_hyper_layers: int = 1, n_hyperedges: int = 4,
                 keep_rate: float = 0.5, alpha: float = 0.3, cl_weight: float = 1e-4, reg_weight: float = 1e-6,
                 tau: float = 0.2, reg_style: str = "mmrec"):
        super().__init__(data)
        if not features:
            raise ValueError("LGMRec needs at least one item feature matrix name")
        if not 0.0 < keep_rate <= 1.0 or min(n_ui_layers, n_mm_layers, n_hyper_layers) < 0:
            raise ValueError("need 0 < keep_rate <= 1 and layer counts >= 0")
        data.require(*(f"features:{name}" for name in features))
        self.names = list(features)
        self.n_ui_layers, self.n_mm_layers, self.n_hyper_layers = n_ui_layers, n_mm_layers, n_hyper_layers
        self.alpha, self.cl_weight, self.reg_weight, self.tau = alpha, cl_weight, reg_weight, tau
        self.reg_style = reg_style
        self.dropout = torch.nn.Dropout(1.0 - keep_rate)
        self.user_embedding = torch.nn.Embedding(data.n_users, embedding_dim)
        self.item_embedding = torch.nn.Embedding(data.n_items, embedding_dim)
        torch.nn.init.xavier_uniform_(self.user_embedding.weight)
        torch.nn.init.xavier_uniform_(self.item_embedding.weight)
        self.projections = torch.nn.ParameterList()                               # W_m
        self.hyperedges = torch.nn.ParameterList()                                # V_m
        for m, name in enumerate(self.names):
            x = data.features[name].float()
            self.register_buffer(f"feature_{m}", x, persistent=False)
            self.projections.append(torch.nn.Parameter(torch.nn.init.xavier_uniform_(torch.empty(x.shape[1], embedding_dim))))
            self.hyperedges.append(torch.nn.Parameter(torch.nn.init.xavier_uniform_(torch.empty(x.shape[1], n_hyperedges))))
        user, item = unique_pairs(data.train.user, data.train.item, data.n_items)
        ones = torch.ones(len(user))
        self.register_buffer("interactions", sparse_matrix(user, item, ones, (self.n_users, self.n_items)),
                             persistent=False)                                    # R
        self.register_buffer("interactions_t", sparse_matrix(item, user, ones, (self.n_items, self.n_users)),
                             persistent=False)
        degree = torch.bincount(user, minlength=self.n_users).float().clamp(min=1)
        self.register_buffer("inverse_degree", 1.0 / degree[:, None], persistent=False)
        self.register_buffer("adjacency", normalized_adjacency(user, item, self.n_users, self.n_items),
                             persistent=False)

    def interaction_product(self, x: Tensor) -> Tensor:
        """``R X`` for item rows ``X [N, k]``: each user's sum over their training items."""
        return transposed_spmm(self.interactions, self.interactions_t, x)

    def collaborative(self) -> Tensor:
        """``E^c``: LightGCN's layer mean on the ID embeddings, ``[M+N, d]``."""
        layer = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        total = layer
        for _ in range(self.n_ui_layers):
            layer = symmetric_spmm(self.adjacency, layer)
            total = total + layer
        return total / (self.n_ui_layers + 1)

    def modality(self, m: int) -> Tensor:
        """``E^m``: projected item features, users as the mean of their items, ``L_m`` layers on ``Â``."""
        item_feats = getattr(self, f"feature_{m}") @ self.projections[m]
        layer = torch.cat([self.interaction_product(item_feats) * self.inverse_degree, item_feats])
        for _ in range(self.n_mm_layers):
            layer = symmetric_spmm(self.adjacency, layer)
        return layer

    def memberships(self, m: int) -> tuple[Tensor, Tensor]:
        """``(H^m_I, H^m_U)``: Gumbel-softmax hyperedge memberships (plain softmax in eval mode)."""
        item_logits = getattr(self, f"feature_{m}") @ self.hyperedges[m]
        user_logits = self.interaction_product(item_logits)
        if self.training:
            return (self.dropout(F.gumbel_softmax(item_logits, self.tau, dim=1)),
                    self.dropout(F.gumbel_softmax(user_logits, self.tau, dim=1)))
        return torch.softmax(item_logits / self.tau, dim=1), torch.softmax(user_logits / self.tau, dim=1)

    def forward_all(self) -> tuple[Tensor, Tensor, list[tuple[Tensor, Tensor]]]:
        """Final user and item embeddings and each modality's hypergraph embeddings ``(G_U, G_I)``."""
        collaborative = self.collaborative()
        local = collaborative + sum(F.normalize(self.modality(m), dim=1) for m in range(len(self.names)))
        hyper = [hypergraph_layer(*self.memberships(m), collaborative[self.n_users:], self.n_hyper_layers)
                 for m in range(len(self.names))]
        global_ = sum(torch.cat([users, items]) for users, items in hyper)
        final = local + self.alpha * F.normalize(global_, dim=1)
        return final[:self.n_users], final[self.n_users:], hyper

    def compute_embeddings(self) -> tuple[Tensor, Tensor]:
        users, items, _ = self.forward_all()
        return users, items

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        users, items, hyper = self.forward_all()
        user, pos, neg = batch["user"], batch["pos"], batch["neg"]
        e_user, e_pos, e_neg = users.index_select(0, user), items.index_select(0, pos), items.index_select(0, neg)
        bpr = bpr_loss((e_user * e_pos).sum(-1), (e_user * e_neg).sum(-1))
        reg = self.reg_weight * l2_regularization(e_user, e_pos, e_neg, style=self.reg_style)
        terms = {"bpr": bpr, "reg": reg}
        total = bpr + reg
        if len(hyper) == 2:
            (users_a, items_a), (users_b, items_b) = hyper
            terms["hyper_cl"] = (hyperedge_contrast(users_a[user], users_b[user], users_b, self.tau)
                                 + hyperedge_contrast(items_a[pos], items_b[pos], items_b, self.tau))
            total = total + self.cl_weight * terms["hyper_cl"]
        terms["loss"] = total
        return terms

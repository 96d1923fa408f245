"""KGAT (Wang et al., KDD 2019): attentive propagation on the collaborative knowledge graph.

The collaborative KG joins users, items and KG entities (``(u, interact, i)`` plus every KG fact,
each with its inverse). With ``e_h`` a node's embedding, ``e_r`` / ``W_r`` a relation's:

    g(h, r, t) = ||W_r e_h + e_r − W_r e_t||²                                   (Eq. 1, TransR)
    L_KG = mean −ln σ(g(h, r, t') − g(h, r, t))                                 (Eq. 2, t' a corrupted tail)
    π(h, r, t) = (W_r e_t)ᵀ tanh(W_r e_h + e_r),  softmax over the triples of h  (Eq. 4–5)
    e_N(h) = Σ π(h, r, t) e_t                                                   (Eq. 3)
    e_h^(l) = LeakyReLU(W_1 (e_h + e_N(h))) + LeakyReLU(W_2 (e_h ⊙ e_N(h)))     (Eq. 8, Bi-Interaction)
    e* = e^(0) ‖ e^(1) ‖ ... ‖ e^(L);   ŷ_ui = e_u*ᵀ e_i*                        (Eq. 11–12)
    L_CF = mean −ln σ(ŷ_ui − ŷ_uj) + λ ||e*_batch||² / (2B)                     (Eq. 13)

The propagation layers, relation embeddings and projections are
:class:`~mmrec_lite.graphs.KnowledgeAwarePropagation` (shared with Multi-KG4Rec). As in KGAT's
code, training alternates (as Multi-KG4Rec's model here does): :meth:`on_epoch_start` runs the KG
phase, one shuffled pass of TransR over the collaborative KG's triples in batches of
``kg_batch_size`` with its own Adam (``kg_learning_rate``; ``kg_learning_rate=0`` skips it), then
refreshes the attention without gradients; the trainer's batches then minimise ``L_CF`` with the
attention held fixed.
With ``dims=()`` no layer propagates and KGAT is matrix factorisation on the node embeddings.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from ..data.recdata import RecData
from ..graphs import KnowledgeAwarePropagation, collaborative_kg
from ..graphs.kg_propagation import AttentionAdjacency, attention_adjacency
from ..losses import bpr_loss, l2_regularization, transr_loss
from .base import EmbeddingRecommender

__all__ = ["KGAT"]


class KGAT(EmbeddingRecommender):
    """KGAT on ``data.kg`` and the training interactions; layer sizes ``dims`` (paper: 64, 32, 16)."""

    batch_kind = "pairwise"

    def __init__(self, data: RecData, embedding_dim: int = 64, dims: Sequence[int] = (64, 32, 16),
                 relation_dim: int = 64, message_dropout: float = 0.1, reg_weight: float = 1e-5,
                 kg_batch_size: int = 8192, kg_learning_rate: float = 1e-3):
        super().__init__(data)
        graph = collaborative_kg(data, "train")
        self.n_entities, self.reg_weight = graph.n_entities, reg_weight
        self.kg_batch_size, self.kg_learning_rate = kg_batch_size, kg_learning_rate
        self._kg_optimizer: torch.optim.Optimizer | None = None
        self.last_kg_loss = float("nan")
        self.node_embedding = torch.nn.Embedding(graph.n_nodes, embedding_dim)
        torch.nn.init.xavier_uniform_(self.node_embedding.weight)
        self.propagation = KnowledgeAwarePropagation(graph.n_relations, embedding_dim, dims, relation_dim,
                                                     message_dropout)
        self.register_buffer("edge_index", graph.edge_index, persistent=False)
        self.register_buffer("edge_type", graph.edge_type, persistent=False)
        self.register_buffer("edge_weight", self._attention())  # persistent: restored with the best weights
        self._adjacency: tuple | None = None

    def _attention(self) -> Tensor:
        with torch.no_grad():
            return self.propagation.attention(self.node_embedding.weight, self.edge_index, self.edge_type)

    def on_epoch_start(self, epoch: int) -> None:
        """KGAT's alternation: the KG phase (Eq. 1–2), then the refresh of ``π`` (Eq. 4–5)."""
        if self.kg_learning_rate > 0:
            self.last_kg_loss = self.kg_epoch()
        self.edge_weight = self._attention()

    def adjacency(self) -> AttentionAdjacency:
        """The sparse attention matrix of :attr:`edge_weight`, rebuilt only when ``π̃`` changed."""
        key = (self.edge_weight.data_ptr(), self.edge_weight._version, self.edge_weight.device)
        if self._adjacency is None or self._adjacency[0] != key:
            self._adjacency = (key, attention_adjacency(self.edge_index, self.edge_weight, len(self.node_embedding.weight)))
        return self._adjacency[1]

    def compute_embeddings(self) -> tuple[Tensor, Tensor]:
        final = self.propagation.propagate(self.node_embedding.weight, self.adjacency())
        return final[self.n_entities:], final[:self.n_items]

    def kg_loss(self, pick: Tensor) -> Tensor:
        """TransR loss (Eq. 1–2) of the collaborative-KG triples ``pick``, tails corrupted uniformly."""
        head, tail = self.edge_index[:, pick]
        corrupted = torch.randint(self.node_embedding.num_embeddings, (len(pick),), device=pick.device)
        e_h, relation = self.node_embedding(head).repeat(2, 1), self.edge_type[pick].repeat(2)
        scores = self.propagation.transr_score(e_h, relation, self.node_embedding(torch.cat([tail, corrupted])))
        return transr_loss(*scores.chunk(2))  # true and corrupted triples in one pass sorted by relation

    def kg_epoch(self) -> float:
        """One shuffled pass of TransR over every triple with the KG phase's own Adam; the mean ``L_KG``."""
        if self._kg_optimizer is None:
            self._kg_optimizer = torch.optim.Adam(self.parameters(), lr=self.kg_learning_rate)
        order = torch.randperm(self.edge_index.shape[1], device=self.edge_index.device)
        total = 0.0
        for start in range(0, len(order), self.kg_batch_size):
            pick = order[start:start + self.kg_batch_size]
            loss = self.kg_loss(pick)
            self._kg_optimizer.zero_grad()
            loss.backward()
            self._kg_optimizer.step()
            total += float(loss.detach()) * len(pick)
        return total / len(order)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        users, items = self.compute_embeddings()
        e_user, e_pos, e_neg = (users.index_select(0, batch["user"]), items.index_select(0, batch["pos"]),
                                items.index_select(0, batch["neg"]))
        bpr = bpr_loss((e_user * e_pos).sum(-1), (e_user * e_neg).sum(-1))
        reg = self.reg_weight * l2_regularization(e_user, e_pos, e_neg)
        kg = torch.tensor(self.last_kg_loss, device=bpr.device)  # this epoch's KG phase (a record, not optimised here)
        return {"loss": bpr + reg, "bpr": bpr, "reg": reg, "kg": kg}

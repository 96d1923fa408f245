"""MKGAT (Sun et al., CIKM 2020): multi-modal knowledge graph attention network.

Modal information enters as new entities: item ``i`` gains a node ``text:i`` (relation
``has_text``) and a node ``image:i`` (``has_image``) whose embedding is a dense layer of the
item's feature, ``e_m = W_m x_i + b_m`` (the MKG entity encoder, Sec. 4.1). Structural entities and
users keep free embeddings. On the collaborative multi-modal KG (every relation with its inverse):

    e(h, r, t) = W_1 (e_h ‖ e_r ‖ e_t)                                        (Sec. 4.2, triple message)
    π(h, r, t) = LeakyReLU(w_2ᵀ e(h, r, t)),  softmax over the triples of h    (Sec. 4.2)
    e_agg(h) = Σ π(h, r, t) e(h, r, t)
    add:    e_h' = LeakyReLU(W_3 e_h + e_agg(h));  concat: e_h' = LeakyReLU(W_4 (e_h ‖ e_agg(h)))
    e* = e^(0) ‖ e^(1) ‖ ... ‖ e^(L);   ŷ_ui = e_u*ᵀ e_i*                     (Sec. 4.4)
    L = BPR(ŷ) + kg_weight · mean −ln σ(d(h, r, t') − d(h, r, t)) + λ ||e*_batch||² / (2B)

with the translational distance ``d(h, r, t) = ||e_h + e_r − e_t||²`` (TransE) trained on the MKG's
triples (structure and modal facts, no users). The paper states a margin; the log-sigmoid pairwise
form here matches KGAT's and is the course's reading, as is summing the two losses per step
instead of alternating phases. ``W_1`` is applied as three blocks (``W_1 (a ‖ b ‖ c) = A a + B b +
C c``) on the nodes before gathering, so memory grows with the number of edges times ``d`` only.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.utils import softmax

from ..data.recdata import KnowledgeGraph, RecData
from ..graphs import collaborative_kg
from ..losses import bpr_loss, l2_regularization, transr_loss
from .base import EmbeddingRecommender

__all__ = ["MKGAT", "multimodal_kg"]


def multimodal_kg(data: RecData, modalities: Sequence[str]) -> KnowledgeGraph:
    """``data.kg`` plus one entity per (item, modality) and the triples ``(i, has_<modality>, <modality>:i)``."""
    data.require("kg", *(f"features:{name}" for name in modalities))
    kg, items = data.kg, torch.arange(data.n_items)
    triples, names, relations = [kg.triples.long()], list(kg.entity_names), list(kg.relation_names)
    for name in modalities:
        base, relation = len(names), len(relations)
        triples.append(torch.stack([items, torch.full_like(items, relation), base + items], dim=1))
        names += [f"{name}:{i}" for i in range(data.n_items)]
        relations.append(f"has_{name}")
    return KnowledgeGraph(torch.cat(triples), names, relations)


class _AttentionLayer(torch.nn.Module):
    """One MKG attention layer (triple messages, softmax attention, add or concat aggregation)."""

    def __init__(self, in_dim: int, out_dim: int, relation_dim: int, aggregator: str):
        super().__init__()
        self.head, self.tail = torch.nn.Linear(in_dim, out_dim, bias=False), torch.nn.Linear(in_dim, out_dim, bias=False)
        self.relation = torch.nn.Linear(relation_dim, out_dim)
        self.score = torch.nn.Linear(out_dim, 1, bias=False)
        self.aggregator = aggregator
        self.combine = torch.nn.Linear(in_dim + (out_dim if aggregator == "concat" else 0), out_dim)
        self.out_dim = out_dim

    def forward(self, x: Tensor, relation: Tensor, edge_index: Tensor, edge_type: Tensor) -> Tensor:
        head, tail = edge_index
        head_part, relation_part, tail_part = self.head(x), self.relation(relation), self.tail(x)
        # w_2ᵀ e(h, r, t) splits into one scalar per head, relation and tail: no [E, d] message for the logits
        logits = (self.score(head_part)[head] + self.score(relation_part)[edge_type]
                  + self.score(tail_part)[tail]).squeeze(1)
        weight = softmax(F.leaky_relu(logits, 0.2), head, num_nodes=len(x))
        # Σ π e(h, r, t) = (Σ π) A e_h + Σ_r (Σ_{type r} π) B e_r + Σ π C e_t, with Σ π = 1 for heads with edges
        has_edges = torch.zeros(len(x), 1, dtype=x.dtype, device=x.device).index_fill_(0, head, 1.0)
        relation_mass = x.new_zeros(len(x) * len(relation)).index_add_(0, head * len(relation) + edge_type, weight)
        aggregated = (has_edges * head_part + relation_mass.view(len(x), len(relation)) @ relation_part
                      + x.new_zeros(len(x), self.out_dim).index_add_(0, head, tail_part.index_select(0, tail)
                                                                      * weight.unsqueeze(1)))
        if self.aggregator == "concat":
            return F.leaky_relu(self.combine(torch.cat([x, aggregated], 1)), 0.2)
        return F.leaky_relu(self.combine(x) + aggregated, 0.2)


class MKGAT(EmbeddingRecommender):
    """MKGAT with modal entity nodes for ``modalities`` (``data.features`` names)."""

    batch_kind = "pairwise"

    def __init__(self, data: RecData, embedding_dim: int = 64, dims: Sequence[int] = (64, 32, 16),
                 modalities: Sequence[str] = ("text", "image"), aggregator: str = "concat",
                 message_dropout: float = 0.1, reg_weight: float = 1e-5, kg_weight: float = 1.0):
        super().__init__(data)
        if aggregator not in ("add", "concat"):
            raise ValueError(f"aggregator must be 'add' or 'concat', got {aggregator!r}")
        self.modalities = tuple(modalities)
        kg = multimodal_kg(data, self.modalities)
        graph = collaborative_kg(replace(data, kg=kg), "train")
        self.n_structural = data.kg.n_entities
        self.n_entities, self.reg_weight, self.kg_weight = kg.n_entities, reg_weight, kg_weight
        self.entity_embedding = torch.nn.Embedding(self.n_structural, embedding_dim)
        self.user_embedding = torch.nn.Embedding(data.n_users, embedding_dim)
        self.relation_embedding = torch.nn.Embedding(graph.n_relations, embedding_dim)
        for weight in (self.entity_embedding.weight, self.user_embedding.weight, self.relation_embedding.weight):
            torch.nn.init.xavier_uniform_(weight)
        self.encoders = torch.nn.ModuleDict({name: torch.nn.Linear(data.features[name].shape[1], embedding_dim)
                                             for name in self.modalities})
        for name in self.modalities:
            self.register_buffer(f"feature_{name}", data.features[name].float(), persistent=False)
        sizes = (embedding_dim, *dims)
        self.layers = torch.nn.ModuleList(_AttentionLayer(a, b, embedding_dim, aggregator)
                                          for a, b in zip(sizes, sizes[1:]))
        self.dropout = torch.nn.Dropout(message_dropout)
        self.register_buffer("edge_index", graph.edge_index, persistent=False)
        self.register_buffer("edge_type", graph.edge_type, persistent=False)
        self.register_buffer("kg_triples", kg.triples.long(), persistent=False)

    def node_embeddings(self) -> Tensor:
        """Layer-0 embeddings: structural entities, modal entities (encoded features), users."""
        modal = [self.encoders[name](getattr(self, f"feature_{name}")) for name in self.modalities]
        return torch.cat([self.entity_embedding.weight, *modal, self.user_embedding.weight])

    def compute_embeddings(self) -> tuple[Tensor, Tensor]:
        layer = self.node_embeddings()
        outputs = [layer]
        for attention_layer in self.layers:
            layer = F.normalize(self.dropout(attention_layer(layer, self.relation_embedding.weight, self.edge_index,
                                                             self.edge_type)), dim=1)
            outputs.append(layer)
        final = torch.cat(outputs, dim=1)
        return final[self.n_entities:], final[:self.n_items]

    def kg_loss(self, size: int) -> Tensor:
        """TransE pairwise loss on ``size`` random MKG triples with uniformly corrupted tails."""
        nodes = self.node_embeddings()[:self.n_entities]
        pick = torch.randint(len(self.kg_triples), (size,), device=nodes.device)
        head, relation, tail = self.kg_triples[pick].T
        corrupted = torch.randint(self.n_entities, (size,), device=nodes.device)
        translated = nodes.index_select(0, head) + self.relation_embedding(relation + 1)  # relation 0 is interact
        distance = (translated - nodes.index_select(0, tail)).square().sum(-1)
        corrupted_distance = (translated - nodes.index_select(0, corrupted)).square().sum(-1)
        return transr_loss(distance, corrupted_distance)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        users, items = self.compute_embeddings()
        e_user, e_pos, e_neg = (users.index_select(0, batch["user"]), items.index_select(0, batch["pos"]),
                                items.index_select(0, batch["neg"]))
        bpr = bpr_loss((e_user * e_pos).sum(-1), (e_user * e_neg).sum(-1))
        reg = self.reg_weight * l2_regularization(e_user, e_pos, e_neg)
        kg = self.kg_loss(len(batch["user"])) if self.kg_weight else bpr.new_zeros(())
        return {"loss": bpr + reg + self.kg_weight * kg, "bpr": bpr, "reg": reg, "kg": kg}

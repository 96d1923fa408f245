"""KGCN (Wang, Zhao et al., WWW 2019): user-specific relation attention over sampled KG neighbourhoods.

Each entity ``v`` gets ``K`` neighbours ``S(v)`` drawn once, with replacement, from its KG
neighbours (both directions of each fact). For user ``u`` with embedding ``u``:

    π^u_r = u · r                                                       (Eq. 1)
    π̃^u_{r(v,e)} = softmax_{e ∈ S(v)} π^u_{r(v,e)}                      (Eq. 3)
    v^u_S(v) = Σ_{e ∈ S(v)} π̃^u_{r(v,e)} e                              (Eq. 2)
    sum aggregator: agg(v, v^u_S(v)) = σ(W (v + v^u_S(v)) + b)          (Eq. 4)
    ŷ_uv = u · v^u  (after H iterations, Algorithm 1)
    L = mean[−ln σ(ŷ_uv) − ln σ(−ŷ_uv')] + λ ||batch embeddings||² / (2B)   (Eq. 7, one negative v')

Algorithm 1 applies the aggregator ``H`` times from the outermost hop inwards; ``σ`` is ReLU
except at the last iteration (tanh). Everything is tensor code: the receptive field of ``[B, M]``
items is a ``[B, M, K^h]`` index tensor per hop, and each hop's attention one gather and softmax.
Full ranking scores ``users × all items`` in user chunks; the catalogue's receptive field is
shared by the chunk, so memory is ``chunk · n_items · K^(H−1) · d``.
Entities without KG neighbours get themselves through an extra ``self`` relation. The paper trains
for click-through prediction with a log loss over positives and as many sampled negatives; here each
BPR triple gives one positive and one negative to that loss.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.recdata import RecData
from ..graphs import kg_edge_index
from ..losses import l2_regularization
from .base import Recommender

__all__ = ["KGCN", "sample_neighbours"]


def sample_neighbours(edge_index: Tensor, edge_type: Tensor, n_entities: int, n_neighbours: int,
                      self_relation: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``(entity [n_entities, K], relation [n_entities, K])``: ``K`` neighbours per entity, drawn
    uniformly with replacement from its out-edges (one vectorised draw); isolated entities get themselves."""
    order = torch.argsort(edge_index[0], stable=True)
    tail, relation = edge_index[1, order], edge_type[order]
    degree = torch.bincount(edge_index[0], minlength=n_entities)
    start = torch.cumsum(degree, 0) - degree
    draw = torch.rand(n_entities, n_neighbours, generator=generator)
    position = start.unsqueeze(1) + (draw * degree.unsqueeze(1)).long().clamp_max((degree - 1).clamp_min(0).unsqueeze(1))
    isolated = (degree == 0).unsqueeze(1)
    position = position.clamp_max(max(len(tail) - 1, 0))
    entity = torch.where(isolated, torch.arange(n_entities).unsqueeze(1), tail[position] if len(tail) else 0)
    relation = torch.where(isolated, torch.tensor(self_relation), relation[position] if len(tail) else 0)
    return entity.expand(n_entities, n_neighbours).contiguous(), relation.expand(n_entities, n_neighbours).contiguous()


class KGCN(Recommender):
    """KGCN with ``n_hops`` iterations (``H``) over ``n_neighbours`` (``K``) sampled neighbours."""

    batch_kind = "pairwise"

    def __init__(self, data: RecData, embedding_dim: int = 32, n_hops: int = 2, n_neighbours: int = 4,
                 reg_weight: float = 1e-7, score_chunk_elements: int = 1 << 24):
        super().__init__(data)
        data.require("kg")
        if n_hops < 1 or n_neighbours < 1:
            raise ValueError(f"need n_hops >= 1 and n_neighbours >= 1, got {n_hops} and {n_neighbours}")
        kg = data.kg
        self.n_hops, self.n_neighbours, self.reg_weight = n_hops, n_neighbours, reg_weight
        self.score_chunk_elements = score_chunk_elements
        self.user_embedding = torch.nn.Embedding(data.n_users, embedding_dim)
        self.entity_embedding = torch.nn.Embedding(kg.n_entities, embedding_dim)
        self.relation_embedding = torch.nn.Embedding(2 * kg.n_relations + 1, embedding_dim)  # + inverses, self
        for weight in (self.user_embedding.weight, self.entity_embedding.weight, self.relation_embedding.weight):
            torch.nn.init.xavier_uniform_(weight)
        self.aggregators = torch.nn.ModuleList(torch.nn.Linear(embedding_dim, embedding_dim) for _ in range(n_hops))
        edge_index, edge_type = kg_edge_index(kg, add_inverse=True)
        entity, relation = sample_neighbours(edge_index, edge_type, kg.n_entities, n_neighbours, 2 * kg.n_relations,
                                             torch.Generator().manual_seed(int(torch.randint(2 ** 31, ()))))
        self.register_buffer("neighbour_entity", entity, persistent=False)
        self.register_buffer("neighbour_relation", relation, persistent=False)

    def receptive_field(self, items: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """For ``items`` ``[..., M]``: entities ``[..., M, K^h]`` at hops ``h = 0..H`` and the relations
        ``[..., M, K^(h+1)]`` leading from hop ``h`` to hop ``h + 1``."""
        entities, relations = [items.unsqueeze(-1)], []
        for _ in range(self.n_hops):
            relations.append(self.neighbour_relation[entities[-1]].flatten(-2))
            entities.append(self.neighbour_entity[entities[-1]].flatten(-2))
        return entities, relations

    def item_representations(self, users: Tensor, items: Tensor) -> Tensor:
        """``v^u`` ``[B, M, d]`` of ``items`` seen by each of ``users`` ``[B]`` (Algorithm 1).

        ``items`` ``[B, M]`` gives each user its own items; ``[M]`` the same items to every user, in
        which case the hop vectors stay shared (no ``[B, M, K^H, d]`` copy) until the first aggregation.
        """
        shared = items.ndim == 1
        entities, relations = self.receptive_field(items)
        user_relation = self.user_embedding(users) @ self.relation_embedding.weight.T   # π^u_r (Eq. 1), [B, R]
        vectors = [self.entity_embedding(e) for e in entities]                          # [(B,) M, K^h, d]
        for iteration, linear in enumerate(self.aggregators):
            activation = torch.tanh if iteration == self.n_hops - 1 else F.relu
            updated = []
            for hop in range(self.n_hops - iteration):
                m, width = entities[hop].shape[-2:]
                logits = (user_relation[:, relations[hop]] if shared else
                          user_relation.gather(1, relations[hop].flatten(1)))
                weight = torch.softmax(logits.reshape(len(users), m, width, self.n_neighbours), -1)  # Eq. 3
                neighbours = vectors[hop + 1].unflatten(-2, (width, self.n_neighbours))
                if shared and iteration == 0:
                    mixed = torch.einsum("bmwk,mwkd->bmwd", weight, neighbours)          # Eq. 2
                    own = vectors[hop].unsqueeze(0)
                else:
                    mixed, own = torch.einsum("bmwk,bmwkd->bmwd", weight, neighbours), vectors[hop]
                updated.append(activation(linear(own + mixed)))                           # Eq. 4
            vectors = updated
        return vectors[0].squeeze(2)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        user, pos, neg = batch["user"], batch["pos"], batch["neg"]
        e_user = self.user_embedding(user)
        logits = (e_user.unsqueeze(1) * self.item_representations(user, torch.stack([pos, neg], 1))).sum(-1)
        log_loss = (F.softplus(-logits[:, 0]) + F.softplus(logits[:, 1])).mean()          # Eq. 7
        reg = self.reg_weight * l2_regularization(e_user, self.entity_embedding(pos), self.entity_embedding(neg))
        return {"loss": log_loss + reg, "log_loss": log_loss, "reg": reg}

    def score(self, users: Tensor) -> Tensor:
        """``u · v^u`` for every item, ``chunk`` users at a time (``chunk · n_items · K^(H−1) · d`` floats)."""
        users = users.to(self.device)
        items = torch.arange(self.n_items, device=self.device)
        per_user = self.n_items * self.n_neighbours ** max(self.n_hops - 1, 1) * self.entity_embedding.embedding_dim
        chunk = max(1, self.score_chunk_elements // per_user)
        parts = []
        for start in range(0, len(users), chunk):
            part = users[start:start + chunk]
            vectors = self.item_representations(part, items)
            parts.append((self.user_embedding(part).unsqueeze(1) * vectors).sum(-1))
        return torch.cat(parts) if parts else torch.empty(0, self.n_items, device=self.device)

"""CKE (Zhang et al., KDD 2016): collaborative knowledge base embedding.

An item's latent vector adds an offset to three knowledge embeddings (Sec. 4.4):

    e_j = η_j + v_j + X_j + Z_j                                         (Sec. 4.4)
    ŷ_ij = u_i · e_j,   L_CF = mean −ln σ(ŷ_ij − ŷ_ij')                  (Sec. 4.4, pairwise ranking)

- structural ``v_j``: the item's TransR entity embedding, trained on the KG (Sec. 4.1),
  ``f_r(h, t) = ||W_r v_h + r − W_r v_t||²`` with the pairwise loss against corrupted tails;
- textual ``X_j`` / visual ``Z_j``: the middle layer of a denoising auto-encoder over the item's
  text / image feature (Sec. 4.2–4.3), ``x̃ = x ⊙ mask`` (masking noise),
  ``h = σ(W_enc x̃ + b)``, ``x̂ = W_dec h + b'``, reconstruction ``||x − x̂||²``.

The paper's stacked convolutional auto-encoder reads raw pixels; the course feeds the
precomputed image feature to the same denoising auto-encoder as the text (our reading, which keeps
one encoder and a seconds-long epoch). The paper's Bayesian objective becomes the sum
``L_CF + kg_weight · L_KG + ae_weight · L_AE + λ ||batch embeddings||² / (2B)`` minimised per step.
``modalities`` picks the auto-encoded features (``data.features[name]``); ``()`` gives CKE with
structure only (the variant in KGAT's code).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from ..data.recdata import RecData
from ..graphs import KnowledgeAwarePropagation
from ..losses import bpr_loss, l2_regularization, transr_loss
from .base import EmbeddingRecommender

__all__ = ["CKE"]


class DenoisingAutoEncoder(torch.nn.Module):
    """One-hidden-layer denoising auto-encoder; the hidden layer is the item's knowledge vector."""

    def __init__(self, input_dim: int, hidden_dim: int, corruption: float):
        super().__init__()
        self.corruption = corruption
        self.encoder = torch.nn.Linear(input_dim, hidden_dim)
        self.decoder = torch.nn.Linear(hidden_dim, input_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(code, reconstruction error per row)``; masking noise only in training mode."""
        noisy = x * (torch.rand_like(x) >= self.corruption) if self.training else x
        code = torch.sigmoid(self.encoder(noisy))
        return code, (self.decoder(code) - x).square().sum(-1)


class CKE(EmbeddingRecommender):
    """CKE with TransR structure and denoising auto-encoders over the named ``modalities``."""

    batch_kind = "pairwise"

    def __init__(self, data: RecData, embedding_dim: int = 64, relation_dim: int = 64,
                 modalities: Sequence[str] = ("text", "image"), corruption: float = 0.2, reg_weight: float = 1e-5,
                 kg_weight: float = 1.0, ae_weight: float = 1e-3):
        super().__init__(data)
        data.require("kg", *(f"features:{name}" for name in modalities))
        kg = data.kg
        self.reg_weight, self.kg_weight, self.ae_weight = reg_weight, kg_weight, ae_weight
        self.user_embedding = torch.nn.Embedding(data.n_users, embedding_dim)
        self.item_offset = torch.nn.Embedding(data.n_items, embedding_dim)
        self.entity_embedding = torch.nn.Embedding(kg.n_entities, embedding_dim)
        for weight in (self.user_embedding.weight, self.item_offset.weight, self.entity_embedding.weight):
            torch.nn.init.xavier_uniform_(weight)
        # TransR's e_r and W_r: the shared KG module with no propagation layer
        self.relations = KnowledgeAwarePropagation(kg.n_relations, embedding_dim, (), relation_dim)
        self.modalities = tuple(modalities)
        self.autoencoders = torch.nn.ModuleDict({
            name: DenoisingAutoEncoder(data.features[name].shape[1], embedding_dim, corruption)
            for name in self.modalities})
        for name in self.modalities:
            self.register_buffer(f"feature_{name}", data.features[name].float(), persistent=False)
        self.register_buffer("triples", kg.triples.long(), persistent=False)

    def item_vectors(self, items: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``e_j`` (Sec. 4.4) of ``items`` (all when ``None``) and the mean reconstruction error."""
        index = torch.arange(self.n_items, device=self.triples.device) if items is None else items
        vector = self.item_offset(index) + self.entity_embedding(index)
        error = vector.new_zeros(())
        for name, autoencoder in self.autoencoders.items():
            code, per_row = autoencoder(getattr(self, f"feature_{name}").index_select(0, index))
            vector, error = vector + code, error + per_row.mean()
        return vector, error

    def compute_embeddings(self) -> tuple[Tensor, Tensor]:
        return self.user_embedding.weight, self.item_vectors()[0]

    def kg_loss(self, size: int) -> Tensor:
        """TransR loss (Sec. 4.1) on ``size`` random KG triples with uniformly corrupted tails."""
        pick = torch.randint(len(self.triples), (size,), device=self.triples.device)
        head, relation, tail = self.triples[pick].T
        corrupted = torch.randint(self.entity_embedding.num_embeddings, (size,), device=pick.device)
        e_h = self.entity_embedding(head)
        return transr_loss(self.relations.transr_score(e_h, relation, self.entity_embedding(tail)),
                           self.relations.transr_score(e_h, relation, self.entity_embedding(corrupted)))

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        user = self.user_embedding(batch["user"])
        distinct, position = torch.unique(torch.cat([batch["pos"], batch["neg"]]), return_inverse=True)
        vectors, ae = self.item_vectors(distinct)      # each distinct item auto-encoded once per batch
        pos, neg = vectors.index_select(0, position).chunk(2)
        bpr = bpr_loss((user * pos).sum(-1), (user * neg).sum(-1))
        reg = self.reg_weight * l2_regularization(user, pos, neg)
        kg = self.kg_loss(len(user)) if self.kg_weight else bpr.new_zeros(())
        return {"loss": bpr + reg + self.kg_weight * kg + self.ae_weight * ae, "bpr": bpr, "reg": reg,
                "kg": kg, "ae": ae}

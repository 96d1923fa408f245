"""Early-fusion GAT: the GAT baseline with every modality concatenated into the item inputs.

    h_i^(0) = [f_i^1 ‖ f_i^2 ‖ … ‖ f_i^M]      (fixed item features; users start from ID embeddings)

then the two-layer bipartite GAT, dot-product scores and BPR of :mod:`mmrec_lite.models.gat`.
This is the "fuse first" design that GNNMR argues against: one encoder sees all modalities at
once, so a dominant or noisy modality can drown the others ("modality failure"). Comparing it
with GNNMR on the same features is the chapter's test of that claim.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from ..data.recdata import RecData
from .gat import GAT

__all__ = ["EarlyFusionGAT"]


class EarlyFusionGAT(GAT):
    """GAT whose item inputs are the concatenation of ``data.features[name]`` for ``name`` in ``modalities``."""

    def __init__(self, data: RecData, modalities: Sequence[str] = ("text", "image"), embedding_dim: int = 128,
                 n_layers: int = 2, reg_weight: float = 0.0):
        if not modalities:
            raise ValueError("EarlyFusionGAT needs at least one modality")
        data.require(*(f"features:{name}" for name in modalities))
        self.modalities = tuple(modalities)
        super().__init__(data, embedding_dim, n_layers, reg_weight)

    def _init_items(self, data: RecData, embedding_dim: int) -> int:
        fused = torch.cat([data.features[name].float() for name in self.modalities], dim=1)
        self.register_buffer("item_features", fused)
        return fused.shape[1]

    def item_inputs(self) -> Tensor:
        return self.item_features

"""SymCERE (Suzumura et al., arXiv 2504.02195): LightGCN behaviour embeddings aligned with review text.

Paper (abstract and public versions): graph embeddings ``g`` of users and items, review-text
embeddings ``t``; **every embedding L2-normalised** before any similarity ("magnitude as noise");
a cross-modal **symmetric SINCERE** loss whose positives are the user's full training history;
the objective is cross-modal + intra-modal + ranking. The course's reading where the text is silent:

    g_u, g_i = LightGCN(E^(0))                         behaviour (LightGCN Eq. 7-8)
    t_u, t_i = W · review_mean(u), W · review_mean(i)   W: trainable d_text → d projection
    ĝ, t̂ = g / ||g||, t / ||t||                        (off: normalize=False)
    M_ui = [(u, i) ∈ train]                             positives: the full training history
    L_cross = ½ [S(ĝ_U, t̂_C, M) + S(t̂_U, ĝ_C, M)]        S: symmetric SINCERE (losses.symmetric_sincere_loss)
    L_intra = ½ [S(ĝ_U, ĝ_C, M) + S(t̂_U, t̂_C, M)]        user ↔ item inside one modality
    ŷ_ui = (ĝ_u · ĝ_i + t̂_u · t̂_i) / τ_rank             (graph part only: fuse_text=False)
    L = BPR(ŷ) + λ_cross L_cross + λ_intra L_intra + λ_reg ||E^(0)_batch||² / (2B)

``U`` are the batch's distinct users, ``C`` its distinct positive and negative items (only those
with a training review). ``directions`` keeps one half of ``L_cross`` (``"graph_to_text"``: graph
anchors, text candidates). ``alignment`` swaps the loss for the baselines: ``"supcon"`` (other
positives in the denominator) or ``"infonce"`` (one positive per pair; the rest of the history are
negatives: the false negatives SINCERE removes).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.recdata import RecData
from ..features.review_embeddings import ReviewEmbeddings
from ..losses import bpr_loss, info_nce, l2_regularization, sincere_loss, supcon_loss
from .lightgcn import LightGCN

__all__ = ["SymCERE", "ALIGNMENTS", "DIRECTIONS"]

ALIGNMENTS = ("sincere", "supcon", "infonce")
DIRECTIONS = ("graph_to_text", "text_to_graph")


class SymCERE(LightGCN):
    """LightGCN + review-text alignment; every weight of the objective is an argument."""

    def __init__(self, data: RecData, text: ReviewEmbeddings, embedding_dim: int = 64, n_layers: int = 3,
                 reg_weight: float = 1e-4, cross_weight: float = 0.1, intra_weight: float = 0.1,
                 temperature: float = 0.2, rank_temperature: float = 0.2, normalize: bool = True,
                 directions: tuple[str, ...] = DIRECTIONS, alignment: str = "sincere", fuse_text: bool = True,
                 edge_dropout: float = 0.0):
        super().__init__(data, embedding_dim, n_layers, reg_weight, edge_dropout)
        if alignment not in ALIGNMENTS or not directions or set(directions) - set(DIRECTIONS):
            raise ValueError(f"alignment must be one of {ALIGNMENTS} and directions a non-empty subset of "
                             f"{DIRECTIONS}; got {alignment!r}, {directions!r}")
        if text.user.shape[0] != data.n_users or text.item.shape[0] != data.n_items:
            raise ValueError(f"text embeddings cover {text.user.shape[0]} users / {text.item.shape[0]} items; "
                             f"data has {data.n_users} / {data.n_items}")
        self.cross_weight, self.intra_weight, self.temperature = cross_weight, intra_weight, temperature
        self.rank_scale = 1.0 / rank_temperature if normalize else 1.0
        self.normalize, self.directions, self.alignment, self.fuse_text = normalize, tuple(directions), alignment, fuse_text
        self.projection = torch.nn.Linear(text.user.shape[1], embedding_dim, bias=False)
        self.register_buffer("user_text", text.user.float(), persistent=False)
        self.register_buffer("item_text", text.item.float(), persistent=False)
        self.register_buffer("user_has_text", text.user_has_text.bool(), persistent=False)
        self.register_buffer("item_has_text", text.item_has_text.bool(), persistent=False)
        keys = self.edge_user * self.n_items + self.edge_item  # unique_pairs: sorted, distinct
        self.register_buffer("history_keys", keys.sort().values, persistent=False)

    def modalities(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(g_users, g_items, t_users, t_items)``, L2-normalised when ``normalize``."""
        g_user, g_item = LightGCN.compute_embeddings(self)
        t_user, t_item = self.projection(self.user_text), self.projection(self.item_text)
        if self.normalize:
            g_user, g_item, t_user, t_item = (F.normalize(x, dim=1) for x in (g_user, g_item, t_user, t_item))
        return g_user, g_item, t_user, t_item

    def _fuse(self, g_user: Tensor, g_item: Tensor, t_user: Tensor, t_item: Tensor) -> tuple[Tensor, Tensor]:
        if not self.fuse_text:
            return g_user * self.rank_scale, g_item
        return torch.cat([g_user, t_user], 1) * self.rank_scale, torch.cat([g_item, t_item], 1)

    def compute_embeddings(self) -> tuple[Tensor, Tensor]:
        return self._fuse(*self.modalities())

    def history_mask(self, users: Tensor, items: Tensor) -> Tensor:
        """``[len(users), len(items)]`` bool: is ``(u, i)`` in the full training history."""
        keys = users.unsqueeze(1) * self.n_items + items.unsqueeze(0)
        position = torch.searchsorted(self.history_keys, keys).clamp_max(len(self.history_keys) - 1)
        return self.history_keys[position] == keys

    def _contrast(self, a_user: Tensor, b_item: Tensor, a_item: Tensor, b_user: Tensor, mask: Tensor) -> Tensor:
        """One direction: anchors of modality ``a``, candidates of ``b``, for users and for items."""
        loss = sincere_loss if self.alignment == "sincere" else supcon_loss
        return (loss(a_user, b_item, mask, self.temperature, self.normalize)
                + loss(a_item, b_user, mask.T, self.temperature, self.normalize)) / 2

    def _pairs_info_nce(self, a_user: Tensor, b_item: Tensor, a_item: Tensor, b_user: Tensor) -> Tensor:
        return (info_nce(a_user, b_item, self.temperature) + info_nce(a_item, b_user, self.temperature)) / 2

    def _alignment_terms(self, parts, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        g_user, g_item, t_user, t_item = parts
        if self.alignment == "infonce":  # pair rows: each user's one positive, everything else negative
            keep = self.user_has_text[batch["user"]] & self.item_has_text[batch["pos"]]
            u, i = batch["user"][keep], batch["pos"][keep]
            if len(u) < 2:
                zero = g_user.sum() * 0.0
                return zero, zero
            cross = {"graph_to_text": self._pairs_info_nce(g_user[u], t_item[i], g_item[i], t_user[u]),
                     "text_to_graph": self._pairs_info_nce(t_user[u], g_item[i], t_item[i], g_user[u])}
            intra = (self._pairs_info_nce(g_user[u], g_item[i], g_item[i], g_user[u])
                     + self._pairs_info_nce(t_user[u], t_item[i], t_item[i], t_user[u])) / 2
        else:
            u = torch.unique(batch["user"])
            i = torch.unique(torch.cat([batch["pos"], batch["neg"].flatten()]))
            u, i = u[self.user_has_text[u]], i[self.item_has_text[i]]
            mask = self.history_mask(u, i)
            cross = {"graph_to_text": self._contrast(g_user[u], t_item[i], g_item[i], t_user[u], mask),
                     "text_to_graph": self._contrast(t_user[u], g_item[i], t_item[i], g_user[u], mask)}
            intra = (self._contrast(g_user[u], g_item[i], g_item[i], g_user[u], mask)
                     + self._contrast(t_user[u], t_item[i], t_item[i], t_user[u], mask)) / 2
        return sum(cross[d] for d in self.directions) / len(self.directions), intra

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        parts = self.modalities()
        users, items = self._fuse(*parts)
        user, pos, neg = batch["user"], batch["pos"], batch["neg"]
        e_user = users.index_select(0, user)
        bpr = bpr_loss((e_user * items.index_select(0, pos)).sum(-1), (e_user * items.index_select(0, neg)).sum(-1))
        cross, intra = self._alignment_terms(parts, batch)
        reg = self.reg_weight * l2_regularization(self.user_embedding(user), self.item_embedding(pos),
                                                  self.item_embedding(neg))
        total = bpr + self.cross_weight * cross + self.intra_weight * intra + reg
        return {"loss": total, "bpr": bpr, "cross": cross, "intra": intra, "reg": reg}

"""GAT (Veličković et al., ICLR 2018) on the user–item bipartite graph, IDs only (GNNMR's baseline).

    h_u^(l+1) = σ( Σ_{i∈N(u)} α_ui W^(l) h_i^(l) )                    (GNNMR Eq. 3)
    α_ui = softmax_{i∈N(u)} σ( a^T [W h_u^(l) ‖ W h_i^(l)] )            (Eq. 4)
    h_i^(l+1) = σ( Σ_{j∈N(i)} α_ij W^(l) h_j^(l) )                     (Eq. 5)
    ŷ_ui = h_u · h_i (Eq. 6),   L = mean −ln σ(ŷ_ui − ŷ_uj)            (Eq. 7)

σ is LeakyReLU. :class:`BipartiteGAT` is the encoder: per layer one PyG ``GATConv`` from items
to users and one from users to items, each with ``in_channels=(d_source, d_target)`` and
``add_self_loops=False``. On a bipartite input PyG's default self-loops would join user ``k``
to item ``k`` — two unrelated nodes that happen to share an index. The course's reading of
Eq. 3 and 5: the two directions have their own ``W^(l)`` (at layer 0 users and items do not even
have the same width). The embeddings are those of the last layer. GNNMR runs one encoder per
modality; :class:`GAT` runs one on ID embeddings for users and items.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import GATConv

from ..data.recdata import RecData
from ..graphs import unique_pairs
from ..losses import bpr_loss, l2_regularization
from .base import EmbeddingRecommender

__all__ = ["BipartiteGAT", "GAT"]


class BipartiteGAT(torch.nn.Module):
    """``n_layers`` of bipartite attention, users ``user_dim`` and items ``item_dim`` wide at layer 0."""

    def __init__(self, user_dim: int, item_dim: int, dim: int, n_layers: int = 2, heads: int = 1,
                 negative_slope: float = 0.2):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"BipartiteGAT needs n_layers >= 1, got {n_layers}")
        self.negative_slope = negative_slope
        widths = [(user_dim, item_dim)] + [(dim, dim)] * (n_layers - 1)
        self.to_user = torch.nn.ModuleList(GATConv((d_item, d_user), dim, heads=heads, concat=False,
                                                   add_self_loops=False) for d_user, d_item in widths)
        self.to_item = torch.nn.ModuleList(GATConv((d_user, d_item), dim, heads=heads, concat=False,
                                                   add_self_loops=False) for d_user, d_item in widths)

    def forward(self, x_user: Tensor, x_item: Tensor, edge_user: Tensor, edge_item: Tensor) -> tuple[Tensor, Tensor]:
        """Last-layer ``[n_users, dim]`` and ``[n_items, dim]``; edges ``(edge_user[k], edge_item[k])``."""
        item_to_user = torch.stack([edge_item, edge_user])     # row 0: source (item), row 1: target (user)
        user_to_item = torch.stack([edge_user, edge_item])
        size = (len(x_item), len(x_user))
        for to_user, to_item in zip(self.to_user, self.to_item):
            h_user = to_user((x_item, x_user), item_to_user, size=size)          # Eq. 3
            h_item = to_item((x_user, x_item), user_to_item, size=size[::-1])    # Eq. 5
            x_user = F.leaky_relu(h_user, self.negative_slope)
            x_item = F.leaky_relu(h_item, self.negative_slope)
        return x_user, x_item


class GAT(EmbeddingRecommender):
    """Two-layer bipartite GAT on ``embedding_dim``-wide ID embeddings, trained with BPR."""

    batch_kind = "pairwise"

    def __init__(self, data: RecData, embedding_dim: int = 128, n_layers: int = 2, reg_weight: float = 0.0):
        super().__init__(data)
        self.reg_weight = reg_weight
        self.user_embedding = torch.nn.Embedding(data.n_users, embedding_dim)
        torch.nn.init.xavier_uniform_(self.user_embedding.weight)
        user, item = unique_pairs(data.train.user, data.train.item, data.n_items)
        self.register_buffer("edge_user", user, persistent=False)
        self.register_buffer("edge_item", item, persistent=False)
        item_width = self._init_items(data, embedding_dim)
        self.encoder = BipartiteGAT(embedding_dim, item_width, embedding_dim, n_layers)

    def _init_items(self, data: RecData, embedding_dim: int) -> int:
        """Create the item inputs ``h_i^(0)``; return their width (here: trainable ID embeddings)."""
        self.item_embedding = torch.nn.Embedding(data.n_items, embedding_dim)
        torch.nn.init.xavier_uniform_(self.item_embedding.weight)
        return embedding_dim

    def item_inputs(self) -> Tensor:
        return self.item_embedding.weight

    def compute_embeddings(self) -> tuple[Tensor, Tensor]:
        return self.encoder(self.user_embedding.weight, self.item_inputs(), self.edge_user, self.edge_item)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        users, items = self.compute_embeddings()
        user, pos, neg = batch["user"], batch["pos"], batch["neg"]
        e_user = users.index_select(0, user)
        bpr = bpr_loss((e_user * items.index_select(0, pos)).sum(-1), (e_user * items.index_select(0, neg)).sum(-1))
        if not self.reg_weight:
            return {"loss": bpr, "bpr": bpr}
        reg = self.reg_weight * l2_regularization(self.user_embedding(user))
        return {"loss": bpr + reg, "bpr": bpr, "reg": reg}

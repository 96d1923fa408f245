"""Knowledge-aware attention and propagation on a (collaborative) knowledge graph (KGAT, Multi-KG4Rec).

For a triple ``(h, r, t)`` with relation embedding ``e_r`` and projection ``W_r``:

    π(h, r, t) = (W_r e_t)ᵀ tanh(W_r e_h + e_r)                      (KGAT Eq. 4)
    π̃(h, r, t) = softmax over the triples (h, r', t') sharing the head h    (KGAT Eq. 5)
    e_N(h) = Σ_{(h,r,t)} π̃(h, r, t) e_t                               (KGAT Eq. 3)
    e_h' = LeakyReLU(W_1 (e_h + e_N(h))) + LeakyReLU(W_2 (e_h ⊙ e_N(h)))   (Bi-Interaction, KGAT Eq. 8)
    e* = e^(0) ‖ e^(1) ‖ ... ‖ e^(L)                                   (layer aggregation, KGAT Eq. 11)

The attention is computed per relation (one matrix product per relation on the triples of that
relation, so memory grows linearly with the number of triples, never ``T × k × d``), then
normalised over all triples at once with :func:`torch_geometric.utils.softmax`. Aggregation is a
single ``index_add_`` over the edges. As in KGAT's code, each layer's output is L2-normalised and
message dropout is applied before it.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.utils import softmax

__all__ = ["knowledge_attention", "KnowledgeAwarePropagation"]


def _attention_logits(head_projected: Tensor, relation: Tensor, tail_projected: Tensor) -> Tensor:
    """Unnormalised ``π(h, r, t) = (W_r e_t)ᵀ tanh(W_r e_h + e_r)`` from the projected embeddings."""
    return (tail_projected * torch.tanh(head_projected + relation)).sum(-1)


def knowledge_attention(head: Tensor, relation: Tensor, tail: Tensor, projection: Tensor, head_index: Tensor,
                        num_heads: int | None = None) -> Tensor:
    """Attention weights ``π̃(h, r, t)`` of ``T`` triples (KGAT Eq. 4–5), summing to 1 over each head.

    ``head``, ``tail`` ``[T, d]``; ``relation`` ``[T, k]``; ``projection`` ``[T, k, d]`` (each
    triple's ``W_r``); ``head_index`` ``[T]`` the head entity id that groups the softmax.
    """
    if projection.shape != (head.shape[0], relation.shape[1], head.shape[1]) or head.shape != tail.shape:
        raise ValueError(f"knowledge_attention: head {tuple(head.shape)}, relation {tuple(relation.shape)}, tail "
                         f"{tuple(tail.shape)}, projection {tuple(projection.shape)} must be [T, d], [T, k], [T, d], "
                         "[T, k, d]")
    head_projected = torch.bmm(projection, head.unsqueeze(-1)).squeeze(-1)
    tail_projected = torch.bmm(projection, tail.unsqueeze(-1)).squeeze(-1)
    return softmax(_attention_logits(head_projected, relation, tail_projected), head_index, num_nodes=num_heads)


class KnowledgeAwarePropagation(torch.nn.Module):
    """KGAT-style propagation with the Bi-Interaction aggregator.

    ``n_relations`` relation types (inverses included); ``input_dim`` the node embedding size;
    ``dims`` the output size of each layer (paper: 64, 32, 16); ``relation_dim`` ``k`` of ``e_r``
    and ``W_r``. The relation embeddings and projections are the ones TransR trains
    (:meth:`transr_terms`), as in KGAT.
    """

    def __init__(self, n_relations: int, input_dim: int = 64, dims: Sequence[int] = (64, 32, 16),
                 relation_dim: int = 64, message_dropout: float = 0.1):
        super().__init__()
        self.dims = tuple(dims)
        self.relation_embedding = torch.nn.Parameter(torch.empty(n_relations, relation_dim))
        self.relation_projection = torch.nn.Parameter(torch.empty(n_relations, relation_dim, input_dim))
        torch.nn.init.xavier_uniform_(self.relation_embedding)
        torch.nn.init.xavier_uniform_(self.relation_projection)
        sizes = (input_dim, *self.dims)
        self.sum_layers = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.product_layers = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.dropout = torch.nn.Dropout(message_dropout)

    @property
    def output_dim(self) -> int:
        return self.sum_layers[0].in_features + sum(self.dims)

    def transr_score(self, head: Tensor, relation_type: Tensor, tail: Tensor) -> Tensor:
        """:func:`~mmrec_lite.losses.transr_score` of triples ``[T]`` with this module's ``e_r`` and
        ``W_r``, one matrix product per relation (no ``[T, k, d]`` copy of the projections)."""
        translated = torch.empty(len(head), self.relation_embedding.shape[1], dtype=head.dtype, device=head.device)
        for r in torch.unique(relation_type).tolist():
            chosen = (relation_type == r).nonzero().squeeze(1)
            translated[chosen] = (head[chosen] - tail[chosen]) @ self.relation_projection[r].T + self.relation_embedding[r]
        return translated.square().sum(-1)

    def attention(self, x: Tensor, edge_index: Tensor, edge_type: Tensor) -> Tensor:
        """``π̃`` of every edge ``head = edge_index[0] → tail = edge_index[1]``, one product per relation."""
        head, tail = edge_index
        logits = torch.empty(edge_index.shape[1], dtype=x.dtype, device=x.device)
        for r in torch.unique(edge_type).tolist():
            chosen = (edge_type == r).nonzero().squeeze(1)
            w_r = self.relation_projection[r]
            logits[chosen] = _attention_logits(x[head[chosen]] @ w_r.T, self.relation_embedding[r],
                                               x[tail[chosen]] @ w_r.T)
        return softmax(logits, head, num_nodes=len(x))

    def forward(self, x: Tensor, edge_index: Tensor, weight: Tensor) -> Tensor:
        """``e^(0) ‖ ... ‖ e^(L)`` ``[N, output_dim]`` for node embeddings ``x`` ``[N, input_dim]``
        and edge weights ``weight`` ``[E]`` (from :meth:`attention`)."""
        head, tail = edge_index
        layers, layer = [x], x
        for sum_layer, product_layer in zip(self.sum_layers, self.product_layers):
            neighbourhood = torch.zeros_like(layer).index_add_(0, head, layer.index_select(0, tail) * weight.unsqueeze(1))
            layer = (F.leaky_relu(sum_layer(layer + neighbourhood), 0.2)
                     + F.leaky_relu(product_layer(layer * neighbourhood), 0.2))
            layer = F.normalize(self.dropout(layer), dim=1)
            layers.append(layer)
        return torch.cat(layers, dim=1)

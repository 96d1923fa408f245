"""Knowledge-aware attention and propagation on a (collaborative) knowledge graph (KGAT, Multi-KG4Rec).

For a triple ``(h, r, t)`` with relation embedding ``e_r`` and projection ``W_r``:

    π(h, r, t) = (W_r e_t)ᵀ tanh(W_r e_h + e_r)                      (KGAT Eq. 4)
    π̃(h, r, t) = softmax over the triples (h, r', t') sharing the head h    (KGAT Eq. 5)
    e_N(h) = Σ_{(h,r,t)} π̃(h, r, t) e_t                               (KGAT Eq. 3)
    e_h' = LeakyReLU(W_1 (e_h + e_N(h))) + LeakyReLU(W_2 (e_h ⊙ e_N(h)))   (Bi-Interaction, KGAT Eq. 8)
    e* = e^(0) ‖ e^(1) ‖ ... ‖ e^(L)                                   (layer aggregation, KGAT Eq. 11)

The attention is computed per relation (one matrix product per relation on the triples of that
relation, so memory grows linearly with the number of triples, never ``T × k × d``), then
normalised over all triples at once with :func:`torch_geometric.utils.softmax`. The attention is
held fixed between refreshes (KGAT's code feeds it in as a constant ``A_in``), so
:func:`attention_adjacency` turns it into a sparse CSR matrix ``A`` with ``A[h, t] = π̃(h, r, t)``
(repeated ``(h, t)`` pairs summed) once per refresh, together with ``Aᵀ``; every layer's
``e_N = A e`` is then one sparse product, and its backward ``Aᵀ G`` another (no gather/scatter
over the edges, no re-sorting of ``A`` on each backward). As in KGAT's code, each layer's output
is L2-normalised and message dropout is applied before it.
"""
from __future__ import annotations

import warnings
from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.utils import softmax

from .adjacency import transposed_spmm

__all__ = ["knowledge_attention", "attention_adjacency", "AttentionAdjacency", "KnowledgeAwarePropagation"]


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


class AttentionAdjacency(NamedTuple):
    """The attention matrix ``A`` ``[N, N]`` (CSR, ``A[h, t] = π̃(h, r, t)``) and its transpose."""

    matrix: Tensor
    transposed: Tensor


def _csr(rows: Tensor, columns: Tensor, values: Tensor, n_nodes: int) -> Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        coo = torch.sparse_coo_tensor(torch.stack([rows, columns]), values, (n_nodes, n_nodes), check_invariants=False)
        return coo.coalesce().to_sparse_csr()


def attention_adjacency(edge_index: Tensor, weight: Tensor, n_nodes: int) -> AttentionAdjacency:
    """``A`` and ``Aᵀ`` of edge weights ``weight`` ``[E]`` on ``head = edge_index[0] → tail = edge_index[1]``,
    so that ``(A e)[h] = Σ_{(h, r, t)} π̃(h, r, t) e_t`` (KGAT Eq. 3). Built without gradient."""
    if weight.shape != (edge_index.shape[1],):
        raise ValueError(f"attention_adjacency: weight {tuple(weight.shape)} must be [E] = [{edge_index.shape[1]}]")
    weight = weight.detach()
    head, tail = edge_index
    return AttentionAdjacency(_csr(head, tail, weight, n_nodes), _csr(tail, head, weight, n_nodes))


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

    def _by_relation(self, relation_type: Tensor, *rows: Tensor):
        """``rows`` sorted by relation and split into one block per relation (with each block's
        ``W_r`` and ``e_r``), and the permutation that sorted them."""
        order = torch.argsort(relation_type, stable=True)
        counts = torch.bincount(relation_type, minlength=len(self.relation_embedding)).tolist()
        blocks = zip(*(row.index_select(0, order).split(counts) for row in rows))
        return order, zip(self.relation_projection.unbind(0), self.relation_embedding.unbind(0), blocks)

    @staticmethod
    def _unsort(order: Tensor, values: Tensor) -> Tensor:
        return torch.empty_like(values).index_copy_(0, order, values)

    def transr_score(self, head: Tensor, relation_type: Tensor, tail: Tensor) -> Tensor:
        """:func:`~mmrec_lite.losses.transr_score` of triples ``[T]`` with this module's ``e_r`` and
        ``W_r``: the triples are sorted by relation once and each relation's block takes one matrix
        product, ``W_r (e_h − e_t) + e_r`` (no ``[T, k, d]`` copy of the projections)."""
        order, blocks = self._by_relation(relation_type, head - tail)
        translated = torch.cat([difference @ w_r.T + e_r for w_r, e_r, (difference,) in blocks])
        return self._unsort(order, translated.square().sum(-1))

    def attention(self, x: Tensor, edge_index: Tensor, edge_type: Tensor) -> Tensor:
        """``π̃`` of every edge ``head = edge_index[0] → tail = edge_index[1]``, one product per relation."""
        head, tail = edge_index
        order, blocks = self._by_relation(edge_type, head, tail)
        logits = torch.cat([_attention_logits(x.index_select(0, h) @ w_r.T, e_r, x.index_select(0, t) @ w_r.T)
                            for w_r, e_r, (h, t) in blocks])
        return softmax(self._unsort(order, logits), head, num_nodes=len(x))

    def forward(self, x: Tensor, edge_index: Tensor, weight: Tensor) -> Tensor:
        """``e^(0) ‖ ... ‖ e^(L)`` ``[N, output_dim]`` for node embeddings ``x`` ``[N, input_dim]``
        and fixed edge weights ``weight`` ``[E]`` (from :meth:`attention`; no gradient reaches them)."""
        return self.propagate(x, attention_adjacency(edge_index, weight, len(x)))

    def propagate(self, x: Tensor, adjacency: AttentionAdjacency) -> Tensor:
        """:meth:`forward` with the attention matrix of :func:`attention_adjacency` built beforehand
        (once per attention refresh): each layer's ``e_N(h)`` is one sparse product."""
        if adjacency.matrix.shape != (len(x), len(x)):
            raise ValueError(f"adjacency {tuple(adjacency.matrix.shape)} does not match {len(x)} nodes")
        layers, layer = [x], x
        for sum_layer, product_layer in zip(self.sum_layers, self.product_layers):
            neighbourhood = transposed_spmm(adjacency.matrix, adjacency.transposed, layer)
            layer = (F.leaky_relu(sum_layer(layer + neighbourhood), 0.2)
                     + F.leaky_relu(product_layer(layer * neighbourhood), 0.2))
            layer = F.normalize(self.dropout(layer), dim=1)
            layers.append(layer)
        return torch.cat(layers, dim=1)

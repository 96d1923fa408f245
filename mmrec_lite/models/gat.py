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

Speed: PyG's message passing materialises every message ``α_ui W h_i`` (``[E, d]``) and scatters
it, forward and backward. With ``fused=True`` (the default on CPU and CUDA) each ``GATConv``
layer is evaluated from its own parameters (``lin_src``, ``lin_dst``, ``att_src``, ``att_dst``,
``bias``) as the same equations, but the weighted sum of Eq. 3 / 5 is one sparse CSR product
``A_α · (W h)``, and its backward is a sparse product with ``A_αᵀ`` and a sampled dense product
for ``∂L/∂α`` — no ``[E, d]`` tensor is formed. The attention logits and their softmax over each
target's neighbours stay edge-level scalars. A unit test checks outputs and gradients against
``GATConv.forward``; ``fused=False`` runs PyG's path.
"""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import GATConv

from ..data.recdata import RecData
from ..graphs import unique_pairs
from ..losses import bpr_loss, l2_regularization
from .base import EmbeddingRecommender

__all__ = ["BipartiteGAT", "GAT", "SparseAdjacency", "fused_gat_conv"]

_FUSED_DEVICES = ("cpu", "cuda")  # where torch has CSR products and sampled_addmm


class SparseAdjacency:
    """The edges ``(row[k], col[k])`` of an ``n_rows × n_cols`` matrix in CSR order, with its transpose.

    ``order`` sorts the given edges by (row, col); ``transpose`` maps the CSR order to the CSR order
    of the transposed matrix. Edges must be unique.
    """

    def __init__(self, row: Tensor, col: Tensor, n_rows: int, n_cols: int):
        self.shape = (n_rows, n_cols)
        self.order = torch.argsort(row * n_cols + col)
        self.row, self.col = row[self.order], col[self.order]
        self.crow = _compressed(self.row, n_rows)
        self.transpose = torch.argsort(self.col * n_rows + self.row)
        self.crow_t, self.col_t = _compressed(self.col, n_cols), self.row[self.transpose]

    def matrix(self, values: Tensor) -> Tensor:
        """The CSR matrix with ``values`` (in CSR order) at the edges."""
        return _csr(self.crow, self.col, values, self.shape)

    def matrix_t(self, values: Tensor) -> Tensor:
        """The transposed CSR matrix, ``values`` given in this matrix's CSR order."""
        return _csr(self.crow_t, self.col_t, values[self.transpose], self.shape[::-1])


def _csr(crow: Tensor, col: Tensor, values: Tensor, shape: tuple[int, int]) -> Tensor:
    with warnings.catch_warnings():  # torch warns once per process that CSR support is "beta"
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, shape, check_invariants=False)


def _compressed(sorted_rows: Tensor, n_rows: int) -> Tensor:
    return torch.cat([sorted_rows.new_zeros(1), torch.bincount(sorted_rows, minlength=n_rows).cumsum(0)])


class _WeightedSum(torch.autograd.Function):
    """``A_α · x`` for the CSR pattern of ``adjacency`` with values ``α`` (Eq. 3 / 5's sum)."""

    @staticmethod
    def forward(ctx, values: Tensor, x: Tensor, adjacency: SparseAdjacency) -> Tensor:
        ctx.save_for_backward(values, x)
        ctx.adjacency = adjacency
        return adjacency.matrix(values) @ x

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor):
        values, x = ctx.saved_tensors
        adjacency = ctx.adjacency
        grad_values = grad_x = None
        if ctx.needs_input_grad[0]:  # ∂L/∂α_k = <∂L/∂out[row_k], x[col_k]>, sampled at the edges only
            pattern = adjacency.matrix(torch.zeros_like(values))
            grad_values = torch.sparse.sampled_addmm(pattern, grad_out.contiguous(), x.T, beta=0.0).values()
        if ctx.needs_input_grad[1]:
            grad_x = adjacency.matrix_t(values) @ grad_out
        return grad_values, grad_x, None


def fused_gat_conv(conv: GATConv, x_src: Tensor, x_dst: Tensor, adjacency: SparseAdjacency) -> Tensor:
    """``conv((x_src, x_dst), edges)`` computed with sparse products; ``adjacency`` rows are targets.

    Eq. 4 edge by edge (``LeakyReLU(a_srcᵀ W h_src + a_dstᵀ W h_dst)``, softmax over each target's
    sources, as PyG's ``softmax`` with its ``1e-16``), then Eq. 3 / 5 as :class:`_WeightedSum`, the
    mean over heads (``concat=False``) and the bias.
    """
    if conv.concat or conv.add_self_loops or conv.dropout or conv.res is not None or conv.edge_dim is not None:
        raise ValueError("fused_gat_conv supports GATConv(concat=False, add_self_loops=False, dropout=0, "
                         "residual=False, edge_dim=None) only")
    heads, width = conv.heads, conv.out_channels
    w_src, w_dst = conv.lin_src(x_src).view(-1, heads, width), conv.lin_dst(x_dst).view(-1, heads, width)
    logits = F.leaky_relu((w_src * conv.att_src).sum(-1)[adjacency.col] + (w_dst * conv.att_dst).sum(-1)[adjacency.row],
                          conv.negative_slope)                                               # [E, H], Eq. 4
    row = adjacency.row.unsqueeze(1).expand_as(logits)
    peak = torch.full((len(x_dst), heads), float("-inf"), device=logits.device)
    peak = peak.scatter_reduce(0, row, logits.detach(), "amax", include_self=True)
    weights = (logits - peak[adjacency.row]).exp()
    alpha = weights / (torch.zeros_like(peak).index_add_(0, adjacency.row, weights) + 1e-16)[adjacency.row]
    out = torch.stack([_WeightedSum.apply(alpha[:, h].contiguous(), w_src[:, h].contiguous(), adjacency)
                       for h in range(heads)], 1)                                            # Eq. 3 / 5
    return out.mean(1) + conv.bias


class BipartiteGAT(torch.nn.Module):
    """``n_layers`` of bipartite attention, users ``user_dim`` and items ``item_dim`` wide at layer 0."""

    def __init__(self, user_dim: int, item_dim: int, dim: int, n_layers: int = 2, heads: int = 1,
                 negative_slope: float = 0.2, fused: bool = True):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"BipartiteGAT needs n_layers >= 1, got {n_layers}")
        self.negative_slope = negative_slope
        self.fused = fused
        widths = [(user_dim, item_dim)] + [(dim, dim)] * (n_layers - 1)
        self.to_user = torch.nn.ModuleList(GATConv((d_item, d_user), dim, heads=heads, concat=False,
                                                   add_self_loops=False) for d_user, d_item in widths)
        self.to_item = torch.nn.ModuleList(GATConv((d_user, d_item), dim, heads=heads, concat=False,
                                                   add_self_loops=False) for d_user, d_item in widths)

    def forward(self, x_user: Tensor, x_item: Tensor, edge_user: Tensor, edge_item: Tensor) -> tuple[Tensor, Tensor]:
        """Last-layer ``[n_users, dim]`` and ``[n_items, dim]``; edges ``(edge_user[k], edge_item[k])``."""
        if self.fused and x_user.device.type in _FUSED_DEVICES:
            to_users = SparseAdjacency(edge_user, edge_item, len(x_user), len(x_item))
            to_items = SparseAdjacency(edge_item, edge_user, len(x_item), len(x_user))
            layer = lambda conv, x_src, x_dst, adjacency, _: fused_gat_conv(conv, x_src, x_dst, adjacency)  # noqa: E731
        else:
            to_users, to_items = torch.stack([edge_item, edge_user]), torch.stack([edge_user, edge_item])  # source, target
            layer = lambda conv, x_src, x_dst, edges, size: conv((x_src, x_dst), edges, size=size)  # noqa: E731
        size = (len(x_item), len(x_user))
        for to_user, to_item in zip(self.to_user, self.to_item):
            h_user = layer(to_user, x_item, x_user, to_users, size)           # Eq. 3
            h_item = layer(to_item, x_user, x_item, to_items, size[::-1])     # Eq. 5
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

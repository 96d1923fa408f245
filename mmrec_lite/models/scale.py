"""SCALE (Li et al., AAAI 2026): subspace-aware graph construction and contrastive alignment.

    H̃ = 1/(L_I+1) Σ_l H̃^(l),  H̃^(l+1) = D̃^{-1/2} G̃ D̃^{-1/2} H̃^(l),  H̃^(0) = Z    (Eq. 7, pruned G̃)
    Ĥ = Ĥ^(L_S),              Ĥ^(l+1) = D̂^{-1/2} Ĝ D̂^{-1/2} Ĥ^(l),  Ĝ of Eq. 6
    H = H̃ + Ĥ,  y_ui = h_u · h_i
    L_align_s = InfoNCE_τs(H̃_U, Ĥ_U) + InfoNCE_τs(H̃_I, Ĥ_I)                      (Eq. 8–9)
    L_align_r = L^uu + L^ii + L^ui, pairs from C^U, C^I, C^UI, |V| negatives       (Eq. 10–11)
    L = L_bpr + λ_s L_align_s + λ_r L_align_r                                       (Eq. 12–13)
      [+ λ_reg reg(Z_batch)]                       (not in Eq. 13: off by default, ``reg_weight=0``)

``G̃`` is the user–item training graph after FREEDOM's degree-sensitive pruning (ratio ρ, redrawn
every epoch; evaluation uses the whole graph, as FREEDOM does). Choices where the paper leaves
room, each with a switch:

- ``semantic_init="shared"``: Ĥ^(0) = Z, the same ID embeddings as the interaction branch. The
  paper says "Similarly, we perform L_S layers of graph convolutions on the semantic graph" and
  "we preserve ID embeddings and independently perform graph convolutions on interaction and
  semantic graphs", and that SCALE works "without directly incorporating textual features at
  any stage". ``"separate"`` gives the semantic branch its own ID table.
- ``combine="and"``: "⊕ denotes an element-wise logical intersection" (Eq. 6), also between
  ``G_I^v`` and ``G_I^t``; ``"or"`` takes unions. Ĝ is directed (OMP and top-k are); it is
  normalised with row degrees, "D̃_ii indicates the number of nonzero elements in the i-th row",
  unless ``symmetrize=True``.
- "we apply the contrastive loss only to a sampled subset of users and items": the distinct users
  and positive items of each batch.
- Relation alignment samples ``relation_batch`` pairs (default: the batch size) uniformly from
  each OMP graph per step, and ``n_negatives`` entities ``v`` with ``C_{a,v} = 0`` (never the
  anchor itself). The Figure 4(a) switches (``use_sag``, ``use_fsg``, ``inter_entity``,
  ``intra_entity``) shape Ĝ only; ``relation_graphs`` chooses the pairs of Eq. 11.
- Sums over users, items and pairs are means (:mod:`mmrec_lite.losses`).
- Eq. 13 has no weight penalty. ``reg_weight > 0`` adds one on the batch's layer-0 ID embeddings,
  in ``reg_style`` ``"squared"`` (λ Σ‖z‖²/(2B)) or ``"mmrec"`` (MMRec's EmbLoss, λ Σ‖Z_batch‖_F / B),
  as for the other MMRec-derived models.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from ..data.recdata import RecData
from ..graphs import normalized_adjacency, pruned_adjacency, symmetric_spmm, transposed_spmm, unique_pairs
from ..graphs.semantic import SemanticGraphs, build_semantic_graphs, normalize_graph
from ..losses import bpr_loss, info_nce, l2_regularization, relation_alignment_loss
from .base import EmbeddingRecommender

__all__ = ["SCALE", "sample_relation_pairs"]

_RELATIONS = {"C_U": ("user", "user"), "C_I": ("item", "item"), "C_UI": ("user", "item")}


def _rows(table: Tensor, index: Tensor) -> Tensor:
    """``table[index]`` for an index of any shape, through ``index_select`` (whose backward is
    deterministic on multi-threaded CPUs, unlike advanced indexing)."""
    return table.index_select(0, index.reshape(-1)).view(*index.shape, table.shape[1])


def _contains(sorted_keys: Tensor, keys: Tensor) -> Tensor:
    position = torch.searchsorted(sorted_keys, keys).clamp(max=len(sorted_keys) - 1)
    return sorted_keys[position] == keys


def sample_relation_pairs(edges: Tensor, n_targets: int, n_pairs: int, n_negatives: int = 1,
                          same_type: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """``n_pairs`` edges ``(a, j)`` drawn uniformly from ``edges [2, E]`` (sorted by ``a · n_targets
    + j``, as a coalesced graph's indices are) and ``n_negatives`` targets ``v`` per pair with no
    edge ``(a, v)`` (SCALE Eq. 10's ``V_a``; with ``same_type`` also ``v ≠ a``).

    Returns ``anchor [P]``, ``positive [P]``, ``negatives [P, V]``. Collisions are redrawn in
    vectorised rounds; an anchor related to every candidate raises ``ValueError``.
    """
    if edges.shape[1] == 0:
        raise ValueError("the relation graph has no edges to sample pairs from")
    degree = torch.bincount(edges[0]) + int(same_type)
    if int(degree.max()) >= n_targets:
        raise ValueError(f"entity {int(degree.argmax())} is related to every candidate: no negative exists")
    keys = edges[0] * n_targets + edges[1]
    pick = torch.randint(edges.shape[1], (n_pairs,), device=edges.device)
    anchor, positive = edges[0, pick], edges[1, pick]
    negatives = torch.randint(n_targets, (n_pairs, n_negatives), device=edges.device)

    def related(v: Tensor, a: Tensor) -> Tensor:
        linked = _contains(keys, a * n_targets + v)
        return linked | (v == a) if same_type else linked

    bad = related(negatives, anchor.unsqueeze(1))
    while bad.any():
        negatives[bad] = torch.randint(n_targets, (int(bad.sum()),), device=edges.device)
        bad = related(negatives, anchor.unsqueeze(1))
    return anchor, positive, negatives


class SCALE(EmbeddingRecommender):
    """SCALE on the features ``data.features[item_text]``, ``data.features[item_image]`` and
    ``data.user_features[user_text]`` (encoded profiles), or on prebuilt ``graphs``."""

    batch_kind = "pairwise"

    def __init__(self, data: RecData, embedding_dim: int = 64, n_interaction_layers: int = 2,
                 n_semantic_layers: int = 1, prune_ratio: float = 0.6, k_s: int = 800, k_o: int = 10,
                 k_f: int = 5, lambda_s: float = 1e-2, lambda_r: float = 5e-2, tau_s: float = 0.6,
                 tau_r: float = 0.2, n_negatives: int = 1, relation_batch: int | None = None,
                 item_text: str = "text", user_text: str = "text", item_image: str | None = "image",
                 semantic_alignment: bool = True, relation_alignment: bool = True, use_sag: bool = True,
                 use_fsg: bool = True, inter_entity: bool = True, intra_entity: bool = True,
                 combine: str = "and", symmetrize: bool = False, semantic_init: str = "shared",
                 relation_graphs: Sequence[str] = ("C_U", "C_I", "C_UI"), graphs: SemanticGraphs | None = None,
                 graph_device: str | torch.device | None = None, reg_weight: float = 0.0,
                 reg_style: str = "squared"):
        super().__init__(data)
        if semantic_init not in ("shared", "separate"):
            raise ValueError(f"semantic_init must be 'shared' or 'separate', got {semantic_init!r}")
        if unknown := set(relation_graphs) - set(_RELATIONS):
            raise ValueError(f"unknown relation graphs {sorted(unknown)}; choose from {sorted(_RELATIONS)}")
        if n_interaction_layers < 0 or n_semantic_layers < 0 or n_negatives < 1:
            raise ValueError("layer counts must be >= 0 and n_negatives >= 1")
        self.n_interaction_layers, self.n_semantic_layers, self.prune_ratio = (n_interaction_layers,
                                                                                n_semantic_layers, prune_ratio)
        self.lambda_s, self.lambda_r, self.tau_s, self.tau_r = lambda_s, lambda_r, tau_s, tau_r
        self.n_negatives, self.relation_batch = n_negatives, relation_batch
        self.semantic_alignment, self.relation_alignment = semantic_alignment, relation_alignment
        self.relation_graphs = tuple(relation_graphs)
        self.reg_weight, self.reg_style = reg_weight, reg_style
        if graphs is None:
            graphs = self.build_graphs(data, item_text, user_text, item_image, k_s, k_o, k_f, graph_device)
        if (graphs.n_users, graphs.n_items) != (data.n_users, data.n_items):
            raise ValueError(f"graphs are for {graphs.n_users} users and {graphs.n_items} items, the data has "
                             f"{data.n_users} and {data.n_items}")
        self.graphs = graphs

        self.user_embedding = torch.nn.Embedding(data.n_users, embedding_dim)   # Z, Xavier-initialised
        self.item_embedding = torch.nn.Embedding(data.n_items, embedding_dim)
        torch.nn.init.xavier_uniform_(self.user_embedding.weight)
        torch.nn.init.xavier_uniform_(self.item_embedding.weight)
        self.semantic_embedding = None
        if semantic_init == "separate":
            self.semantic_embedding = torch.nn.Embedding(data.n_users + data.n_items, embedding_dim)
            torch.nn.init.xavier_uniform_(self.semantic_embedding.weight)

        user, item = unique_pairs(data.train.user, data.train.item, data.n_items)
        self.register_buffer("edge_user", user, persistent=False)
        self.register_buffer("edge_item", item, persistent=False)
        self.register_buffer("adjacency", normalized_adjacency(user, item, self.n_users, self.n_items),
                             persistent=False)
        self.train_adjacency: Tensor | None = None                   # this epoch's pruned G̃
        unified = graphs.unified(combine, use_sag=use_sag, use_fsg=use_fsg, inter_entity=inter_entity,
                                 intra_entity=intra_entity)
        semantic_adjacency = normalize_graph(unified.cpu(), symmetrize)
        self.register_buffer("semantic_adjacency", semantic_adjacency, persistent=False)
        self.register_buffer("semantic_adjacency_t", semantic_adjacency.to_sparse_coo().t().to_sparse_csr(),
                             persistent=False)
        for name in self.relation_graphs:
            edges = graphs.sag[name].coalesce().indices().cpu()
            if relation_alignment and edges.shape[1] == 0:
                raise ValueError(f"relation graph {name} has no edges; check the features")
            self.register_buffer(f"relation_{name}", edges, persistent=False)

    @staticmethod
    def build_graphs(data: RecData, item_text: str = "text", user_text: str = "text", item_image: str | None = "image",
                     k_s: int = 800, k_o: int = 10, k_f: int = 5,
                     device: str | torch.device | None = None) -> SemanticGraphs:
        """SAG and FSG graphs (Eq. 3–5) from the named feature matrices of ``data``."""
        needed = [f"features:{item_text}", f"user_features:{user_text}"]
        data.require(*needed + ([f"features:{item_image}"] if item_image else []))
        image = data.features[item_image] if item_image else None
        return build_semantic_graphs(data.user_features[user_text], data.features[item_text], image,
                                     k_s=k_s, k_o=k_o, k_f=k_f, device=device)

    def on_epoch_start(self, epoch: int) -> None:
        """Redraw the degree-sensitive pruning of the interaction graph (keeps ``1 − ρ`` of the edges)."""
        if self.prune_ratio > 0:
            self.train_adjacency = pruned_adjacency(self.edge_user, self.edge_item, self.n_users, self.n_items,
                                                    self.prune_ratio)

    def propagate(self) -> tuple[Tensor, Tensor]:
        """``(H̃, Ĥ)``, each ``[M+N, d]``: the interaction branch (Eq. 7, layer mean) and the
        semantic branch (last of ``L_S`` layers on Ĝ)."""
        use_pruned = self.training and self.train_adjacency is not None
        adjacency = self.train_adjacency if use_pruned else self.adjacency
        z = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        layer, total = z, z
        for _ in range(self.n_interaction_layers):
            layer = symmetric_spmm(adjacency, layer)                          # Eq. 7
            total = total + layer
        h_hat = z if self.semantic_embedding is None else self.semantic_embedding.weight
        for _ in range(self.n_semantic_layers):
            h_hat = transposed_spmm(self.semantic_adjacency, self.semantic_adjacency_t, h_hat)
        return total / (self.n_interaction_layers + 1), h_hat

    def compute_embeddings(self) -> tuple[Tensor, Tensor]:
        h_tilde, h_hat = self.propagate()
        h = h_tilde + h_hat                                                    # H = H̃ + Ĥ
        return h[:self.n_users], h[self.n_users:]

    def relation_loss(self, name: str, users: Tensor, items: Tensor, n_pairs: int) -> Tensor:
        """``L^uu``, ``L^ii`` or ``L^ui`` (Eq. 10) on the final representations of one OMP graph."""
        anchor_type, target_type = _RELATIONS[name]
        table = {"user": users, "item": items}
        anchor, positive, negatives = sample_relation_pairs(
            getattr(self, f"relation_{name}"), len(table[target_type]), n_pairs, self.n_negatives,
            same_type=anchor_type == target_type)
        targets = table[target_type]
        return relation_alignment_loss(_rows(table[anchor_type], anchor), _rows(targets, positive),
                                       _rows(targets, negatives), self.tau_r)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        h_tilde, h_hat = self.propagate()
        h = h_tilde + h_hat
        users, items = h[:self.n_users], h[self.n_users:]
        user, pos, neg = batch["user"], batch["pos"], batch["neg"]
        e_user = _rows(users, user)
        bpr = bpr_loss((e_user * _rows(items, pos)).sum(-1), (e_user * _rows(items, neg)).sum(-1))   # Eq. 12
        terms, total = {"bpr": bpr}, bpr
        if self.semantic_alignment:                                                             # Eq. 8–9
            u, i = torch.unique(user), torch.unique(pos) + self.n_users
            terms["align_s"] = (info_nce(_rows(h_tilde, u), _rows(h_hat, u), self.tau_s)
                                + info_nce(_rows(h_tilde, i), _rows(h_hat, i), self.tau_s))
            total = total + self.lambda_s * terms["align_s"]
        if self.relation_alignment:                                                             # Eq. 10–11
            n_pairs = self.relation_batch or len(user)
            terms["align_r"] = sum(self.relation_loss(name, users, items, n_pairs) for name in self.relation_graphs)
            total = total + self.lambda_r * terms["align_r"]
        if self.reg_weight > 0:
            terms["reg"] = self.reg_weight * l2_regularization(self.user_embedding(user), self.item_embedding(pos),
                                                               self.item_embedding(neg), style=self.reg_style)
            total = total + terms["reg"]
        terms["loss"] = total                                                                   # Eq. 13
        return terms

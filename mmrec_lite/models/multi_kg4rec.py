"""Multi-KG4Rec (Wang et al., ESWA 2025): single-modal knowledge graphs, bi-directional cross-modal
transformers and knowledge-aware propagation.

Nodes are the collaborative KG's entities (items first, then attributes) and users. In the graph
of modality ``m`` (visual, text) node ``n`` starts as

    x^m_n = e_n + LeakyReLU(W_m f^m_n)        (ID lookup + 512 → 64 reduction of its feature, Sec. 4.2.1)

Fusion (Sec. 4.2.2), for each item's breadth-first neighbour sequence S_i (i first):

    Q_v = V W_Q^v,  K_v = V W_K^v, ... ;  head_v = softmax(Q_v [K_v; K_t]ᵀ / √d_h) [V_v; V_t]
    H_v = LN(V + MHA_v W_O^v),  V' = LN(H_v + FFN(H_v))      (text likewise, queries Q_t)

3 blocks × 8 heads; the item's fused feature is position 0 of each stream. ``cross`` chooses who
looks across: ``"both"``, ``"text_to_visual"`` (only text queries see visual keys), ``"visual_to_text"``,
``"none"`` (each stream attends to itself), or ``fusion=False`` skips the transformers.

Propagation (Sec. 4.2.3–4.2.4) per modality: :class:`~mmrec_lite.graphs.KnowledgeAwarePropagation`
(attention Eq. 4–5, Bi-Interaction, layers 64/32/16, concatenated); final ``e_u = e_u^v ‖ e_u^t``,
``ŷ_ui = e_uᵀ e_i``. ``modalities=()`` is the "w/o t&v" model: ID embeddings only (KGAT-like).

Training (Sec. 4.2.5) alternates as in KGAT's code: :meth:`on_epoch_start` runs one pass of TransR
(``L_KG``, Eq. of Sec. 4.2.1.2, corrupted tails, own Adam) over the collaborative KG's triples on the
``x^m`` of every modality graph and then refreshes the attention ``π̃`` without gradients; the
trainer's batches then minimise ``L_CF = BPR + λ ||Θ_batch||²``, with the final embeddings of the
batch's users and items as Θ (KGAT's choice).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.recdata import RecData
from ..graphs import KnowledgeAwarePropagation, collaborative_kg
from ..graphs.kg_propagation import AttentionAdjacency, attention_adjacency
from ..graphs.mmkg import ModalFeatures, bfs_neighbours
from ..losses import bpr_loss, l2_regularization, transr_loss
from .base import EmbeddingRecommender

__all__ = ["MultiKG4Rec", "CrossModalBlock"]

MODALITIES = ("visual", "text")
CROSS_MODES = ("both", "text_to_visual", "visual_to_text", "none")


class CrossModalBlock(torch.nn.Module):
    """One block of the visual and the text transformer with cross multi-head attention."""

    def __init__(self, dim: int, n_heads: int, ffn_dim: int, dropout: float = 0.0):
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"embedding dim {dim} is not divisible by {n_heads} heads")
        self.n_heads = n_heads
        self.qkv = torch.nn.ModuleDict({m: torch.nn.Linear(dim, 3 * dim, bias=False) for m in MODALITIES})
        self.out = torch.nn.ModuleDict({m: torch.nn.Linear(dim, dim, bias=False) for m in MODALITIES})
        self.ffn = torch.nn.ModuleDict({m: torch.nn.Sequential(torch.nn.Linear(dim, ffn_dim), torch.nn.ReLU(),
                                                               torch.nn.Linear(ffn_dim, dim)) for m in MODALITIES})
        self.norm1 = torch.nn.ModuleDict({m: torch.nn.LayerNorm(dim) for m in MODALITIES})
        self.norm2 = torch.nn.ModuleDict({m: torch.nn.LayerNorm(dim) for m in MODALITIES})
        self.dropout = torch.nn.Dropout(dropout)

    def _split(self, x: Tensor) -> Tensor:  # [B, L, d] -> [B, heads, L, d_h]
        return x.unflatten(-1, (self.n_heads, -1)).transpose(1, 2)

    def forward(self, streams: dict[str, Tensor], pad: Tensor, cross: str, need_weights: bool = True,
                n_queries: int | None = None) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """``streams[m]`` ``[B, L, d]``, ``pad`` ``[B, L]`` True at padding. Returns the new streams and
        each stream's attention ``[B, heads, L, L_keys]`` (keys: own modality first, then the other's).

        ``need_weights=False`` returns no attention and uses the fused
        :func:`~torch.nn.functional.scaled_dot_product_attention` (same result, about 2× faster on a
        CPU); ``n_queries`` keeps only the first positions as queries (the keys and values stay the
        whole sequence): the model's last block needs position 0 only."""
        q, k, v = {}, {}, {}
        for m, x in streams.items():
            q[m], k[m], v[m] = (self._split(part) for part in self.qkv[m](x).chunk(3, dim=-1))
        new, weights = {}, {}
        for m, x in streams.items():
            other = "text" if m == "visual" else "visual"
            looks_across = other in streams and cross in ("both", f"{m}_to_{other}")
            keys = torch.cat([k[m], k[other]], 2) if looks_across else k[m]
            values = torch.cat([v[m], v[other]], 2) if looks_across else v[m]
            key_pad = torch.cat([pad, pad], 1) if looks_across else pad
            queries, x = (q[m], x) if n_queries is None else (q[m][:, :, :n_queries], x[:, :n_queries])
            if need_weights:
                logits = queries @ keys.transpose(-1, -2) / math.sqrt(queries.shape[-1])
                attention = logits.masked_fill(key_pad[:, None, None, :], -torch.inf).softmax(-1)
                weights[m] = attention
                heads = self.dropout(attention) @ values
            else:
                heads = F.scaled_dot_product_attention(queries, keys, values, attn_mask=~key_pad[:, None, None, :],
                                                       dropout_p=self.dropout.p if self.training else 0.0)
            hidden = self.norm1[m](x + self.dropout(self.out[m](heads.transpose(1, 2).flatten(2))))
            new[m] = self.norm2[m](hidden + self.dropout(self.ffn[m](hidden)))
        return new, weights


class MultiKG4Rec(EmbeddingRecommender):
    """Multi-KG4Rec on ``data`` (with ``data.kg``) and the node features of its single-modal graphs."""

    batch_kind = "pairwise"

    def __init__(self, data: RecData, features: ModalFeatures | None = None, modalities=MODALITIES,
                 embedding_dim: int = 64, fusion: bool = True, cross: str = "both", n_blocks: int = 3,
                 n_heads: int = 8, ffn_dim: int = 128, n_neighbours: int = 16, max_hops: int = 2,
                 layer_dims=(64, 32, 16), reg_weight: float = 1e-5, kg_batch_size: int = 4096,
                 kg_learning_rate: float = 1e-3, dropout: float = 0.0, message_dropout: float = 0.1):
        super().__init__(data)
        self.modalities = tuple(modalities)
        if cross not in CROSS_MODES or not set(self.modalities) <= set(MODALITIES):
            raise ValueError(f"cross must be one of {CROSS_MODES} and modalities a subset of {MODALITIES}")
        if self.modalities and features is None:
            raise ValueError("MultiKG4Rec needs `features` (graphs.mmkg.single_modal_features) for its modalities")
        self.cross, self.reg_weight = cross, reg_weight
        self.kg_batch_size, self.kg_learning_rate = kg_batch_size, kg_learning_rate
        ckg = collaborative_kg(data)
        self.n_entities, self.n_nodes = ckg.n_entities, ckg.n_nodes
        self.register_buffer("edge_index", ckg.edge_index, persistent=False)
        self.register_buffer("edge_type", ckg.edge_type, persistent=False)
        self.node_embedding = torch.nn.Embedding(self.n_nodes, embedding_dim)
        torch.nn.init.xavier_uniform_(self.node_embedding.weight)
        self.reducers = torch.nn.ModuleDict()
        for m in self.modalities:
            feature = getattr(features, m)
            if len(feature) != self.n_nodes:
                raise ValueError(f"{m} features have {len(feature)} rows; the collaborative KG has {self.n_nodes} nodes")
            self.register_buffer(f"{m}_feature", feature.float(), persistent=False)
            self.reducers[m] = torch.nn.Linear(feature.shape[1], embedding_dim)
        self.blocks = torch.nn.ModuleList(CrossModalBlock(embedding_dim, n_heads, ffn_dim, dropout)
                                          for _ in range(n_blocks if fusion and self.modalities else 0))
        self.propagation = torch.nn.ModuleDict({g: KnowledgeAwarePropagation(ckg.n_relations, embedding_dim, layer_dims,
                                                                             embedding_dim, message_dropout)
                                                 for g in self.graphs})
        items = torch.arange(self.n_items)
        priority = (torch.arange(self.n_nodes) >= self.n_entities).long()  # attributes before users within a hop
        sequence, _ = bfs_neighbours(ckg.edge_index, self.n_nodes, items, n_neighbours, max_hops, priority)
        self.register_buffer("sequence", sequence, persistent=False)
        for g in self.graphs:  # persistent: fit()'s best-weights restore brings back the matching attention
            self.register_buffer(f"attention_{g}", torch.empty(0))
        self._adjacency: dict[str, tuple] = {}
        self._kg_optimizer: torch.optim.Optimizer | None = None
        self.last_kg_loss = float("nan")

    @property
    def graphs(self) -> tuple[str, ...]:
        return self.modalities or ("structure",)

    def node_inputs(self) -> dict[str, Tensor]:
        """``x^m`` ``[n_nodes, d]`` of every graph (ID embedding + reduced modality feature)."""
        if not self.modalities:
            return {"structure": self.node_embedding.weight}
        return {m: self.node_embedding.weight + F.leaky_relu(self.reducers[m](getattr(self, f"{m}_feature")), 0.2)
                for m in self.modalities}

    def fuse(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        """Node features with each item replaced by position 0 of its fused neighbour sequence."""
        if not self.blocks:
            return inputs
        pad = self.sequence < 0
        index = self.sequence.clamp_min(0)
        streams = {m: x[index] for m, x in inputs.items()}
        for number, block in enumerate(self.blocks, start=1):
            streams, _ = block(streams, pad, self.cross, need_weights=False,
                               n_queries=1 if number == len(self.blocks) else None)
        return {m: torch.cat([streams[m][:, 0], x[self.n_items:]]) for m, x in inputs.items()}

    def refresh_attention(self) -> None:
        """Recompute ``π̃`` of every graph from the current node features (no gradient)."""
        with torch.no_grad():
            for g, x in self.fuse(self.node_inputs()).items():
                setattr(self, f"attention_{g}", self.propagation[g].attention(x, self.edge_index, self.edge_type))

    def adjacency(self, graph: str) -> AttentionAdjacency:
        """The sparse attention matrix of ``graph``, rebuilt only when its ``π̃`` changed."""
        weight = getattr(self, f"attention_{graph}")
        key = (weight.data_ptr(), weight._version, weight.device)
        if self._adjacency.get(graph, (None,))[0] != key:
            self._adjacency[graph] = (key, attention_adjacency(self.edge_index, weight, self.n_nodes))
        return self._adjacency[graph][1]

    def kg_epoch(self) -> float:
        """One shuffled pass of TransR over the collaborative KG (tails corrupted uniformly); mean ``L_KG``."""
        if self._kg_optimizer is None:
            self._kg_optimizer = torch.optim.Adam(self.parameters(), lr=self.kg_learning_rate)
        n_edges, device = self.edge_index.shape[1], self.edge_index.device
        order = torch.randperm(n_edges, device=device)
        total = 0.0
        for start in range(0, n_edges, self.kg_batch_size):
            chosen = order[start:start + self.kg_batch_size]
            head, tail, relation = self.edge_index[0, chosen], self.edge_index[1, chosen], self.edge_type[chosen]
            corrupted = torch.randint(self.n_nodes, (len(chosen),), device=device)
            loss = 0.0
            for g, x in self.node_inputs().items():
                module = self.propagation[g]
                e_h = x.index_select(0, head).repeat(2, 1)  # true and corrupted triples in one sorted pass
                scores = module.transr_score(e_h, relation.repeat(2), x.index_select(0, torch.cat([tail, corrupted])))
                loss = loss + transr_loss(*scores.chunk(2))
            self._kg_optimizer.zero_grad()
            loss.backward()
            self._kg_optimizer.step()
            total += float(loss.detach()) * len(chosen)
        return total / n_edges

    def on_epoch_start(self, epoch: int) -> None:
        """KGAT's alternation: the KG phase (TransR), then the attention refresh; the CF phase follows."""
        self.last_kg_loss = self.kg_epoch()
        self.refresh_attention()

    def graph_embeddings(self) -> dict[str, Tensor]:
        """Propagated ``[n_nodes, output_dim]`` representations of every graph."""
        if getattr(self, f"attention_{self.graphs[0]}").numel() == 0:
            self.refresh_attention()
        return {g: self.propagation[g].propagate(x, self.adjacency(g)) for g, x in self.fuse(self.node_inputs()).items()}

    def compute_embeddings(self) -> tuple[Tensor, Tensor]:
        final = torch.cat(list(self.graph_embeddings().values()), dim=1)
        return final[self.n_entities:], final[:self.n_items]

    def modality_contributions(self, users: Tensor, items: Tensor) -> dict[str, Tensor]:
        """Each graph's share of the score, ``e_u^m · e_i^m`` per ``(users[j], items[j])`` pair."""
        with torch.no_grad():
            out = self.cached("graph_embeddings", self.graph_embeddings)
            return {g: (e[self.n_entities + users] * e[items]).sum(-1) for g, e in out.items()}

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        users, items = self.compute_embeddings()
        e_user, e_pos, e_neg = (users.index_select(0, batch["user"]), items.index_select(0, batch["pos"]),
                                items.index_select(0, batch["neg"]))
        bpr = bpr_loss((e_user * e_pos).sum(-1), (e_user * e_neg).sum(-1))
        reg = self.reg_weight * l2_regularization(e_user, e_pos, e_neg)
        kg = torch.tensor(self.last_kg_loss, device=bpr.device)
        return {"loss": bpr + reg, "bpr": bpr, "reg": reg, "kg": kg}

"""GLEM-Rec (Zhang, CONF-MLA 2025): LLM semantic features + heterogeneous GraphSAGE, multi-objective.

Where the paper's five modules live:

1. semantic feature extractor (Sec. 2.2): ``features.TextEncoder(pooling="max")`` over
   ``features.item_matrix.item_documents(data)``, stored as ``data.features["text"]``;
2. heterogeneous data processor (Sec. 2.3): the item matrix and the Eq. (1) user matrix of
   :mod:`mmrec_lite.features.item_matrix`, :class:`ContrastiveEnhancer` here (Eq. 2 and the
   fusion network) and ``graphs.to_hetero_data`` (``user–rates→item`` plus ``rev_rates``);
3. heterogeneous GNN integrator (Sec. 2.4): :class:`GLEMRec` — a non-linear feature embedding
   layer, ``HeteroConv`` of one ``SAGEConv`` per edge type and two normalisations per layer
   (``layer_norm="paper"``, the default)::

       m_v = SAGE(x_v^(l), {x_w^(l) : w ∈ N(v)})
       y_v = Norm(x_v^(l) + Dropout(ReLU(m_v)))                                 (Eq. 3)
       x_v^(l+1) = LayerNorm(y_v + x_v^(l))                                     (Eq. 4)
       h_v = x_v^(L) + α · x_v^(0)          (weak residual of the initial embedding)

   ``layer_norm="merged"`` is the earlier single normalisation
   ``x_v^(l+1) = LayerNorm(x_v^(l) + Dropout(ReLU(m_v)))`` (an ablation). Predicted ratings come
   from ``r̂_ui = μ + MLP([h_u ‖ h_i])`` (our choice: the paper names no decoder);
4. adaptive trainer (Sec. 2.5), :meth:`GLEMRec.loss`::

       L_total = L_rating + λ_div L_div + λ_pers L_pers + λ_cov L_cov           (Eq. 5)

   with the paper's λ = 200, 7, 200, plus the contrastive loss of Eq. (2) and an L2 term;
5. explanation generator (Sec. 2.6): :mod:`mmrec_lite.explain.glem`.

Choices where the paper is silent, each a hyper-parameter:

- **decoder**: an MLP on ``[h_u ‖ h_i]``. The paper does not say how a rating is read from the
  two embeddings; our inference is that its graph (``rates`` / ``rev_rates`` edge types, SAGE per
  type, rating edge labels) follows PyG's MovieLens rating-regression recipe, whose decoder is this
  MLP. A dot product would force ``cos(h_u, h_i)`` to carry the rating, which the personalisation
  loss already pulls on.
- **Eq. (3)–(4)**: the paper writes ``Norm{x^(l) + Agg(...)}`` without naming the norm or an
  activation; here ``Norm`` is a LayerNorm and the aggregation passes through ReLU and dropout.
- **when Eq. (2) is trained**: Eq. (5) does not list it and the paper places it in the data
  processor; here it is trained jointly, as a named term ``contrastive`` weighted by
  ``lambda_contrastive`` (``0`` drops it). Positive pairs ("predefined") are the batch's
  training pairs rated ``>= like_threshold``.
- **which embeddings the Eq. (5) regularisers see**: the final ``h``; ``L_div`` and ``L_cov``
  over the whole catalogue each step (``O(N·d)``), ``L_pers`` over the batch with liked =
  ``rating >= like_threshold`` and disliked = ``rating <= dislike_threshold``.
- **L2**: ``reg_weight ·`` :func:`~mmrec_lite.losses.l2_regularization` of the batch's initial
  embeddings ``x^(0)`` (the paper: "combines L2 regularization").
- **input scaling**: every user and item feature column is z-scored (statistics of the stored
  matrices) before the networks; without it the Eq. (1) profiles, averages of many item
  vectors, barely differ between users and the contrastive projections collapse.
- **item rating statistics** (``item_stats``, off by default): the paper gives users their
  rating mean, standard deviation and count but items none, and ratings are edge labels, not
  messages; ``item_stats=True`` appends the same three statistics of each item's training
  ratings to the item matrix, so that a never-rated item (count 0, global mean) is told apart
  from a rarely rated one.
- **popularity weights** (``popularity_weight_power`` ``p``, 1 by default): the rating loss uses
  ``ω_i^p``; ``p = 1`` is the paper's ``ω_i = max_j count_j / count_i``, ``p = 0`` plain MSE.

Ablations of Table 4 are flags: ``use_text=False`` (no semantic extractor: the text block is not
used), ``use_processor=False`` (no data processor: items enter with the text features alone, no
metadata matrix, no rating statistics, no contrastive enhancement or fusion; the Eq. (1) profile
of each user is replaced by the plain mean of the text vectors of the items they rated, so users
still have no free parameters and the model stays inductive), ``use_gnn=False`` (no GNN
integrator: the same layers with a per-type linear map instead of message passing, i.e. an MLP on
the features). At least one of text and processor must stay.

Inductive by construction: an item (or user) without training edges still has features, so its
embedding is computed from them alone; :meth:`GLEMRec.propagate` also accepts new feature
matrices and graphs. The paper's Table 3 metrics live in :mod:`mmrec_lite.rated_candidates`.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.recdata import DataError, MissingFieldError, RecData
from ..features.item_matrix import item_feature_matrix, rating_statistics, user_feature_matrix
from ..graphs import sparse_matrix, to_hetero_data, unique_pairs
from ..losses import (coverage_loss, diversity_loss, info_nce, l2_regularization, personalization_loss,
                      popularity_weighted_mse)
from .base import Recommender

__all__ = ["GLEMRec", "ContrastiveEnhancer", "Embeddings", "LAYER_NORMS"]

_DECODE_CHUNK = 1 << 23        # elements of the [users, items, d] hidden tensor decoded at once
LAYER_NORMS = ("paper", "merged")


class Embeddings(NamedTuple):
    """Output of :meth:`GLEMRec.propagate`: final ``h`` and initial ``x^(0)`` per node type and
    the contrastive projections ``z`` (``None`` without the data processor)."""

    user: Tensor
    item: Tensor
    user_initial: Tensor
    item_initial: Tensor
    user_z: Tensor | None
    item_z: Tensor | None


def _mlp(*dims: int, dropout: float = 0.0) -> nn.Sequential:
    """Linear layers with ReLU (and dropout) between them, none after the last."""
    layers: list[nn.Module] = []
    for j, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if j < len(dims) - 2:
            layers += [nn.ReLU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


class ContrastiveEnhancer(nn.Module):
    """Contrastive feature enhancement and fusion (GLEM-Rec Sec. 2.3.2, Eq. 2).

    ``x_u``, ``x_i`` are mapped to intermediate representations of one dimension
    (``hidden_dim``), projected by two independent networks to ``projection_dim`` and
    L2-normalised to ``z``. :meth:`loss` is the bidirectional temperature-scaled cross-entropy
    over the similarity matrix of positive pairs:
    ``S_ij = exp(z_i^u · z_j / τ) / Σ_k exp(z_i^u · z_k / τ)`` (Eq. 2), averaged with the
    item→user direction. The fusion networks map ``[x ‖ z]`` to ``output_dim``.
    """

    def __init__(self, user_dim: int, item_dim: int, hidden_dim: int = 128, projection_dim: int = 32,
                 output_dim: int = 64, temperature: float = 0.1, dropout: float = 0.1):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature
        self.user_map = nn.Sequential(nn.Linear(user_dim, hidden_dim), nn.ReLU())
        self.item_map = nn.Sequential(nn.Linear(item_dim, hidden_dim), nn.ReLU())
        self.user_projection = _mlp(hidden_dim, hidden_dim, projection_dim)
        self.item_projection = _mlp(hidden_dim, hidden_dim, projection_dim)
        self.user_fusion = _mlp(user_dim + projection_dim, output_dim, output_dim, dropout=dropout)
        self.item_fusion = _mlp(item_dim + projection_dim, output_dim, output_dim, dropout=dropout)

    def project(self, user_x: Tensor, item_x: Tensor) -> tuple[Tensor, Tensor]:
        """L2-normalised projections ``z_u`` ``[U, p]`` and ``z_i`` ``[I, p]``."""
        return (F.normalize(self.user_projection(self.user_map(user_x)), dim=1),
                F.normalize(self.item_projection(self.item_map(item_x)), dim=1))

    def loss(self, user_z: Tensor, item_z: Tensor) -> Tensor:
        """Eq. (2) both ways; row ``j`` of ``user_z`` and ``item_z`` is a positive pair."""
        return (info_nce(user_z, item_z, self.temperature) + info_nce(item_z, user_z, self.temperature)) / 2

    def forward(self, user_x: Tensor, item_x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Fused user and item features ``[U, output_dim]``, ``[I, output_dim]`` and ``z_u``, ``z_i``."""
        user_z, item_z = self.project(user_x, item_x)
        return (self.user_fusion(torch.cat([user_x, user_z], 1)), self.item_fusion(torch.cat([item_x, item_z], 1)),
                user_z, item_z)


class GLEMRec(Recommender):
    """GLEM-Rec rating model on a heterogeneous user–item graph (module docstring for the equations).

    Item features are ``data.features[meta_feature]`` (built from ``data.item_meta`` with
    :func:`~mmrec_lite.features.item_matrix.item_feature_matrix` when absent) concatenated with
    ``data.features[text_feature]`` (the semantic extractor's output; required unless
    ``use_text=False``), with the item rating statistics between them when ``item_stats``. User
    features are Eq. (1) over the item features of each user's training ratings (time half-life
    ``half_life_days``) plus rating mean / std / count; without the processor, the mean text
    vector of the items each user rated.
    """

    batch_kind = "pointwise"

    def __init__(self, data: RecData, embedding_dim: int = 64, n_layers: int = 2, *,
                 meta_feature: str = "glem_meta", text_feature: str = "text", use_text: bool = True,
                 use_processor: bool = True, use_gnn: bool = True, half_life_days: float | None = 180.0,
                 contrastive_hidden: int = 128, contrastive_dim: int = 32, temperature: float = 0.1,
                 contrastive_pairs: int = 1024, lambda_contrastive: float = 1.0, lambda_diversity: float = 200.0,
                 lambda_personalization: float = 7.0, lambda_coverage: float = 200.0, like_threshold: float = 4.0,
                 dislike_threshold: float = 2.0, initial_residual: float = 0.1, dropout: float = 0.1,
                 reg_weight: float = 1e-4, item_stats: bool = False, popularity_weight_power: float = 1.0,
                 layer_norm: str = "paper"):
        super().__init__(data)
        if data.implicit:
            raise DataError(f"{data.name}: GLEM-Rec predicts explicit ratings; this dataset is implicit")
        if not (use_text or use_processor):
            raise ValueError("use_text=False and use_processor=False leave no input features")
        if layer_norm not in LAYER_NORMS:
            raise ValueError(f"layer_norm must be one of {LAYER_NORMS}, got {layer_norm!r}")
        if n_layers < 0 or embedding_dim < 1 or contrastive_pairs < 2:
            raise ValueError(f"need n_layers >= 0, embedding_dim >= 1 and contrastive_pairs >= 2, got "
                             f"{n_layers}, {embedding_dim}, {contrastive_pairs}")
        self.use_text, self.use_processor, self.use_gnn = use_text, use_processor, use_gnn
        self.lambdas = {"contrastive": lambda_contrastive if use_processor else 0.0, "diversity": lambda_diversity,
                        "personalization": lambda_personalization, "coverage": lambda_coverage}
        self.like_threshold, self.dislike_threshold = like_threshold, dislike_threshold
        self.initial_residual, self.reg_weight, self.contrastive_pairs = initial_residual, reg_weight, contrastive_pairs
        self.item_stats, self.popularity_weight_power = item_stats, popularity_weight_power
        train = data.train
        graph = to_hetero_data(data)                                   # Sec. 2.3.3
        edge_index = graph["user", "rates", "item"].edge_index
        self.register_buffer("edge_index", edge_index, persistent=False)
        to_item, to_user = self._adjacency(edge_index, data.n_users, data.n_items)
        self.register_buffer("to_item", to_item, persistent=False)
        self.register_buffer("to_user", to_user, persistent=False)
        counts = data.item_popularity()
        self.register_buffer("item_counts", counts, persistent=False)
        self.max_count = float(counts.max()) if len(counts) else 1.0
        self.register_buffer("global_mean", train.rating.mean() if len(train) else torch.zeros(()))

        self.register_buffer("item_x", self._item_inputs(data, meta_feature, text_feature), persistent=False)
        d = embedding_dim
        if use_processor:
            user_x = user_feature_matrix(train, self.item_x, data.n_users, half_life_days, device="cpu").values
        else:
            user_x = self._mean_of_rated(train.user, train.item, self.item_x, data.n_users)
        self.register_buffer("user_x", user_x, persistent=False)
        self._register_scaling("user", user_x)
        self._register_scaling("item", self.item_x)
        if use_processor:
            self.enhancer = ContrastiveEnhancer(user_x.shape[1], self.item_x.shape[1], contrastive_hidden,
                                                contrastive_dim, d, temperature, dropout)
        embed_in = d if use_processor else self.item_x.shape[1]
        self.user_embed = self._embedding_layer(embed_in, d, dropout)
        self.item_embed = self._embedding_layer(embed_in, d, dropout)
        self.layer_norm = layer_norm
        self.layers = nn.ModuleList(self._layer(d) for _ in range(n_layers))
        self.norms = nn.ModuleList(self._norm_pair(d) for _ in range(n_layers))                   # Eq. (4)
        if layer_norm == "paper":
            self.aggregation_norms = nn.ModuleList(self._norm_pair(d) for _ in range(n_layers))   # Eq. (3)
        self.activation = nn.Sequential(nn.ReLU(), nn.Dropout(dropout))
        self.decoder = _mlp(2 * d, d, 1)

    # ---- construction --------------------------------------------------------------------------
    def _item_inputs(self, data: RecData, meta_feature: str, text_feature: str) -> Tensor:
        """``[meta ‖ stats ‖ text]`` as the flags ask (the processor supplies meta and stats)."""
        blocks = []
        if self.use_processor:
            if meta_feature not in data.features:
                if data.item_meta is None:
                    raise MissingFieldError(
                        f"dataset {data.name!r} has neither features[{meta_feature!r}] nor item_meta; build the item "
                        "matrix with features.item_matrix.item_feature_matrix and data.add_features")
                meta = item_feature_matrix(data.item_meta, categories=data.item_categories).values
            else:
                meta = data.features[meta_feature]
            blocks.append(meta)
            if self.item_stats:
                blocks.append(rating_statistics(data.train.item, data.train.rating, data.n_items))
        if self.use_text:
            if text_feature not in data.features:
                raise MissingFieldError(
                    f"dataset {data.name!r} has no features[{text_feature!r}]: encode "
                    "features.item_matrix.item_documents(data) with features.TextEncoder(pooling='max') and "
                    f"data.add_features({text_feature!r}, ...), or pass use_text=False")
            blocks.append(data.features[text_feature])
        return torch.cat([b.float().cpu() for b in blocks], dim=1)

    @staticmethod
    def _mean_of_rated(user: Tensor, item: Tensor, item_x: Tensor, n_users: int) -> Tensor:
        """``[n_users, d]``: the plain mean of the feature rows of the distinct items each user rated
        (the user input without the data processor; zero for a user without ratings)."""
        user, item = unique_pairs(user, item, len(item_x))
        adjacency = sparse_matrix(user, item, torch.ones(len(user)), (n_users, len(item_x)))
        degree = torch.bincount(user, minlength=n_users).clamp_min(1).float()
        return (adjacency @ item_x.float()) / degree[:, None]

    @staticmethod
    def _norm_pair(d: int) -> nn.ModuleDict:
        return nn.ModuleDict({"user": nn.LayerNorm(d), "item": nn.LayerNorm(d)})

    def _register_scaling(self, node_type: str, x: Tensor) -> None:
        """Column means and standard deviations of the stored features (constant columns: 1).

        Used to z-score every feature column before the networks (module docstring).
        """
        mean, std = torch.zeros(x.shape[1]), torch.ones(x.shape[1])
        if x.numel():
            mean, std = x.mean(0), x.std(0, correction=0)
        self.register_buffer(f"{node_type}_shift", mean, persistent=False)
        self.register_buffer(f"{node_type}_scale", torch.where(std > 1e-6, std, torch.ones_like(std)), persistent=False)

    @staticmethod
    def _adjacency(edge_index: Tensor, n_users: int, n_items: int) -> tuple[Tensor, Tensor]:
        """Sparse CSR ``[I, U]`` (``rates``, messages to items) and ``[U, I]`` (``rev_rates``).

        PyG's ``SAGEConv`` accepts these transposed adjacencies and then aggregates with one
        sparse product instead of gathering and scattering every edge (same result, faster).
        Repeated pairs count once.
        """
        user, item = unique_pairs(edge_index[0], edge_index[1], n_items)
        ones = torch.ones(len(user), device=user.device)
        return (sparse_matrix(item, user, ones, (n_items, n_users)),
                sparse_matrix(user, item, ones, (n_users, n_items)))

    @staticmethod
    def _embedding_layer(in_dim: int, d: int, dropout: float) -> nn.Module:
        """The non-linear feature embedding layer (Sec. 2.4): ``Dropout(ReLU(W x + b))``."""
        return nn.Sequential(nn.Linear(in_dim, d), nn.ReLU(), nn.Dropout(dropout))

    def _layer(self, d: int) -> nn.Module:
        """One ``HeteroConv`` of a ``SAGEConv`` per edge type (Eq. 3), or per-type linear maps without the GNN."""
        if not self.use_gnn:
            return nn.ModuleDict({"user": nn.Linear(d, d), "item": nn.Linear(d, d)})
        from torch_geometric.nn import HeteroConv, SAGEConv
        return HeteroConv({("user", "rates", "item"): SAGEConv(d, d), ("item", "rev_rates", "user"): SAGEConv(d, d)})

    # ---- forward ---------------------------------------------------------------------------------
    def propagate(self, user_x: Tensor | None = None, item_x: Tensor | None = None,
                  edge_index: Tensor | None = None) -> Embeddings:
        """Embeddings of every user and item: feature embedding, ``n_layers`` of Eq. (3–4), weak residual.

        Defaults are the training graph and stored features; pass other feature matrices and a
        ``[2, E]`` user→item ``edge_index`` (ids into those matrices) to embed new nodes
        inductively.
        """
        user_x = self.user_x if user_x is None else user_x.to(self.device)
        item_x = self.item_x if item_x is None else item_x.to(self.device)
        user_x = (user_x - self.user_shift) / self.user_scale
        item_x = (item_x - self.item_shift) / self.item_scale
        if edge_index is None:
            to_item, to_user = self.to_item, self.to_user
        else:
            to_item, to_user = self._adjacency(edge_index.to(self.device), len(user_x), len(item_x))
        user_z = item_z = None
        if self.use_processor:
            user_x, item_x, user_z, item_z = self.enhancer(user_x, item_x)
        x = {"user": self.user_embed(user_x), "item": self.item_embed(item_x)}
        initial = x
        edges = {("user", "rates", "item"): to_item, ("item", "rev_rates", "user"): to_user}
        for j, layer in enumerate(self.layers):
            messages = layer(x, edges) if self.use_gnn else {key: layer[key](value) for key, value in x.items()}
            x = {key: self._residual_norm(j, key, x[key], self.activation(messages[key])) for key in x}
        return Embeddings(x["user"] + self.initial_residual * initial["user"],
                          x["item"] + self.initial_residual * initial["item"],
                          initial["user"], initial["item"], user_z, item_z)

    def _residual_norm(self, layer: int, node_type: str, x: Tensor, message: Tensor) -> Tensor:
        """Eq. (3) then Eq. (4) (``"paper"``), or one LayerNorm of the sum (``"merged"``)."""
        if self.layer_norm == "merged":
            return self.norms[layer][node_type](x + message)
        aggregated = self.aggregation_norms[layer][node_type](x + message)              # Eq. (3)
        return self.norms[layer][node_type](aggregated + x)                              # Eq. (4)

    def decode(self, user_h: Tensor, item_h: Tensor) -> Tensor:
        """Predicted ratings ``μ + MLP([h_u ‖ h_i])`` of row-aligned pairs ``[B]``."""
        return self.global_mean + self.decoder(torch.cat([user_h, item_h], dim=1)).squeeze(-1)

    def decode_all(self, user_h: Tensor, item_h: Tensor) -> Tensor:
        """Ratings of every pair ``[len(user_h), len(item_h)]``, in user chunks of bounded memory.

        The first decoder layer splits over the concatenation, ``W [h_u ‖ h_i] = W_u h_u + W_i h_i``,
        so each user and item is transformed once and only the hidden sum is formed per pair.
        """
        first, rest = self.decoder[0], self.decoder[1:]
        d = user_h.shape[1]
        user_part = user_h @ first.weight[:, :d].T + first.bias
        item_part = item_h @ first.weight[:, d:].T
        step = max(1, _DECODE_CHUNK // max(1, len(item_h) * first.out_features))
        rows = [rest(user_part[start:start + step, None, :] + item_part[None]).squeeze(-1)
                for start in range(0, len(user_h), step)]
        return self.global_mean + torch.cat(rows) if rows else user_h.new_zeros(0, len(item_h))

    def embeddings(self) -> Embeddings:
        """:meth:`propagate` on the training graph, cached in eval mode."""
        return self.cached("embeddings", self.propagate)

    def score(self, users: Tensor) -> Tensor:
        emb = self.embeddings()
        return self.decode_all(emb.user[users.to(self.device)], emb.item)

    def predict(self, users: Tensor, items: Tensor) -> Tensor:
        emb = self.embeddings()
        return self.decode(emb.user[users.to(self.device)], emb.item[items.to(self.device)])

    # ---- adaptive trainer, Eq. (5) -------------------------------------------------------------
    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Eq. (5) terms on a pointwise batch ``{"user", "item", "rating"}`` plus Eq. (2) and L2."""
        emb = self.propagate()
        user, item, rating = batch["user"], batch["item"], batch["rating"]
        pred = self.decode(emb.user[user], emb.item[item])
        liked, disliked = rating >= self.like_threshold, rating <= self.dislike_threshold
        power = self.popularity_weight_power                           # ω_i^p = (max_j count_j)^p / count_i^p
        terms = {
            "rating": popularity_weighted_mse(pred, rating, self.item_counts[item] ** power, self.max_count ** power),
            "diversity": diversity_loss(emb.item),
            "personalization": personalization_loss(emb.user[user[liked]], emb.item[item[liked]],
                                                    emb.user[user[disliked]], emb.item[item[disliked]]),
            "coverage": coverage_loss(emb.item),
        }
        if self.use_processor:
            pairs = torch.nonzero(liked).flatten()[:self.contrastive_pairs]
            terms["contrastive"] = (self.enhancer.loss(emb.user_z[user[pairs]], emb.item_z[item[pairs]])
                                    if len(pairs) >= 2 else pred.sum() * 0.0)
        terms["l2"] = self.reg_weight * l2_regularization(emb.user_initial[user], emb.item_initial[item])
        total = terms["rating"] + terms["l2"] + sum(self.lambdas[name] * terms[name]
                                                    for name in self.lambdas if name in terms)
        return {"loss": total, **terms}

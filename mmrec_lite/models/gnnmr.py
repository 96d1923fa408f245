"""GNNMR (Li, Yang, Ye & Nguyen): one GAT per uni-modal user–item graph, trained by mutual learning.

The multimodal graph is split into one bipartite graph per modality ``m``: same edges, item nodes
carry ``h_i^(0) = f_i^m``. Each modality has its own two-layer GAT (Eq. 3–5,
:class:`~mmrec_lite.models.gat.BipartiteGAT`) and its own user inputs, then

    s^m_ui = h_{u-m} · h_{i-m}                                                   (Eq. 6)
    L_BPR^m = mean −ln σ(s^m_ui − s^m_ui')        one sampled negative i' per positive (Eq. 7)
    s^oth_ui = mean_{c≠m} s^c_ui,   L_ML^m = KL(p(s^oth) ‖ p(s^m))                (Eq. 8)
    L_m = L_BPR^m + λ L_ML^m                                                     (Eq. 9)
    GNNMR-con: h_u = ‖_m h_{u-m}, h_i = ‖_m h_{i-m}  (score = Σ_m s^m)           (Eq. 10)
    GNNMR-ave: h_u = mean_m h_{u-m}, h_i = mean_m h_{i-m}                         (Eq. 11)

The course's readings where the paper is silent: ``p`` is the softmax (temperature ``T``) over
each triple's candidate list ``[i, i']``, and the KL is averaged over triples (``batchmean``,
:func:`~mmrec_lite.losses.mutual_learning_kl`); the teacher is detached. Users start from a
trainable ID embedding (``user_init="id"``, the paper's "user ID as a unique feature") or from
the mean of their training items' features of that modality (``"mean"``, fixed). There is no
weight decay (the paper names none). The trainer that steps one optimiser per modality, in
Algorithm 1's order, is :func:`mmrec_lite.training_mutual.train_gnnmr`; :meth:`GNNMR.loss` (the
sum of the ``L_m`` with a snapshot teacher) lets :func:`~mmrec_lite.training.fit` train it too.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from ..data.recdata import RecData
from ..graphs import unique_pairs
from ..losses import bpr_loss, mutual_learning_kl
from .base import Recommender
from .gat import BipartiteGAT

__all__ = ["GNNMR", "ModalityEncoder", "USER_INITS", "ENSEMBLES"]

USER_INITS = ("id", "mean")
ENSEMBLES = ("con", "ave")


class ModalityEncoder(torch.nn.Module):
    """One uni-modal graph: item features ``[I, d_m]``, user inputs, a :class:`BipartiteGAT`."""

    def __init__(self, item_features: Tensor, train_matrix: Tensor, dim: int, n_layers: int, user_init: str):
        super().__init__()
        self.register_buffer("item_features", item_features.float())
        if user_init == "id":
            self.user_embedding = torch.nn.Embedding(train_matrix.shape[0], dim)
            torch.nn.init.xavier_uniform_(self.user_embedding.weight)
            user_width = dim
        else:  # the mean of the user's training items' features (a fixed input)
            degree = torch.sparse.sum(train_matrix, 1).to_dense().clamp_min(1).unsqueeze(1)
            self.register_buffer("user_features", torch.sparse.mm(train_matrix, self.item_features) / degree)
            user_width = item_features.shape[1]
        self.gat = BipartiteGAT(user_width, item_features.shape[1], dim, n_layers)

    def user_inputs(self) -> Tensor:
        return self.user_embedding.weight if hasattr(self, "user_embedding") else self.user_features

    def forward(self, edge_user: Tensor, edge_item: Tensor) -> tuple[Tensor, Tensor]:
        return self.gat(self.user_inputs(), self.item_features, edge_user, edge_item)


class GNNMR(Recommender):
    """GNNMR over the item feature matrices ``data.features[name]``, one per ``modalities``.

    ``ensemble`` chooses how :meth:`score` ranks: ``"con"`` (Eq. 10), ``"ave"`` (Eq. 11) or one
    modality's name (its uni-modal model alone). ``mutual_weight`` is λ of Eq. 9.
    """

    batch_kind = "pairwise"

    def __init__(self, data: RecData, modalities: Sequence[str] = ("text", "image"), embedding_dim: int = 128,
                 n_layers: int = 2, user_init: str = "id", ensemble: str = "ave", mutual_weight: float = 1.0,
                 temperature: float = 1.0):
        super().__init__(data)
        if not modalities or len(set(modalities)) != len(modalities):
            raise ValueError(f"GNNMR needs distinct modality names, got {list(modalities)}")
        if user_init not in USER_INITS:
            raise ValueError(f"user_init must be one of {USER_INITS}, got {user_init!r}")
        data.require(*(f"features:{name}" for name in modalities))
        self.modalities = tuple(modalities)
        self.mutual_weight, self.temperature = float(mutual_weight), float(temperature)
        self.ensemble = ensemble
        user, item = unique_pairs(data.train.user, data.train.item, data.n_items)
        self.register_buffer("edge_user", user, persistent=False)
        self.register_buffer("edge_item", item, persistent=False)
        matrix = torch.sparse_coo_tensor(torch.stack([user, item]), torch.ones(len(user)),
                                         (data.n_users, data.n_items), check_invariants=True).coalesce()
        self.encoders = torch.nn.ModuleDict({name: ModalityEncoder(data.features[name], matrix, embedding_dim,
                                                                    n_layers, user_init) for name in modalities})

    @property
    def ensemble(self) -> str:
        return self._ensemble

    @ensemble.setter
    def ensemble(self, name: str) -> None:
        if name not in ENSEMBLES and name not in self.modalities:
            raise ValueError(f"ensemble must be one of {ENSEMBLES} or a modality {self.modalities}, got {name!r}")
        self._ensemble = name

    def parameter_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        """The trainable parameters of each modality (disjoint): one optimiser each."""
        return {name: list(encoder.parameters()) for name, encoder in self.encoders.items()}

    def modality_embeddings(self, name: str) -> tuple[Tensor, Tensor]:
        """``h_{u-m}`` ``[n_users, d]`` and ``h_{i-m}`` ``[n_items, d]`` of modality ``name`` (Eq. 3–5)."""
        return self.cached(f"embeddings:{name}", lambda: self.encoders[name](self.edge_user, self.edge_item))

    def candidate_scores(self, name: str, batch: dict[str, Tensor]) -> Tensor:
        """``[B, 2]`` scores ``[s^m_ui, s^m_ui']`` of each triple's candidate list (Eq. 6)."""
        users, items = self.modality_embeddings(name)
        e_user = users.index_select(0, batch["user"])
        candidates = torch.stack([batch["pos"], batch["neg"]], dim=1)
        e_items = items.index_select(0, candidates.flatten()).view(*candidates.shape, -1)
        return (e_user.unsqueeze(1) * e_items).sum(-1)

    def modality_loss(self, student: Tensor, peers: Sequence[Tensor]) -> dict[str, Tensor]:
        """``L_m`` of Eq. 9 from the student's ``[B, 2]`` scores and the other modalities' (detached)."""
        bpr = bpr_loss(student[:, 0], student[:, 1])
        if not peers or self.mutual_weight == 0:
            return {"loss": bpr, "bpr": bpr}
        teacher = torch.stack([p.detach() for p in peers]).mean(0)           # s^oth, Eq. 8
        mutual = mutual_learning_kl(student, teacher, self.temperature)
        return {"loss": bpr + self.mutual_weight * mutual, "bpr": bpr, "ml": mutual}

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Σ_m L_m with Algorithm 1's snapshot teacher, terms named ``"<modality>/<term>"``."""
        scores = {name: self.candidate_scores(name, batch) for name in self.modalities}
        out: dict[str, Tensor] = {}
        for name, student in scores.items():
            terms = self.modality_loss(student, [s for other, s in scores.items() if other != name])
            out.update({f"{name}/{term}": value for term, value in terms.items()})
        out["loss"] = sum(out[f"{name}/loss"] for name in self.modalities)
        return out

    def ensemble_embeddings(self, ensemble: str | None = None) -> tuple[Tensor, Tensor]:
        """User and item embeddings of an ensemble (Eq. 10 or 11) or of one modality."""
        ensemble = ensemble or self.ensemble
        if ensemble in self.modalities:
            return self.modality_embeddings(ensemble)
        parts = [self.modality_embeddings(name) for name in self.modalities]
        if ensemble == "con":
            return torch.cat([u for u, _ in parts], dim=1), torch.cat([i for _, i in parts], dim=1)
        return torch.stack([u for u, _ in parts]).mean(0), torch.stack([i for _, i in parts]).mean(0)

    def score(self, users: Tensor) -> Tensor:
        user_emb, item_emb = self.ensemble_embeddings()
        return user_emb[users.to(user_emb.device)] @ item_emb.T
